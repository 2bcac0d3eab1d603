package wsapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/internal/wstest"
	"github.com/massconn/massconn/server/metrics"
)

// startListener serves an API through Listen on a free loopback port.
func startListener(tb testing.TB, cfg Config) (*API, *hub.Hub, string) {
	tb.Helper()
	return startListenerConfig(tb, cfg, net.ListenConfig{})
}

// startListenerConfig is startListener with the listening socket made by
// lc (whose socket options the accepted connections inherit).
func startListenerConfig(tb testing.TB, cfg Config, lc net.ListenConfig) (*API, *hub.Hub, string) {
	tb.Helper()
	h, err := hub.New(hub.Options{Topics: []string{"Track"}})
	if err != nil {
		tb.Fatal(err)
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = 1 << 16
	}
	a := New(cfg, h, metrics.New(h, nil), noHealth{})
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: cfg.HandshakeTimeout}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(a.Listen(ln)) }()
	tb.Cleanup(func() {
		a.Close()
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("Serve: %v, want http.ErrServerClosed", err)
		}
	})
	return a, h, ln.Addr().String()
}

func waitSubscribers(tb testing.TB, h *hub.Hub, n int64) {
	tb.Helper()
	wstest.WaitCount(tb, "hub subscribers", h.Len, n)
}

func TestListenUpgradesWSAndDelivers(t *testing.T) {
	_, h, addr := startListener(t, Config{})
	raw := wstest.RawHandshake(t, addr, "/ws?topic=Track", nil)
	waitSubscribers(t, h, 1)
	if n := h.Publish("Track", 1, []byte(`{"id":1}`)); n != 1 {
		t.Fatalf("published to %d subscribers, want 1", n)
	}
	_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
	f, err := raw.ReadFrame()
	if err != nil || f.Opcode != 0x1 || string(f.Payload) != `{"id":1}` {
		t.Fatalf("got frame %+v (err %v), want the text message", f, err)
	}
	_ = raw.Close()
	waitSubscribers(t, h, 0)
}

// Other requests go to net/http, which reads what Listen read of them and
// keeps the connection alive between requests.
func TestListenPassesOtherRequestsToNetHTTP(t *testing.T) {
	_, _, addr := startListener(t, Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wstest.Timeout))
	r := bufio.NewReader(c)
	for i, path := range []string{"/healthz", "/wsx", "/ws/", "/healthz"} {
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusNotFound
		if path == "/healthz" {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("%s: HTTP %d %q, want %d", path, resp.StatusCode, body, want)
		}
	}
}

// A refusal on the fast path reads like one from net/http: status, one
// line naming the fix, Connection: close.
func TestListenRefusalsGetAReason(t *testing.T) {
	_, _, addr := startListener(t, Config{AuthToken: "s3cret"})
	for _, tt := range []struct {
		name, request, reason string
		status                int
	}{
		{"not websocket", "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", "WebSocket endpoint", http.StatusUpgradeRequired},
		{"no token", "GET /ws?topic=Track HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "missing or wrong token", http.StatusUnauthorized},
		{"malformed", "GET /ws HTTP/1.1\r\nHost x\r\n\r\n", "malformed request", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(wstest.Timeout))
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.reason) || !resp.Close {
				t.Errorf("got %d %q (close %v), want %d containing %q and Connection: close", resp.StatusCode, body, resp.Close, tt.status, tt.reason)
			}
		})
	}
}

// A client may send frames right behind its upgrade request without
// waiting for the 101. Through net/http those bytes sat in the hijacked
// connection's buffer, which gws does not read, and were lost.
func TestFrameRightBehindTheRequestIsRead(t *testing.T) {
	_, h, addr := startListener(t, Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wstest.Timeout))
	req := "GET /ws?topic=Track HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	ping := wstest.MaskedFrame(true, 0x9, []byte("behind"))
	if _, err := c.Write(append([]byte(req), ping...)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	raw := &wstest.RawConn{Conn: c, R: r}
	f, err := raw.ReadFrame()
	if err != nil || f.Opcode != 0xA || string(f.Payload) != "behind" {
		t.Fatalf("got frame %+v (err %v), want the pong for the ping sent behind the request", f, err)
	}
	// The connection reads on from the socket once the replay is drained.
	if _, err := c.Write(wstest.MaskedFrame(true, 0x9, []byte("after"))); err != nil {
		t.Fatal(err)
	}
	if f, err = raw.ReadFrame(); err != nil || f.Opcode != 0xA || string(f.Payload) != "after" {
		t.Fatalf("got frame %+v (err %v), want the pong for the second ping", f, err)
	}
	waitSubscribers(t, h, 1)
}

// FuzzListenFirstRequest sends any bytes as a connection's first request:
// the server answers or closes, and it stops reading at the end of them.
func FuzzListenFirstRequest(f *testing.F) {
	for _, s := range []string{
		"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws?topic=Track HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		"GET /ws?after=x HTTP/1.1\r\n\r\n",
		"GET /ws HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws",
		"\x16\x03\x01",
	} {
		f.Add([]byte(s))
	}
	_, _, addr := startListener(f, Config{HandshakeTimeout: 2 * time.Second})
	f.Fuzz(func(t *testing.T, request []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(wstest.Timeout))
		if _, err := c.Write(request); err != nil {
			return // the server may refuse and close before all is written
		}
		_ = c.(*net.TCPConn).CloseWrite()
		// An upgraded connection that got no close frame stays open: end
		// it from here after its 101.
		r := bufio.NewReader(c)
		if resp, err := http.ReadResponse(r, nil); err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("connection neither answered nor closed: %v", err)
		}
	})
}

// BenchmarkAcceptListen is BenchmarkAccept through Listen instead of
// net/http.
func BenchmarkAcceptListen(b *testing.B) {
	_, _, addr := startListener(b, Config{})
	benchHandshakes(b, addr)
}

// A request that has not arrived whole when its connection is accepted
// is read on by route from where serveArrived stopped, whatever the cut:
// nothing read ahead is lost, and nothing is answered before the end of
// the headers.
func TestRequestInPiecesIsUpgraded(t *testing.T) {
	h, err := hub.New(hub.Options{Topics: []string{"Track"}})
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{HandshakeTimeout: 5 * time.Second, ReadLimit: 1 << 16}, h, metrics.New(h, nil), noHealth{})
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// No accept loop: the test accepts and calls the two paths itself.
	l := &splitListener{api: a, ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	req := "GET /ws?topic=Track HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	for _, cut := range []int{0, 3, len(wsRequestLine) + 1, 40, len(req) - 2, len(req)} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(wstest.Timeout))
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(c, req[:cut]); err != nil {
				t.Fatal(err)
			}
			rr, served := l.serveArrived(sc)
			t.Logf("served in the accept loop: %v", served)
			if served && cut < len(req) {
				t.Fatalf("served a request cut at %d of %d bytes", cut, len(req))
			}
			if !served {
				if _, err := io.WriteString(c, req[cut:]); err != nil {
					t.Fatal(err)
				}
				go l.route(sc, rr)
			}
			r := bufio.NewReader(c)
			resp, err := http.ReadResponse(r, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake: %v %v", resp, err)
			}
			raw := &wstest.RawConn{Conn: c, R: r}
			if _, err := c.Write(wstest.MaskedFrame(true, 0x9, []byte("p"))); err != nil {
				t.Fatal(err)
			}
			if f, err := raw.ReadFrame(); err != nil || f.Opcode != 0xA || string(f.Payload) != "p" {
				t.Fatalf("got frame %+v (err %v), want the pong", f, err)
			}
		})
	}
}
