package engine

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// gwsServer is an in-test WebSocket server built on gws. Paths:
//
//	/echo        echoes every message; "push N" answers N JSON messages with a ts field in us
//	/close?code= closes with that code right after the handshake
//	/masked      sends a masked frame, which servers must never do
//	/kill        drops the TCP connection right after the handshake, without a close frame
//	/503         refuses the upgrade with HTTP 503
type gwsServer struct {
	*httptest.Server
	mu     sync.Mutex
	closes map[int]int // close codes received from clients
	opened int
	pings  int
}

func startGWSServer(t testing.TB) *gwsServer {
	t.Helper()
	return startGWSServerWith(t, &gws.ServerOption{ParallelEnabled: false})
}

// startGWSServerWith is startGWSServer with the given gws options, e.g.
// compression.
func startGWSServerWith(t testing.TB, opt *gws.ServerOption) *gwsServer {
	t.Helper()
	s := newGWSServerWith(opt)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// newGWSServer is startGWSServer before Start (or StartTLS).
func newGWSServer() *gwsServer {
	return newGWSServerWith(&gws.ServerOption{ParallelEnabled: false})
}

func newGWSServerWith(opt *gws.ServerOption) *gwsServer {
	s := &gwsServer{closes: map[int]int{}}
	up := gws.NewUpgrader(&gwsHandler{s: s}, opt)
	mux := http.NewServeMux()
	upgrade := func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.Session().Store("path", r.URL.Path)
		c.Session().Store("query", r.URL.Query())
		go c.ReadLoop()
	}
	mux.HandleFunc("/echo", upgrade)
	mux.HandleFunc("/close", upgrade)
	mux.HandleFunc("/masked", upgrade)
	mux.HandleFunc("/kill", upgrade)
	mux.HandleFunc("/503", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	s.Server = httptest.NewUnstartedServer(mux)
	return s
}

func (s *gwsServer) url(path string) string {
	return "ws://" + s.Listener.Addr().String() + path
}

func (s *gwsServer) closeCodes() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for k, v := range s.closes {
		out[k] = v
	}
	return out
}

type gwsHandler struct {
	gws.BuiltinEventHandler
	s *gwsServer
}

func (h *gwsHandler) OnOpen(c *gws.Conn) {
	h.s.mu.Lock()
	h.s.opened++
	h.s.mu.Unlock()
	path, _ := c.Session().Load("path")
	switch path {
	case "/close":
		q, _ := c.Session().Load("query")
		code, _ := strconv.Atoi(q.(url.Values).Get("code"))
		_ = c.WriteClose(uint16(code), nil)
	case "/kill":
		_ = c.NetConn().Close()
	case "/masked":
		// A masked text frame "hi" with key 1,2,3,4.
		_, _ = c.NetConn().Write([]byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2})
	}
}

func (h *gwsHandler) OnClose(c *gws.Conn, err error) {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		h.s.mu.Lock()
		h.s.closes[int(ce.Code)]++
		h.s.mu.Unlock()
	}
}

func (h *gwsHandler) OnPing(c *gws.Conn, payload []byte) {
	h.s.mu.Lock()
	h.s.pings++
	h.s.mu.Unlock()
	_ = c.WritePong(payload)
}

func (s *gwsServer) pingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings
}

func (h *gwsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	text := m.Data.String()
	if n, ok := strings.CutPrefix(text, "push "); ok {
		count, _ := strconv.Atoi(n)
		for i := range count {
			_ = c.WriteString(fmt.Sprintf(`{"seq":%d,"ts":%d}`, i, time.Now().UnixMicro()))
		}
		return
	}
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// readRequestKey reads an upgrade request and returns its key.
func readRequestKey(c net.Conn) (string, error) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return "", err
	}
	return req.Header.Get("Sec-WebSocket-Key"), nil
}

func acceptFor(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}
