// Package wstest is a WebSocket client for tests of massconn-server: a
// real gws client that records every message and how the connection ended,
// plus a raw-TCP handshake for tests that must misbehave on the wire.
package wstest

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// Timeout bounds every wait, only so that a broken server fails the test
// instead of hanging it.
const Timeout = 60 * time.Second

// WaitCount waits until count() is want, up to Timeout; what names the
// count in the failure ("hub subscribers").
func WaitCount(tb testing.TB, what string, count func() int64, want int64) {
	tb.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		got := count()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: %d, want %d", what, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Message mirrors the server's JSON message.
type Message struct {
	Topic string          `json:"topic"`
	Op    string          `json:"op"`
	ID    int64           `json:"id"`
	Pos   string          `json:"pos"`
	TS    int64           `json:"ts"`
	Row   json.RawMessage `json:"row"`
}

// Client is a connected WebSocket client.
type Client struct {
	Conn *gws.Conn

	mu       sync.Mutex
	msgs     []Message
	bad      []string // messages that did not decode
	arrived  chan struct{}
	closed   chan struct{}
	closeErr error
}

// Dial connects to url (ws://host/ws?...) and starts reading. The client
// answers pings, as every WebSocket client should.
func Dial(tb testing.TB, url string) *Client {
	tb.Helper()
	return DialTLS(tb, url, nil)
}

// DialTLS is Dial for a wss:// url, trusting what tlsConfig trusts.
func DialTLS(tb testing.TB, url string, tlsConfig *tls.Config) *Client {
	tb.Helper()
	c, resp, err := dial(url, tlsConfig)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	tb.Cleanup(func() { _ = c.Conn.NetConn().Close() })
	return c
}

// DialErr is Dial without a testing.TB, returning the HTTP response of a
// refused upgrade.
func DialErr(url string) (*Client, *http.Response, error) { return dial(url, nil) }

func dial(url string, tlsConfig *tls.Config) (*Client, *http.Response, error) {
	c := &Client{arrived: make(chan struct{}, 1), closed: make(chan struct{})}
	conn, resp, err := gws.NewClient(handler{c}, &gws.ClientOption{Addr: url, CheckUtf8Enabled: true, TlsConfig: tlsConfig})
	if err != nil {
		return nil, resp, err
	}
	c.Conn = conn
	go conn.ReadLoop()
	return c, resp, nil
}

type handler struct{ c *Client }

func (handler) OnOpen(*gws.Conn) {}

func (h handler) OnClose(_ *gws.Conn, err error) {
	h.c.mu.Lock()
	h.c.closeErr = err
	h.c.mu.Unlock()
	close(h.c.closed)
}

func (handler) OnPing(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }
func (handler) OnPong(*gws.Conn, []byte)                {}

func (h handler) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	var m Message
	err := json.Unmarshal(msg.Bytes(), &m)
	h.c.mu.Lock()
	if err != nil {
		h.c.bad = append(h.c.bad, msg.Data.String())
	} else {
		h.c.msgs = append(h.c.msgs, m)
	}
	h.c.mu.Unlock()
	select {
	case h.c.arrived <- struct{}{}:
	default:
	}
}

// Messages is a copy of what arrived so far.
func (c *Client) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs...)
}

// Undecodable lists messages that were not valid JSON messages.
func (c *Client) Undecodable() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bad...)
}

// WaitMessages waits until at least n messages arrived, or the connection
// ended, or Timeout; it returns what arrived.
func (c *Client) WaitMessages(tb testing.TB, n int) []Message {
	tb.Helper()
	deadline := time.After(Timeout)
	for {
		if m := c.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-c.arrived:
		case <-c.closed:
			m := c.Messages()
			if len(m) < n {
				tb.Fatalf("connection closed (%v) after %d of %d messages", c.CloseErr(), len(m), n)
			}
			return m
		case <-deadline:
			m := c.Messages()
			tb.Fatalf("got %d of %d messages within %v", len(m), n, Timeout)
			return m
		}
	}
}

// Closed reports whether the connection has ended.
func (c *Client) Closed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// CloseErr is why the connection ended (nil while open).
func (c *Client) CloseErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// WaitClose waits for the connection to end and returns the close code the
// server sent (0 if it sent none).
func (c *Client) WaitClose(tb testing.TB) uint16 {
	tb.Helper()
	select {
	case <-c.closed:
	case <-time.After(Timeout):
		tb.Fatalf("connection still open after %v", Timeout)
	}
	var ce *gws.CloseError
	if errors.As(c.CloseErr(), &ce) {
		return ce.Code
	}
	return 0
}

// RawConn is a WebSocket connection with nothing on top: the test writes and
// reads frames itself.
type RawConn struct {
	net.Conn
	R *bufio.Reader
}

// RawHandshake opens a TCP connection to addr and upgrades path; it fails
// the test unless the server answers 101.
func RawHandshake(tb testing.TB, addr, path string, dialer *net.Dialer) *RawConn {
	tb.Helper()
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(Timeout))
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatalf("write handshake: %v", err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		tb.Fatalf("read handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("handshake: HTTP %d, want 101", resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Time{})
	return &RawConn{Conn: conn, R: r}
}

// Frame is one frame as read off the wire.
type Frame struct {
	Fin     bool
	Opcode  byte
	Payload []byte
}

// CloseCode is the status code of a close frame (0 if none).
func (f Frame) CloseCode() uint16 {
	if f.Opcode != 0x8 || len(f.Payload) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(f.Payload)
}

// ReadFrame reads one unmasked (server-to-client) frame.
func (c *RawConn) ReadFrame() (Frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.R, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Fin: h[0]&0x80 != 0, Opcode: h[0] & 0x0f}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.R, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.R, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 {
		return f, errors.New("server sent a masked frame")
	}
	if n > 1<<24 {
		return f, fmt.Errorf("frame of %d bytes", n)
	}
	f.Payload = make([]byte, n)
	_, err := io.ReadFull(c.R, f.Payload)
	return f, err
}

// ReadUntilClose reads frames until a close frame or the end of the
// connection; it returns the close frame's code (0 if the connection ended
// without one).
func (c *RawConn) ReadUntilClose() (uint16, error) {
	_ = c.SetReadDeadline(time.Now().Add(Timeout))
	for {
		f, err := c.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) || isReset(err) {
				return 0, nil
			}
			return 0, err
		}
		if f.Opcode == 0x8 {
			return f.CloseCode(), nil
		}
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// MaskedFrame builds a client frame (masked, as RFC 6455 requires).
func MaskedFrame(fin bool, opcode byte, payload []byte) []byte {
	var b []byte
	first := opcode & 0x0f
	if fin {
		first |= 0x80
	}
	b = append(b, first)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, mask[:]...)
	for i, p := range payload {
		b = append(b, p^mask[i%4])
	}
	return b
}
