package hub

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests (and benchmarks) if any goroutine is
// still running once they have all finished: a writer, a subscriber's
// read loop or a test server that outlives its test is a leak. Nothing is
// exempted: the hub starts no process-wide goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
