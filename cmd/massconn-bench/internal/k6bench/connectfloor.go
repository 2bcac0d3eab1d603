package k6bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"time"

	"github.com/massconn/massconn/cmd/massconn-bench/internal/floorcmd"
	"github.com/massconn/massconn/internal/floor"
)

// floorConns is how many connections the connect-rate comparison opens:
// the floor holds both ends in this process, so it fits twice in the
// open-file limit the other phases use once.
const floorConns = 9000

// engineSources are the source addresses of k6's runs against the
// responder: others than every other phase's, so that their TIME_WAIT
// entries do not lengthen its port searches.
const engineSources = "127.0.5.1,127.0.5.2"

// connectRate is k6's connect rate against a server that costs only what
// the kernel needs (floor.Responder, a thread of this process), beside the
// connect-rate floor measured in the same minute: the engine's own rate,
// apart from the server it usually shares the cores with.
type connectRate struct {
	sse               bool
	engine            float64 // k6 + xk6-massconn, conns/s
	k6CPU, serverCPU  float64 // µs per connection: k6 net of its idle run (open, hold, close), responder (answer, close)
	floor             floor.RateResult
	open, ms, answers int64
}

// connectRates measures both transports; idleCPU is the CPU of k6's idle
// run, which the engine's CPU per connection is net of.
func (b *bench) connectRates(ctx context.Context, cfg k6Config, idleCPU time.Duration) ([]connectRate, error) {
	var out []connectRate
	for _, sse := range []bool{false, true} {
		r, err := b.engineRate(ctx, cfg, sse, idleCPU)
		if err != nil {
			return nil, err
		}
		if r.floor, err = floor.MeasureConnectRate(floor.RateOptions{Conns: floorConns, InFlight: 1000, SSE: sse, Sources: floorcmd.RateSources}); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *bench) engineRate(ctx context.Context, cfg k6Config, sse bool, idleCPU time.Duration) (connectRate, error) {
	r := connectRate{sse: sse}
	srv, err := floor.StartResponder("127.0.0.1:0")
	if err != nil {
		return r, err
	}
	cpu0, err := srv.CPU()
	if err != nil {
		_, _ = srv.Close()
		return r, err
	}
	url := "ws://127.0.0.1:" + strconv.Itoa(srv.Port()) + "/ws"
	name := "engine-ws"
	if sse {
		url, name = "http://127.0.0.1:"+strconv.Itoa(srv.Port())+"/sse", "engine-sse"
	}
	res, err := b.run(ctx, k6Run{
		name: name, bin: cfg.k6,
		env:  []string{"CONNS=" + strconv.Itoa(floorConns), "HOLD_UNTIL_MS=3000", "WS_URL=" + url, "LOCAL_ADDRS=" + engineSources},
		args: []string{"run", "--quiet", "--no-summary", "--no-usage-report", "k6scripts/bench/massconn-hold.js"},
	})
	cpu1, cerr := srv.CPU()
	r.answers = srv.Answered()
	_, _ = srv.Close()
	if err != nil {
		return r, err
	}
	if cerr != nil {
		return r, cerr
	}
	f, err := logInts(res.log, "BENCH open=", "open", "connect_ms", "failed")
	if err != nil {
		return r, err
	}
	r.open, r.ms = f["open"], f["connect_ms"]
	if r.open != floorConns || f["failed"] != 0 {
		return r, fmt.Errorf("%s: %d of %d connections opened, %d failed", name, r.open, floorConns, f["failed"])
	}
	r.engine = float64(r.open) * 1000 / float64(r.ms)
	r.k6CPU = perConnUS(res.cpu-idleCPU, r.open)
	r.serverCPU = perConnUS(cpu1-cpu0, r.open)
	return r, nil
}

// printConnectRates puts the engine's rate beside the floor's, and the
// goal (20,000/s for SSE) beside both.
func printConnectRates(w io.Writer, rates []connectRate) {
	cores := runtime.NumCPU()
	for _, r := range rates {
		kind := "ws:// "
		if r.sse {
			kind = "http://"
		}
		fmt.Fprintf(w, "engine    %s %d conns against the floor's responder: %.0f/s (%d in %d ms); k6 %.0f µs per conn net of the idle run (open, hold, close), responder %.1f µs (answer, close)\n",
			kind, r.open, r.engine, r.open, r.ms, r.k6CPU, r.serverCPU)
		fmt.Fprintf(w, "          %s; engine/floor rate = %.2fx\n", floorcmd.RateLine(r.floor, r.sse), r.engine/r.floor.PerSecond())
	}
	for _, r := range rates {
		if r.sse {
			fmt.Fprintf(w, "goals sse connect rate >= 20000/s against a server that costs only the kernel: %s (%.0f/s); this machine's floor now: %.0f/s, bound %.0f/s on %d cores\n",
				metOrMissed(r.engine >= 20000), r.engine, r.floor.PerSecond(), r.floor.Bound(cores), cores)
		}
	}
}
