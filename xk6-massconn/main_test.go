package massconn

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

// TestMain fails the package's tests if any goroutine is still running
// once they have all finished: a pool's flusher, the TestEnd subscription,
// an engine connection or a test server that outlives its test is a leak.
//
// The one exception is the engine's shared event loops
// (engine/loop_linux.go): ours, but they serve every pool of the process
// for its whole life by design, so they never stop. One pool is opened and
// closed here before any test, which starts them, and goleak.IgnoreCurrent
// exempts exactly those goroutines by identity.
func TestMain(m *testing.M) {
	if err := startEngineLoops(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the engine's event loops:", err)
		os.Exit(2)
	}
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// startEngineLoops opens one connection to a port nobody listens on (a
// refused connect) and closes the pool: enough for the engine to start its
// shared loops, and nothing of the pool remains.
func startEngineLoops() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := engine.Dial(ctx, engine.Config{URLs: []string{"ws://" + addr + "/"}, Connections: 1})
	if err != nil {
		return err
	}
	if err := p.Wait(ctx); err != nil {
		return err
	}
	return p.Close(0)
}
