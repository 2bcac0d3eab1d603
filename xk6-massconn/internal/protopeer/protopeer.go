// Package protopeer runs the realtime servers of engine/testdata/protopeers
// (Socket.IO and graphql-ws from npm, the Phoenix Channels peer) for the
// engine's and the k6-level tests.
package protopeer

import (
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// Peer is one running server.
type Peer struct {
	port  string
	mu    sync.Mutex // one command and its answer at a time
	stdin io.Writer
	lines <-chan string
	what  string // names the peer in failures
}

// Dir is where the peers and their node_modules are: $PROTOPEERS_DIR, or
// engine/testdata/protopeers in this module.
func Dir(t testing.TB) string {
	t.Helper()
	return testpeer.NodeDir(t, "PROTOPEERS_DIR", "protopeers", "socket.io")
}

// Start runs `node server.js MODE 0` (socketio, graphql or phoenix) and
// returns once it listens; it stops with the test.
func Start(t testing.TB, mode string) *Peer {
	t.Helper()
	cmd := exec.Command("node", "server.js", mode, "0")
	cmd.Dir = Dir(t)
	proc := testpeer.Run(t, cmd)
	p := &Peer{stdin: proc.Stdin, lines: proc.Lines(), what: "the " + mode + " peer"}
	p.port = testpeer.ListeningPort(t, p.lines, p.what)
	return p
}

func (p *Peer) next(t testing.TB) string {
	t.Helper()
	return testpeer.NextLine(t, p.lines, p.what)
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
