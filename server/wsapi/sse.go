package wsapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/metrics"
	"github.com/massconn/massconn/server/pgsource"
)

// Server-sent events: GET /sse?topic=T streams every committed row of the
// topics as a text/event-stream response, one event per row with the
// row's position as its id and the WebSocket message's JSON as its data.
// The guarantees are the WebSocket path's: the same guards, the same
// --max-conns count, the same hub (queues, pacing, slow-client rule) and
// the same resume (Last-Event-ID, which EventSource sends by itself when
// it reconnects, or ?after=POS). What the WebSocket path closes with 4410
// before any row is sent is answered 410 Gone here, with a one-line
// reason, before the stream starts (EventSource then stops reconnecting);
// a gap found later (history pruned while the resume reads it, or rows
// lost while the server's listener was down) ends the stream.
//
// The response is written on the hijacked socket: HTTP/1.1 with no
// Content-Length and no chunking, so the body runs until the server
// closes the connection, and the hub writes events straight to the
// socket. A client sends nothing after its request, so the connection
// costs no read goroutine: it is parked (park.go) only to notice the peer
// going away.

// sseStream is one SSE connection: its subscriber and the parking state
// that notices its peer leaving.
type sseStream struct {
	session // the parker's handle (session.stream points back here)
	a       *API
	sock    net.Conn
	ended   atomic.Bool
}

// sseHeader is the 200 response's head. No Content-Length and no
// Transfer-Encoding: the stream ends when the connection closes.
// X-Accel-Buffering keeps nginx from buffering the stream.
const sseHeader = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"X-Accel-Buffering: no\r\n"

func (a *API) serveSSE(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		a.reject(w, hub.SSE, http.StatusMethodNotAllowed, metrics.RejectMethod, "/sse takes GET (EventSource's request)")
		return
	}
	adm, ok := a.admit(w, r, hub.SSE)
	if !ok {
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		a.conns.Add(-1)
		a.reject(w, hub.SSE, http.StatusInternalServerError, metrics.RejectHandshake, "this connection cannot stream events")
		return
	}
	c, _, err := hj.Hijack()
	if err != nil {
		a.conns.Add(-1)
		a.metrics.Reject(hub.SSE, metrics.RejectHandshake)
		return
	}
	if rc, ok := c.(*replayConn); ok {
		// Bytes behind the request mean nothing to an event stream: the
		// socket itself is enough (the parker reads it directly).
		c = rc.release()
	}
	// The request's read deadline (--handshake-timeout) must not end the
	// stream.
	_ = c.SetDeadline(time.Time{})
	// Access-Control-Allow-Origin: an EventSource on another origin may read
	// the stream only with it. The origin guard has already refused origins
	// not in --allowed-origins.
	cors := "*"
	if len(a.cfg.AllowedOrigins) > 0 {
		cors = r.Header.Get("Origin")
	}
	if adm.resume {
		// Reading the log must not hold up the accept loop this may run in.
		go a.startSSE(c, adm, cors)
		return
	}
	a.startSSE(c, adm, cors)
}

// startSSE answers an admitted /sse request on its hijacked socket: a
// refusal the resume cannot serve (410, or 503 while the log cannot be
// read), or the 200 head, after which the connection joins the hub.
func (a *API) startSSE(c net.Conn, adm admission, cors string) {
	if adm.resume {
		if status, reason := a.checkResume(adm.mask, adm.after); status != 0 {
			a.conns.Add(-1)
			writeRefusal(c, status, reason, a.cfg.HandshakeTimeout)
			return
		}
	}
	head := sseHeader
	if cors != "" {
		head += "Access-Control-Allow-Origin: " + cors + "\r\n"
	}
	head += "\r\n"
	// An empty send buffer takes the head at once; the deadline bounds a
	// peer that reads nothing.
	_ = c.SetWriteDeadline(time.Now().Add(a.cfg.HandshakeTimeout))
	if _, err := c.Write([]byte(head)); err != nil {
		a.conns.Add(-1)
		a.metrics.Reject(hub.SSE, metrics.RejectHandshake)
		_ = c.Close()
		return
	}
	_ = c.SetWriteDeadline(time.Time{})
	st := &sseStream{a: a, sock: c}
	st.stream = st
	// Joined after the head is written: the hub writes nothing before it.
	// A resume joins catching up before the log is read (see resume).
	st.sub = a.hub.JoinStream(c, hub.SSE, adm.mask, adm.resume, adm.after, st)
	if adm.resume {
		go a.resume(st.sub, adm.after)
	}
	a.metrics.Accepted.Inc()
	a.accepted[hub.SSE].Inc()
	if a.closing.Load() {
		// As for /ws: a shutdown sweep that ran before the Join missed it.
		go st.sub.Close(1001, "server shutting down", a.cfg.HandshakeTimeout)
	}
	if parkable(c) {
		st.raw = st.sub.RawConn()
	}
	if st.raw == nil || !a.parker.park(&st.session) {
		st.startReading()
	}
}

// checkResume finds what resume would close with 4410 before the stream
// starts: a position ahead of the log, or history pruned after it. It
// returns 0 if the resume can go ahead, else the status and reason to
// answer with.
func (a *API) checkResume(mask uint64, after int64) (int, string) {
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.HandshakeTimeout)
	defer cancel()
	head, err := a.cfg.Log.SequenceHead(ctx)
	if err != nil {
		a.cfg.Logger.Warn("sse resume: reading the log head failed", "err", err)
		return http.StatusServiceUnavailable, "the history cannot be read right now; retry"
	}
	if after > head {
		a.metrics.Resumes.WithLabelValues(metrics.ResumeAhead).Inc()
		return http.StatusGone, fmt.Sprintf("position %s is ahead of this database's log (was it reset?); reconnect without Last-Event-ID or after", pgsource.FormatPos(after))
	}
	_, err = a.cfg.Log.ReadLog(ctx, after, a.hub.Topics(mask), 1)
	if errors.Is(err, pgsource.ErrPruned) {
		a.metrics.Resumes.WithLabelValues(metrics.ResumePruned).Inc()
		return http.StatusGone, fmt.Sprintf("history after position %s was pruned (%v); reload and reconnect without Last-Event-ID or after", pgsource.FormatPos(after), err)
	}
	if err != nil {
		a.cfg.Logger.Warn("sse resume: reading the log failed", "err", err)
		return http.StatusServiceUnavailable, "the history cannot be read right now; retry"
	}
	return 0, ""
}

// writeRefusal writes a whole plain-text error response and closes c.
func writeRefusal(c net.Conn, status int, reason string, timeout time.Duration) {
	body := reason + "\n"
	resp := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Connection: close\r\n\r\n" + body
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	_, _ = c.Write([]byte(resp))
	_ = c.Close()
}

// end lets the stream go, once: out of the poller, socket closed, its
// --max-conns slot freed and out of the hub, in that order (as /ws's
// OnClose): once the hub no longer counts it, a new connection is
// admitted.
func (st *sseStream) end() {
	if !st.ended.CompareAndSwap(false, true) {
		return
	}
	st.a.parker.remove(&st.session)
	_ = st.sock.Close()
	st.a.conns.Add(-1)
	st.a.hub.Leave(st.sub)
}

// readUntilEnd is the stream's read while it is not parked (TLS, or the
// poller is gone): a goroutine that waits for the peer to go away, reading
// and dropping whatever it sends.
func (st *sseStream) readUntilEnd() {
	var buf [512]byte
	for {
		if _, err := st.sock.Read(buf[:]); err != nil {
			st.end()
			return
		}
	}
}
