package wsapi

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is still running
// once they have all finished: the poller, an accept loop, a history
// reader, a resume or a parked connection's read loop that outlives the
// API that started it is a leak.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
