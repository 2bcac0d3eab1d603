package app_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/massconn/massconn/server/app"
)

// A server that cannot listen says which option failed and leaves nothing
// running behind it: the API it had built (its status sampler) is closed.
func TestListenFailureLeavesNothingRunning(t *testing.T) {
	url := newDatabase(t, shared)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := app.Defaults()
	cfg.Listen = taken.Addr().String()
	cfg.DatabaseURL = url
	a, err := app.Start(context.Background(), cfg)
	if err == nil {
		_ = a.Shutdown()
		t.Fatalf("Start on a port in use: no error")
	}
	if !strings.Contains(err.Error(), "--listen") {
		t.Errorf("error %q does not name --listen", err)
	}
}
