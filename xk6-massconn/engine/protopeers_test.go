package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// protoPeer is one of the realtime servers in testdata/protopeers.
type protoPeer struct {
	port  string
	stdin io.Writer
	lines chan string
}

func protoPeersDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PROTOPEERS_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "protopeers")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io")); err != nil {
		t.Fatalf("the npm protocol peers are not installed in %s (%v): run `make xk6-massconn/engine/testdata/protopeers/node_modules` (make unit-test does)", dir, err)
	}
	return dir
}

// startProtoPeer runs `node server.js MODE 0` and returns once it listens.
func startProtoPeer(t *testing.T, mode string) *protoPeer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "server.js", mode, "0")
	cmd.Dir = protoPeersDir(t)
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
	p := &protoPeer{stdin: stdin, lines: make(chan string, 16)}
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

func (p *protoPeer) next(t *testing.T) string {
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

// publish makes the peer send n application messages to every client.
func (p *protoPeer) publish(t *testing.T, n int) {
	t.Helper()
	if _, err := fmt.Fprintf(p.stdin, "publish %d\n", n); err != nil {
		t.Fatal(err)
	}
	if line := p.next(t); line != fmt.Sprintf("published %d", n) {
		t.Fatalf("peer said %q after publish", line)
	}
}

func (p *protoPeer) url(scheme, path string) string {
	return scheme + "://127.0.0.1:" + p.port + path
}

// measured drains p until its stats hold want application messages, and
// returns how many latencies were measured on the way.
func measured(t *testing.T, p *Pool, want int64) int64 {
	t.Helper()
	var latencies int64
	eventually(t, fmt.Sprintf("%d application messages", want), func() bool {
		latencies += p.Drain().LatencyCount
		return p.Stats().Received >= want
	})
	return latencies + p.Drain().LatencyCount
}

// waitCount polls the peer until n clients are subscribed.
func (p *protoPeer) waitCount(t *testing.T, n int) {
	t.Helper()
	want := fmt.Sprintf("count %d", n)
	eventually(t, want, func() bool {
		if _, err := fmt.Fprintln(p.stdin, "count"); err != nil {
			t.Fatal(err)
		}
		return p.next(t) == want
	})
}
