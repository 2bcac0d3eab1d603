package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/pgtest"
	"github.com/massconn/massconn/server/internal/wstest"
)

func TestBadCommandLines(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the one-line error
	}{
		{"no command", nil, nil, "usage"},
		{"unknown command", []string{"serv"}, nil, `unknown command "serv"; use one of serve, migrate, insert`},
		{"unknown flag", []string{"serve", "--databse-url", "x"}, nil, "unknown flag --databse-url; run 'massconn-server serve -h'"},
		{"missing database url", []string{"serve"}, nil, "missing --database-url (or DATABASE_URL)"},
		{"not a postgres url", []string{"migrate", "--database-url", "mysql:x"}, nil, `--database-url "mysql:x" is not a PostgreSQL URL`},
		{"bad int", []string{"serve", "--database-url", "postgres://x", "--max-conns", "many"}, nil, `invalid value "many" for flag --max-conns: parse error; use a whole number`},
		{"zero max conns", []string{"serve", "--database-url", "postgres://x", "--max-conns", "0"}, nil, "--max-conns must be at least 1"},
		{"bad env int", []string{"serve", "--database-url", "postgres://x"}, map[string]string{"MAX_CONNS": "lots"}, `invalid value "lots" in MAX_CONNS (for --max-conns)`},
		{"bad listen", []string{"serve", "--database-url", "postgres://x", "--listen", "8080"}, nil, `--listen "8080" needs host:port`},
		{"bad duration", []string{"serve", "--database-url", "postgres://x", "--ping-interval", "30"}, nil, "flag --ping-interval: parse error; use a Go duration"},
		{"ping timeout too short", []string{"serve", "--database-url", "postgres://x", "--ping-interval", "10s", "--ping-timeout", "5s"}, nil, "--ping-timeout must be longer than --ping-interval"},
		{"zero gc percent", []string{"serve", "--database-url", "postgres://x", "--gc-percent", "0"}, nil, "--gc-percent must be a positive percentage such as 25, or -1"},
		{"bad log level", []string{"serve", "--database-url", "postgres://x", "--log-level", "loud"}, nil, `invalid value "loud" for flag --log-level`},
		{"flag without value", []string{"insert", "--every"}, nil, "flag --every needs a value"},
		{"every too small", []string{"insert", "--database-url", "postgres://x", "--every", "10us"}, nil, "--every must be at least 1ms"},
		{"negative count", []string{"insert", "--database-url", "postgres://x", "--count", "-1"}, nil, "--count must be 0 (no limit) or more"},
		{"unknown table", []string{"insert", "--database-url", "postgres://x", "--table", "Invoice"}, nil, `unknown --table "Invoice"; use one of Artist, Album, Track`},
		{"zero slow after", []string{"serve", "--database-url", "postgres://x", "--slow-after", "0s"}, nil, "--slow-after must be positive"},
		{"negative history", []string{"serve", "--database-url", "postgres://x", "--history", "-1h"}, nil, "--history must be 0 (keep forever) or positive"},
		{"tiny history", []string{"serve", "--database-url", "postgres://x", "--history", "10ms"}, nil, "--history 10ms is shorter than a second"},
		{"bad origin", []string{"serve", "--database-url", "postgres://x", "--allowed-origins", "example.com"}, nil, `--allowed-origins entry "example.com" is not an origin`},
		{"int out of range", []string{"serve", "--database-url", "postgres://x", "--max-conns", "99999999999999999999"}, nil, `invalid value "99999999999999999999" for flag --max-conns: value out of range; use a whole number`},
		{"unknown flag with value", []string{"serve", "-nope=1"}, nil, "unknown flag --nope; run 'massconn-server serve -h'"},
		{"value after equals", []string{"insert", "--database-url", "postgres://x", "--count=-2"}, nil, "--count must be 0 (no limit) or more"},
		{"stray argument", []string{"migrate", "--database-url", "postgres://x", "now"}, nil, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"DATABASE_URL", "MAX_CONNS", "LISTEN", "GC_PERCENT"} {
				t.Setenv(k, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			out := stderr.String()
			if tt.args == nil {
				out = stdout.String()
			} else if strings.Count(out, "\n") != 1 {
				t.Errorf("error is not one line: %q", out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output %q lacks %q", out, tt.want)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"serve", "-h"}, {"insert", "--help"}, {"migrate", "-h"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 || stdout.Len() == 0 {
			t.Errorf("%q: exit %d, stdout %q", args, code, stdout.String())
		}
	}
	var stdout bytes.Buffer
	run([]string{"serve", "-h"}, &stdout, &bytes.Buffer{})
	for _, want := range []string{"--database-url (DATABASE_URL", "--max-conns (MAX_CONNS", "--read-limit", "--ping-interval"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("serve -h lacks %q", want)
		}
	}
}

// serverBinary is the binary under test: $MASSCONN_SERVER (set by make), or
// one built from this package.
func serverBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MASSCONN_SERVER"); p != "" {
		return p
	}
	p := filepath.Join(t.TempDir(), "massconn-server")
	out, err := exec.Command("go", "build", "-o", p, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return p
}

func TestMigrateInsertServeAndSIGTERM(t *testing.T) {
	bin := serverBinary(t)
	pg := pgtest.Start(t)

	for range 2 { // migrate is idempotent
		out, err := exec.Command(bin, "migrate", "--database-url", pg.URL()).CombinedOutput()
		if err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
	}

	port := freeport.Must(t)
	cmd := exec.Command(bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pg.URL(), "SHUTDOWN_TIMEOUT=20s")
	serve := startServe(t, cmd)
	clients := serve.dial(t, fmt.Sprintf("ws://127.0.0.1:%d/ws?topic=Track", port), 3)
	// The listener starts before the HTTP port opens; rows from now on are news.
	waitHealthyListener(t, port)

	out, err := exec.Command(bin, "insert", "--database-url", pg.URL(), "--every", "2ms", "--count", "25").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "inserted 25 rows into Track") {
		t.Fatalf("insert: %v\n%s", err, out)
	}
	for i, c := range clients {
		msgs := c.WaitMessages(t, 25)
		for j, m := range msgs {
			if m.ID != int64(j+1) {
				t.Fatalf("client %d message %d has id %d", i, j, m.ID)
			}
		}
	}

	serve.sigterm(t)
	for i, c := range clients {
		if code := c.WaitClose(t); code != 1001 {
			t.Errorf("client %d: close code %d, want 1001", i, code)
		}
	}
	serve.waitExit(t)
}

// served is a massconn-server process started by a test; the test's
// cleanup kills it if it is still running.
type served struct {
	cmd    *exec.Cmd
	logs   bytes.Buffer
	exited chan struct{}
	err    error // from Wait; set before exited closes
}

func startServe(t *testing.T, cmd *exec.Cmd) *served {
	t.Helper()
	s := &served{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &s.logs, &s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.exited
	})
	return s
}

// dial opens n clients to url, retrying while the server starts; the
// test's cleanup closes their sockets.
func (s *served) dial(t *testing.T, url string, n int) []*wstest.Client {
	t.Helper()
	var clients []*wstest.Client
	deadline := time.Now().Add(wstest.Timeout)
	for len(clients) < n {
		c, _, err := wstest.DialErr(url)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("server never accepted: %v\n%s", err, s.logs.String())
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		t.Cleanup(func() { _ = c.Conn.NetConn().Close() })
		clients = append(clients, c)
	}
	return clients
}

func (s *served) sigterm(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// waitExit expects the process to exit cleanly (after a SIGTERM); the
// timeout only guards against hangs.
func (s *served) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-s.exited:
		if s.err != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", s.err, s.logs.String())
		}
	case <-time.After(wstest.Timeout):
		t.Fatalf("serve still running %v after SIGTERM", wstest.Timeout)
	}
}

func waitHealthyListener(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(wstest.Timeout)
	for {
		var body []byte
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"listener":"connected"`) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener not connected: %s %v", body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGTERM while thousands of notifications are queued (in PostgreSQL, in
// lib/pq, in the clients' queues): the process exits and every client gets
// close 1001.
func TestSIGTERMWithBacklogExitsAndEveryClientGets1001(t *testing.T) {
	bin := serverBinary(t)
	pg := pgtest.Start(t)
	port := freeport.Must(t)
	// With the default pings: a ping queued behind a client's backlog is
	// answered by a pong the server may not have read when it closes, and
	// a socket closed then was reset by the kernel, losing the 1001 still
	// queued in it (the hub now closes lingering, closeAfterCloseFrame).
	cmd := exec.Command(bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--shutdown-timeout", "10s")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pg.URL())
	serve := startServe(t, cmd)
	clients := serve.dial(t, fmt.Sprintf("ws://127.0.0.1:%d/ws", port), 50)
	waitHealthyListener(t, port)

	out, err := exec.Command("psql", pg.URL(), "-qc",
		`INSERT INTO "Track" (name, composer) SELECT 'burst', repeat('q', 2000) FROM generate_series(1, 20000)`).CombinedOutput()
	if err != nil {
		t.Fatalf("insert: %v\n%s", err, out)
	}
	clients[0].WaitMessages(t, 1) // the burst is arriving
	serve.sigterm(t)
	serve.waitExit(t)
	got := 0
	for i, c := range clients {
		got += len(c.Messages())
		if code := c.WaitClose(t); code != 1001 {
			t.Errorf("client %d: close code %d, want 1001 (after %d messages)", i, code, len(c.Messages()))
		}
	}
	t.Logf("clients got %d of %d messages before 1001", got, 20000*len(clients))
}

// With a low open-file limit and the default --max-conns, connections past
// the limit get the documented 503 instead of waiting on a server that
// cannot accept.
func TestDefaultMaxConnsAnswers503AtTheOpenFileLimit(t *testing.T) {
	bin := serverBinary(t)
	pg := pgtest.Start(t)
	port := freeport.Must(t)
	cmd := exec.Command("sh", "-c", `ulimit -n 400 && exec "$0" serve --listen "$1"`, bin, fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pg.URL(), "MAX_CONNS=")
	serve := startServe(t, cmd)
	waitHealthyListener(t, port)
	url := fmt.Sprintf("ws://127.0.0.1:%d/ws", port)
	opened, refused := 0, 0
	for range 500 { // more than the server has file descriptors
		c, resp, err := wstest.DialErr(url)
		switch {
		case err == nil:
			opened++
			t.Cleanup(func() { _ = c.Conn.NetConn().Close() })
		case resp != nil && resp.StatusCode == http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("connection %d: %v (no 503)\n%s", opened+refused+1, err, serve.logs.String())
		}
	}
	if opened == 0 || refused == 0 || opened >= 400 {
		t.Errorf("opened %d, refused %d with 503; want some of each below the limit of 400", opened, refused)
	}
	if !strings.Contains(serve.logs.String(), "open_file_limit=400") {
		t.Errorf("start-up log does not name the open-file limit:\n%s", serve.logs.String())
	}
}
