package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/procfs"
)

// BenchmarkIdleConnRSS is the server's resident memory per idle
// connection, WebSocket beside SSE in one run: a massconn-server process
// ($MASSCONN_SERVER, default bin/massconn-server) per transport holds
// IDLE_CONNS (default 10,000) connections that send nothing after their
// request; B/conn is (VmRSS with them - VmRSS with 100 warm-up
// connections) / IDLE_CONNS, each read once the server's post-burst
// memory release has run. Run it alone, under the bench lock:
//
//	flock /tmp/massconn-bench.lock go test ./server/app -run '^$' -bench IdleConnRSS -benchtime 1x
func BenchmarkIdleConnRSS(b *testing.B) {
	server := os.Getenv("MASSCONN_SERVER")
	if server == "" {
		server = filepath.Join("..", "..", "bin", "massconn-server")
	}
	if _, err := os.Stat(server); err != nil {
		b.Skipf("no server binary at %s: make bin/massconn-server", server)
	}
	n := 10000
	if v := os.Getenv("IDLE_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("IDLE_CONNS=%q: want a positive number", v)
		}
	}
	url := newDatabase(b, shared)
	for _, transport := range []string{"ws", "sse"} {
		b.Run(transport, func(b *testing.B) {
			for b.Loop() {
				b.ReportMetric(idleRSSPerConn(b, server, url, transport, n), "B/conn")
			}
		})
	}
}

func idleRSSPerConn(b *testing.B, server, url, transport string, n int) float64 {
	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Must(b))
	cmd := exec.Command(server, "serve", "--listen", addr, "--database-url", url, "--max-conns", strconv.Itoa(n+1000))
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	waitConns := func(want int64) {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var h struct {
				Status      string `json:"status"`
				Connections int64  `json:"connections"`
			}
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&h)
				resp.Body.Close()
				if h.Status == "ok" && h.Connections == want {
					return
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("server never reported %d connections (last %d, %v)", want, h.Connections, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rss := func() int64 {
		// After a burst the server releases memory once the count has been
		// still for 2 s (server/app/memory.go).
		time.Sleep(4 * time.Second)
		kib, err := procfs.VmRSS(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		return kib * 1024
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	open := func(k int) {
		for range k {
			conns = append(conns, openIdle(b, addr, transport))
		}
	}
	waitConns(0)
	open(100)
	waitConns(100)
	before := rss()
	open(n)
	waitConns(int64(n + 100))
	after := rss()
	b.Logf("%s: VmRSS %.1f MiB with 100 connections, %.1f MiB with %d more", transport, float64(before)/(1<<20), float64(after)/(1<<20), n)
	return float64(after-before) / float64(n)
}

// openIdle opens one connection of transport that then sends nothing.
func openIdle(b *testing.B, addr, transport string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET /sse?topic=Track HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
	if transport == "ws" {
		req = "GET /ws?topic=Track HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	}
	if _, err := io.WriteString(c, req); err != nil {
		b.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || (!strings.Contains(status, " 101 ") && !strings.Contains(status, " 200 ")) {
		b.Fatalf("%s: %q, %v", transport, status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return c
}
