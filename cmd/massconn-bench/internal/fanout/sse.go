package fanout

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/massconn/massconn/internal/sse"
)

// dialSSE opens connection i as an EventSource does: GET the url with
// Accept: text/event-stream over a socket from the connection's source
// address, and wait for a 200 with that content type. Written by hand, not
// with net/http's client, so that each connection's source address is ours
// and no pool or idle timeout of the client's is in the way.
func (f *fleet) dialSSE(i int) (net.Conn, func(), error) {
	src := f.source(i)
	fail := func(err error) (net.Conn, func(), error) {
		return nil, nil, fmt.Errorf("connection %d from %s: %w", i, src, err)
	}
	u, err := url.Parse(f.url)
	if err != nil {
		return fail(err)
	}
	d := net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		return fail(err)
	}
	// A server busy accepting thousands answers late, but answers.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return fail(fmt.Errorf("send the request: %w", err))
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), nil) //nolint:bodyclose // the stream's reader, readSSE, closes it
	if err != nil {
		conn.Close()
		return fail(fmt.Errorf("read the response head: %w", err))
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		_ = resp.Body.Close()
		conn.Close()
		return fail(fmt.Errorf("GET %s answered %s with Content-Type %q; want 200 and text/event-stream", f.url, resp.Status, resp.Header.Get("Content-Type")))
	}
	_ = conn.SetDeadline(time.Time{})
	c := &client{f: f}
	return conn, func() { c.readSSE(resp.Body) }, nil
}

// readSSE reads the stream (its chunked encoding undone by body) until it
// ends, counting each event's data as a message, whatever its type.
func (c *client) readSSE(body io.ReadCloser) {
	defer body.Close()
	buf := make([]byte, 1024)
	var now int64 // when the chunk holding the event arrived
	p := sse.Parser{OnEvent: func(ev sse.Event) { c.receive(ev.Data, now) }}
	for {
		n, err := body.Read(buf)
		if n > 0 {
			now = time.Now().UnixMicro()
			if perr := p.Feed(buf[:n]); perr != nil {
				c.f.lost(perr.Error())
				return
			}
		}
		if err != nil {
			reason := "stream read error"
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				reason = "stream ended by the server"
			}
			c.f.lost(reason)
			return
		}
	}
}
