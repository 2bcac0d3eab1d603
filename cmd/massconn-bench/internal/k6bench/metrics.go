package k6bench

import (
	"context"
	"fmt"
	"time"

	"github.com/massconn/massconn/server/client"
)

// serverConns is the massconn_connections sample of the server (or echo
// server) on addr; -1 when it cannot be read.
func serverConns(ctx context.Context, addr string) int64 {
	m, err := client.New(addr, 2*time.Second).Metrics(ctx)
	if err != nil {
		return -1
	}
	v, err := m.Value("massconn_connections")
	if err != nil {
		return 0
	}
	return int64(v)
}

// waitConns waits until the server on addr holds exactly n connections
// (0 between phases: the last phase's closes have arrived).
func waitConns(ctx context.Context, addr string, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := serverConns(ctx, addr)
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
