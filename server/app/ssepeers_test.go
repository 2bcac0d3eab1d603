package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/internal/ssetest"
	"github.com/massconn/massconn/server/internal/wstest"
)

// ssePeersDir is server/testdata/ssepeers with its node_modules ($SSEPEERS_DIR
// if set); without them the test skips, except in CI, where it fails.
func ssePeersDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SSEPEERS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "ssepeers")
	}
	_, nodeErr := exec.LookPath("node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "eventsource")); err != nil || nodeErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node or %s/node_modules missing: run make server/testdata/ssepeers/node_modules", dir)
		}
		t.Skipf("node or %s/node_modules missing: run make server/testdata/ssepeers/node_modules", dir)
	}
	return dir
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium: .ci/run installs the Debian package chromium")
	}
	t.Skip("no chromium (apt-get install chromium); CI installs it")
	return ""
}

// peerLog is what an EventSource peer printed, line by line.
type peerLog struct {
	mu      sync.Mutex
	lines   []map[string]any
	changed chan struct{}
}

func (p *peerLog) count(typ string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if l["type"] == typ {
			n++
		}
	}
	return n
}

func (p *peerLog) events() []ssetest.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var evs []ssetest.Event
	for _, l := range p.lines {
		if l["type"] == "event" {
			evs = append(evs, ssetest.Event{ID: fmt.Sprint(l["id"]), Data: fmt.Sprint(l["data"])})
		}
	}
	return evs
}

func (p *peerLog) waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	timeout := time.After(2 * wstest.Timeout)
	for !done() {
		select {
		case <-p.changed:
		case <-timeout:
			p.mu.Lock()
			n, last := len(p.lines), p.lines[max(0, len(p.lines)-3):]
			p.mu.Unlock()
			t.Fatalf("waited for %s; the peer printed %d lines, last %v", what, n, last)
		}
	}
}

// startPeer runs peer.js in mode against url.
func startPeer(t *testing.T, dir, mode, url string, env ...string) *peerLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "peer.js", mode, url)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &peerLog{changed: make(chan struct{}, 1)}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			p.mu.Lock()
			p.lines = append(p.lines, l)
			p.mu.Unlock()
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-read
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s peer stderr:\n%s", mode, stderr.String())
		}
	})
	return p
}

// EventSource clients nobody here wrote, the browser's own and the npm
// eventsource package, stay on the stream through a restart of the
// server: they reconnect by themselves with Last-Event-ID, and what they
// saw is every row once, in commit order, rows committed while no server
// ran included.
func TestSSEPeersResumeThroughARestart(t *testing.T) {
	dir := ssePeersDir(t)
	for _, mode := range []string{"eventsource", "chromium"} {
		t.Run(mode, func(t *testing.T) {
			var env []string
			if mode == "chromium" {
				env = append(env, "CHROMIUM="+chromiumPath(t))
			}
			url := newDatabase(t, shared)
			db := openDB(t, url)
			listen := fmt.Sprintf("127.0.0.1:%d", freeport.Must(t))
			onPort := func(c *app.Config) { c.Listen = listen }
			a := startApp(t, url, onPort)
			peer := startPeer(t, dir, mode, "http://"+listen+"/sse?topic=Track", env...)
			peer.waitFor(t, "the stream to open", func() bool { return peer.count("open") >= 1 })
			insertRows(t, db, "Track", 20)
			peer.waitFor(t, "20 events", func() bool { return len(peer.events()) >= 20 })
			if err := a.Shutdown(); err != nil {
				t.Fatal(err)
			}
			peer.waitFor(t, "the client to see the stream end", func() bool { return peer.count("error") >= 1 })
			insertRows(t, db, "Track", 15) // while no server runs

			startApp(t, url, onPort)
			done := make(chan struct{})
			go func() { defer close(done); insertRows(t, db, "Track", 30) }()
			peer.waitFor(t, "the stream to reopen", func() bool { return peer.count("open") >= 2 })
			<-done
			peer.waitFor(t, "65 events", func() bool { return len(peer.events()) >= 65 })
			msgs := ssetest.Decode(t, peer.events())
			checkExactly(t, mode, msgs, "Track", logOrder(t, db, "Track"))
			checkPositions(t, mode, msgs)
		})
	}
}
