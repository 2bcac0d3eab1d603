// The race detector's instrumentation makes every frame larger, so the
// parked read path no longer fits the smallest stack in a -race build; the
// figure this test guards is the production build's.

//go:build !race

package wsapi

import (
	"runtime"
	"testing"
	"time"

	"github.com/massconn/massconn/server/internal/wstest"
)

// An idle connection keeps one goroutine, its read loop, parked in a read
// on the smallest stack the runtime has (2 KB): at a million connections
// every frame on that path that pushes it past 2 KB doubles the stack, a
// 2 GB difference. Measured with the runtime's own figure for goroutine
// stacks in use, over connections whose client side in this process is
// raw sockets (no goroutines).
func TestIdleConnectionKeepsTheSmallestStack(t *testing.T) {
	const n = 500
	_, h, addr := startListener(t, Config{})
	stacks := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.StackInuse
	}
	before := stacks()
	conns := make([]*wstest.RawConn, 0, n)
	for range n {
		conns = append(conns, wstest.RawHandshake(t, addr, "/ws?topic=Track", nil))
	}
	waitSubscribers(t, h, n)
	// Let every read loop reach its parked read.
	time.Sleep(200 * time.Millisecond)
	perConn := float64(stacks()-before) / n
	for _, c := range conns {
		_ = c.Close()
	}
	if perConn > 2560 {
		t.Errorf("%.0f bytes of goroutine stack per idle connection, want the 2048 of one minimal stack", perConn)
	}
	t.Logf("%.0f bytes of goroutine stack per idle connection", perConn)
}
