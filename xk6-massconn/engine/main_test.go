package engine

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine is still running
// once they have all finished: a pool, a portable connection, a TLS
// handshake or a test server that outlives its test is a leak.
//
// The one exception is the shared event loops (loop_linux.go): they are
// ours, but serve every pool of the process for its whole life by design
// (k6 runs many VUs that each open pools), so they never stop. They are
// started here, before any test, and goleak.IgnoreCurrent exempts exactly
// those goroutines by identity; any other goroutine of the same function
// would still count.
func TestMain(m *testing.M) {
	startSharedLoops()
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}
