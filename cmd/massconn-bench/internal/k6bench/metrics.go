package k6bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var metricsClient = &http.Client{Timeout: 2 * time.Second}

// serverConns is the massconn_connections gauge of the server (or echo
// server) on addr; -1 when it cannot be read.
func serverConns(addr string) int64 {
	resp, err := metricsClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return -1
	}
	f, ok := fams["massconn_connections"]
	if !ok || len(f.GetMetric()) == 0 {
		return 0
	}
	// A gauge on massconn-server; untyped (no # TYPE line) on the echo server.
	m := f.GetMetric()[0]
	return int64(m.GetGauge().GetValue() + m.GetUntyped().GetValue())
}

// waitConns waits until the server on addr holds exactly n connections
// (0 between phases: the last phase's closes have arrived).
func waitConns(ctx context.Context, addr string, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := serverConns(addr)
		if got == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server still holds %d connections after %v, expected %d", got, timeout, n)
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("waiting for the server to hold %d connections: %w", n, ctx.Err())
		}
	}
}
