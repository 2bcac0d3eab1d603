// Package ssetest is a server-sent events client for tests of the
// server's /sse endpoint: it reads the raw stream from a socket, so tests
// see exactly the bytes the server wrote.
package ssetest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/sse"
	"github.com/massconn/massconn/server/internal/wstest"
)

// Event is one server-sent event: its data, and the last event ID when it
// was dispatched (the server writes an id with every event).
type Event struct {
	ID   string
	Data string
}

// Client is one open event stream.
type Client struct {
	Conn     net.Conn
	Response *http.Response
	br       *bufio.Reader

	mu       sync.Mutex
	events   []Event
	comments int
	err      error         // why the stream ended
	ended    chan struct{} // closed when the stream ends
	changed  chan struct{} // signalled on every event, comment and the end
}

// Request sends GET path to addr with header and reads the response head.
func Request(tb testing.TB, addr, path string, header http.Header, dialer *net.Dialer) (*http.Response, net.Conn, *bufio.Reader) {
	tb.Helper()
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	resp, br := RequestOn(tb, c, addr, path, header)
	return resp, c, br
}

// RequestOn is Request on a connection of the caller's (TLS, say).
func RequestOn(tb testing.TB, c net.Conn, addr, path string, header http.Header) (*http.Response, *bufio.Reader) {
	tb.Helper()
	tb.Cleanup(func() { c.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
	for k, vs := range header {
		for _, v := range vs {
			req += k + ": " + v + "\r\n"
		}
	}
	_ = c.SetDeadline(time.Now().Add(wstest.Timeout))
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		tb.Fatalf("send request: %v", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	_ = c.SetDeadline(time.Time{})
	return resp, br
}

// Dial opens a stream and fails the test unless the server answers 200
// with text/event-stream.
func Dial(tb testing.TB, addr, path string, header http.Header) *Client {
	tb.Helper()
	return DialWith(tb, addr, path, header, nil)
}

// DialWith is Dial with a dialer of the caller's.
func DialWith(tb testing.TB, addr, path string, header http.Header, dialer *net.Dialer) *Client {
	tb.Helper()
	c := Open(tb, addr, path, header, dialer)
	c.Start()
	return c
}

// DialOn opens a stream on c, a connection of the caller's, as Dial does.
func DialOn(tb testing.TB, c net.Conn, addr, path string, header http.Header) *Client {
	tb.Helper()
	resp, br := RequestOn(tb, c, addr, path, header)
	tb.Cleanup(func() { _ = resp.Body.Close() }) // the stream is read from br
	cl := start(tb, c, resp, br, path)
	cl.Start()
	return cl
}

// Open is DialWith, except that nothing is read from the stream until
// Start: a client that stops reading.
func Open(tb testing.TB, addr, path string, header http.Header, dialer *net.Dialer) *Client {
	tb.Helper()
	resp, c, br := Request(tb, addr, path, header, dialer)
	tb.Cleanup(func() { _ = resp.Body.Close() }) // the stream is read from br
	return start(tb, c, resp, br, path)
}

func start(tb testing.TB, c net.Conn, resp *http.Response, br *bufio.Reader, path string) *Client {
	tb.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		tb.Fatalf("GET %s: HTTP %d %q; want 200 text/event-stream", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &Client{Conn: c, Response: resp, br: br, ended: make(chan struct{}), changed: make(chan struct{}, 1)}
}

// Start reads the stream from now on.
func (c *Client) Start() { go c.read(c.br) }

// read parses the stream as an EventSource does (internal/sse), so a
// test sees what a browser would make of the server's bytes, until the
// stream ends or breaks the parser's bounds.
func (c *Client) read(br *bufio.Reader) {
	p := sse.Parser{
		OnEvent: func(e sse.Event) {
			c.mu.Lock()
			c.events = append(c.events, Event{ID: string(e.ID), Data: string(e.Data)})
			c.mu.Unlock()
			c.signal()
		},
		OnComment: func([]byte) {
			c.mu.Lock()
			c.comments++
			c.mu.Unlock()
			c.signal()
		},
	}
	buf := make([]byte, 4096)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if perr := p.Feed(buf[:n]); perr != nil {
				err = perr
			}
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			close(c.ended)
			c.signal()
			return
		}
	}
}

func (c *Client) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Comments is how many comment lines (keep-alives) arrived.
func (c *Client) Comments() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.comments
}

// Events are the events so far.
func (c *Client) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// WaitFor waits until done (called under no lock) is true, or fails.
func (c *Client) WaitFor(tb testing.TB, what string, done func() bool) {
	tb.Helper()
	timeout := time.After(wstest.Timeout)
	for !done() {
		select {
		case <-c.changed:
		case <-timeout:
			tb.Fatalf("waited %v for %s", wstest.Timeout, what)
		}
	}
}

// WaitMessages waits for n events and returns them decoded; each event's
// id must be its message's pos.
func (c *Client) WaitMessages(tb testing.TB, n int) []wstest.Message {
	tb.Helper()
	c.WaitFor(tb, fmt.Sprintf("%d events", n), func() bool { return len(c.Events()) >= n || c.Ended() })
	return Decode(tb, c.Events())
}

// Decode turns events into messages, failing on an event whose id is not
// its message's pos.
func Decode(tb testing.TB, events []Event) []wstest.Message {
	tb.Helper()
	msgs := make([]wstest.Message, 0, len(events))
	for _, ev := range events {
		var m wstest.Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			tb.Fatalf("event data %q: %v", ev.Data, err)
		}
		if ev.ID != m.Pos {
			tb.Errorf("event id %q, message pos %q: want the same", ev.ID, m.Pos)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// Ended reports whether the stream has ended.
func (c *Client) Ended() bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

// WaitEnd waits for the server to end the stream.
func (c *Client) WaitEnd(tb testing.TB) {
	tb.Helper()
	select {
	case <-c.ended:
	case <-time.After(wstest.Timeout):
		tb.Fatalf("stream did not end within %v", wstest.Timeout)
	}
}
