// Package protopeer runs the realtime servers of engine/testdata/protopeers
// (Socket.IO and graphql-ws from npm, the Phoenix Channels peer) for the
// engine's and the k6-level tests.
package protopeer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Peer is one running server.
type Peer struct {
	port  string
	mu    sync.Mutex // one command and its answer at a time
	stdin io.Writer
	lines chan string
}

// Dir is where the peers and their node_modules are: $PROTOPEERS_DIR, or
// engine/testdata/protopeers in this module.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PROTOPEERS_DIR")
	if dir == "" {
		_, here, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(here), "..", "..", "engine", "testdata", "protopeers")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io")); err != nil {
		t.Fatalf("the npm protocol peers are not installed in %s (%v): run `make xk6-massconn/engine/testdata/protopeers/node_modules` (make unit-test does)", dir, err)
	}
	return dir
}

// Start runs `node server.js MODE 0` (socketio, graphql or phoenix) and
// returns once it listens; it stops with the test.
func Start(t testing.TB, mode string) *Peer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "server.js", mode, "0")
	cmd.Dir = Dir(t)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	t.Cleanup(func() { stdin.Close(); cancel(); _ = cmd.Wait() })
	p := &Peer{stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	line := p.next(t)
	port, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		t.Fatalf("%s peer said %q, want listening PORT", mode, line)
	}
	p.port = port
	return p
}

func (p *Peer) next(t testing.TB) string {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatal("the peer exited")
		}
		return line
	case <-time.After(30 * time.Second):
		t.Fatal("the peer said nothing within 30s")
	}
	return ""
}

// Publish makes the peer send n application messages to every client.
func (p *Peer) Publish(t testing.TB, n int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintf(p.stdin, "publish %d\n", n); err != nil {
		t.Fatal(err)
	}
	if line := p.next(t); line != fmt.Sprintf("published %d", n) {
		t.Fatalf("peer said %q after publish", line)
	}
}

// Count is how many clients are subscribed now.
func (p *Peer) Count(t testing.TB) int {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintln(p.stdin, "count"); err != nil {
		t.Fatal(err)
	}
	line := p.next(t)
	n, err := strconv.Atoi(strings.TrimPrefix(line, "count "))
	if err != nil {
		t.Fatalf("peer said %q to count", line)
	}
	return n
}

// URL is scheme://127.0.0.1:PORT + path.
func (p *Peer) URL(scheme, path string) string {
	return scheme + "://127.0.0.1:" + p.port + path
}
