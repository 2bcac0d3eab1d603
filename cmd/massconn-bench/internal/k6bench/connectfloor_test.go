package k6bench

import (
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/floor"
)

// The goal line judges the engine's rate against the responder, and says
// what the floor of the same minute allowed.
func TestPrintConnectRatesJudgesTheEngine(t *testing.T) {
	fl := floor.RateResult{Conns: 9000, Elapsed: 600 * time.Millisecond, ClientCPU: 60 * time.Microsecond, ServerCPU: 40 * time.Microsecond}
	for _, c := range []struct {
		engine float64
		want   string
	}{{21000, "met (21000/s)"}, {12000, "MISSED (12000/s)"}} {
		var b strings.Builder
		printConnectRates(&b, []connectRate{{sse: false, engine: 30000, floor: fl}, {sse: true, engine: c.engine, floor: fl, open: 9000, ms: 700}})
		out := b.String()
		if !strings.Contains(out, "goals sse connect rate >= 20000/s against a server that costs only the kernel: "+c.want) {
			t.Errorf("engine %.0f/s: no goal line with %q in\n%s", c.engine, c.want, out)
		}
		if !strings.Contains(out, "this machine's floor now: 15000/s") || strings.Count(out, "engine/floor rate") != 2 {
			t.Errorf("engine %.0f/s: the floor is not beside the engine:\n%s", c.engine, out)
		}
	}
}
