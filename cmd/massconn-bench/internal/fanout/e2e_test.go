package fanout

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/pgtest"
	"github.com/massconn/massconn/server/app"
	srvclient "github.com/massconn/massconn/server/client"
)

// TestBenchAgainstRealServer runs the whole benchmark, small, against a
// real server (in this process, so --server-pid is our own) and a real
// PostgreSQL, over each transport: WebSocket (/ws) and server-sent events
// (/sse). It checks the bench counts every delivery and reports them; the
// figures themselves are not asserted.
func TestBenchAgainstRealServer(t *testing.T) {
	for _, tc := range []struct{ name, url, header string }{
		{"websocket", "ws://%s/ws?topic=Track", "idle WebSocket connections"},
		{"sse", "http://%s/sse?topic=Track", "idle SSE (EventSource) connections"},
	} {
		t.Run(tc.name, func(t *testing.T) { benchAgainstRealServer(t, tc.url, tc.header) })
	}
}

func benchAgainstRealServer(t *testing.T, urlFormat, header string) {
	pg := pgtest.Start(t)
	cfg := app.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DatabaseURL = pg.URL()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	const conns, rounds = 50, 3
	var stdout, stderr bytes.Buffer
	code := Run([]string{
		"--url", fmt.Sprintf(urlFormat, a.Addr()),
		"--database-url", pg.URL(),
		"--server-pid", fmt.Sprint(os.Getpid()),
		"--conns", fmt.Sprint(conns),
		"--rounds", fmt.Sprint(rounds),
		"--spacing", "200ms",
		"--settle", "0s",
		"--per-source", "20", // three source addresses
		"--max-duration", "90s",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	// The client's read loops end with the run (the in-process server's
	// goroutines are not the bench's to check).
	noGoroutineRunning(t, "fanout.(*client).readSSE", "gws.(*Conn).ReadLoop")
	out := stdout.String()
	for _, want := range []string{
		fmt.Sprintf("deliveries         %d of %d; missing 0, duplicate/out of order 0", conns*rounds, conns*rounds),
		fmt.Sprintf("(%d of %d rounds reached every client)", rounds, rounds),
		"3 source address(es)",
		"RSS per idle conn",
		header,
		"connections closed by the server during the run: 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchRefusesABusyServer(t *testing.T) {
	pg := pgtest.Start(t)
	cfg := app.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DatabaseURL = pg.URL()
	a, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	f := &fleet{url: fmt.Sprintf("ws://%s/ws", a.Addr())}
	f.sources, _ = sources("127.0.0.2", 1, 1)
	f.perSrc = 1
	if err := f.connect(context.Background(), 1, 1); err != nil {
		t.Fatal(err)
	}
	defer f.closeAll()
	if err := waitServerSees(context.Background(), srvclient.New(a.Addr(), 0), 1); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := Run([]string{"--url", f.url, "--database-url", pg.URL(), "--server-pid", fmt.Sprint(os.Getpid()), "--conns", "5", "--rounds", "1"}, &bytes.Buffer{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "the server already has 1 connections") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// noGoroutineRunning waits until no goroutine's stack names any of funcs,
// and fails the test if one is still there after a while.
func noGoroutineRunning(t *testing.T, funcs ...string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	var stacks string
	for range 100 {
		stacks = string(buf[:runtime.Stack(buf, true)])
		found := false
		for _, f := range funcs {
			found = found || strings.Contains(stacks, f)
		}
		if !found {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("a goroutine of %v is still running:\n%s", funcs, stacks)
}
