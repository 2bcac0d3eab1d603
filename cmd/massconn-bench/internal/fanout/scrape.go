package fanout

import (
	"context"
	"fmt"

	srvclient "github.com/massconn/massconn/server/client"
)

// runtimeMetrics are the Go runtime figures of the server that say where
// its memory went (from its Prometheus /metrics).
var runtimeMetrics = []string{
	"go_goroutines",
	"go_memstats_heap_inuse_bytes",
	"go_memstats_stack_inuse_bytes",
	"go_memstats_heap_idle_bytes",
	"go_memstats_heap_released_bytes",
	"go_memstats_sys_bytes",
}

// runtimeFigures picks the unlabelled samples of runtimeMetrics out of a
// /metrics reply. The figures are informative: a missing one is left out
// and shown as absent.
func runtimeFigures(m srvclient.Metrics) map[string]float64 {
	out := map[string]float64{}
	for _, name := range runtimeMetrics {
		if v, err := m.Value(name); err == nil {
			out[name] = v
		}
	}
	return out
}

func scrapeRuntime(ctx context.Context, c *srvclient.Client) (map[string]float64, error) {
	m, err := c.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	return runtimeFigures(m), nil
}

// serverHealth is what the bench reads from the server's /healthz: its
// connection count and whether its PostgreSQL listener is connected (rows
// inserted before that are not delivered).
func serverHealth(ctx context.Context, c *srvclient.Client) (conns int64, listening bool, err error) {
	h, err := c.Health(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("server health: %w", err)
	}
	return h.Connections, h.Ready(), nil
}
