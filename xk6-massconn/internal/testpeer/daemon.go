package testpeer

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
)

// Daemon starts a server that needs no pipes (Centrifugo, Mosquitto) with
// its stderr on the test's; it is killed and waited for when the test
// ends. The returned channel closes when it exits, which a caller waiting
// for it to listen takes as "the port was taken meanwhile: try another".
func Daemon(t testing.TB, name string, args ...string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cancel(); <-exited })
	return exited
}

// FreePort is a loopback TCP port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
