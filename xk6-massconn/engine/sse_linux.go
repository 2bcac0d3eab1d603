//go:build linux

package engine

import (
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

// EventSource connections in the event loop. They share the WebSocket path
// up to the request (connect, TLS for https://, pacing, timeouts) and its
// accounting (open, sessions, messages, latency, sequence, steps); from
// the request on, conn_linux.go hands them here at a few marked hooks:
// sendUpgrade, consume, lost, dropped, shutdown, release, redialOrRemove,
// the scan and selfClose.

// sseConn is what an EventSource connection keeps besides conn. It
// outlives the sessions of its slot: the last event ID and the server's
// retry are what a reconnect needs.
type sseConn struct {
	parser     sseParser
	body       sseBody
	lastByte   int64 // mono ns of the last byte received, this session
	maxSilence int64 // the longest stretch without a byte, this session
}

// sseDial gives a connection of an EventSource pool its state on its first
// dial.
func (l *loop) sseDial(c *conn) {
	if c.sse == nil && c.pool.targets[0].sse != nil {
		c.sse = &sseConn{parser: newSSEParser(c.pool.cfg.MaxMessageSize, c.pool.cfg.Reconnect)}
	}
}

// sseSend sends the GET request, with Last-Event-ID on a resume.
func (l *loop) sseSend(c *conn) bool {
	c.state = stHandshake
	c.sse.parser.restart()
	t := &c.pool.targets[c.idx%int64(len(c.pool.targets))]
	l.scratch = c.pool.sseRequestFor(l.scratch[:0], t, c.idx, c.sse.parser.lastID)
	return l.write(c, l.scratch)
}

// sseInput takes the bytes of an EventSource connection: the response head,
// then the body.
func (l *loop) sseInput(c *conn, data []byte) {
	s := c.sse
	if c.state == stHandshake {
		if data = l.sseHead(c, data); c.state != stOpen || len(data) == 0 {
			return
		}
	}
	if c.state != stOpen {
		return
	}
	s.heard(l.now)
	body, done, err := s.body.decode(data)
	if err == nil {
		l.sse.sink = sseLoopSink{l: l, c: c}
		err = s.parser.feed(body, &l.sse.scratch, &l.sse.sink)
	}
	switch {
	case err != nil:
		l.sseBroken(c)
	case done && c.fd >= 0 && c.state == stOpen:
		l.sseDrop(c, DropClosed)
	}
}

// heard notes a received byte at now, keeping the longest silence.
func (s *sseConn) heard(now int64) {
	s.maxSilence = max(s.maxSilence, now-s.lastByte)
	s.lastByte = now
}

// sseHead reads the response head; it returns the body bytes after it once
// the stream is open.
func (l *loop) sseHead(c *conn, data []byte) []byte {
	head := data
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		head = c.in
	}
	end := wsproto.HeadEnd(head)
	if end < 0 {
		if len(head) > wsproto.MaxResponseHead {
			l.sseFail(c, rHandshake, 0)
		} else if len(c.in) == 0 {
			c.in = append([]byte(nil), data...)
		}
		return nil
	}
	c.in = nil
	h, err := parseSSEHead(head[:end])
	switch {
	case err != nil:
		l.sseFail(c, rHandshake, 0)
	case h.status != 200:
		l.sseFail(c, rHTTP, h.status)
	case !h.eventStream:
		l.sseFail(c, rContentType, 0)
	default:
		c.sse.body = newSSEBody(h)
		c.sse.lastByte, c.sse.maxSilence = l.now, 0
		l.open(c)
		return head[end:]
	}
	return nil
}

// sseFail ends an attempt the server answered with something other than an
// event stream. Like a browser's EventSource, it does not retry: a 204 is
// the server's way to say stop, and anything else is not a stream.
func (l *loop) sseFail(c *conn, r reasonID, status int) {
	l.shard(c).fail(r, status)
	l.settleAttempt(c)
	l.release(c)
	l.remove(c)
}

// sseBroken ends a stream that broke the rules: an event over
// MaxMessageSize or a malformed chunked body. It counts as a protocol
// failure, as the same on a WebSocket does; with Reconnect the
// connection resumes after the retry time.
func (l *loop) sseBroken(c *conn) {
	if c.fd < 0 {
		return
	}
	l.shard(c).fail(rProtocol, 0)
	l.sseSessionEnded(c)
	l.endSession(c)
	l.release(c)
	l.redialOrRemove(c)
}

// sseDrop ends an open stream the server ended, lost or left silent.
func (l *loop) sseDrop(c *conn, reason string) {
	s := l.shard(c)
	s.dropped.Add(1)
	s.sse.dropped(reason)
	l.sseSessionEnded(c)
	l.endSession(c)
	l.release(c)
	l.redialOrRemove(c)
}

// sseLost is lost for an open stream.
func (l *loop) sseLost(c *conn, err error) {
	if err == nil {
		l.sseDrop(c, DropClosed)
		return
	}
	l.sseDrop(c, DropReset)
}

// sseSessionEnded samples the session's longest silence, the stretch up to
// now included.
func (l *loop) sseSessionEnded(c *conn) {
	s := c.sse
	s.heard(l.now)
	l.shard(c).sse.silenceSample(time.Duration(s.maxSilence), c.pool.cfg.SampleLimit, &l.rng)
}

// sseEnd ends an open stream without a close handshake (Pool.Close, a
// close step, a lifetime): an EventSource just lets go of the socket.
func (l *loop) sseEnd(c *conn) {
	l.sseSessionEnded(c)
	l.endSession(c)
	l.closedOrReopen(c)
}

// sseScan is the periodic scan of an open stream: it drops one silent for
// IdleTimeout and reports whether the connection is still open.
func (l *loop) sseScan(c *conn) bool {
	idle := c.pool.cfg.IdleTimeout
	if idle > 0 && l.now-c.sse.lastByte >= int64(idle) {
		l.sseDrop(c, DropIdle)
		return false
	}
	return true
}

// sseRetry is the wait before a stream reconnects: the server's retry (or
// DefaultSSERetry), plus up to a tenth of it of jitter so that a restarted
// server is not met by every client at once.
func (l *loop) sseRetry(c *conn) int64 {
	retry := int64(DefaultSSERetry)
	if r := c.sse.parser.retry; r > 0 {
		retry = int64(r)
	}
	return retry + int64(nextRand(&l.rng)%uint64(retry/10+1))
}

// sseLoop is what a loop lends its EventSource connections.
type sseLoop struct {
	scratch []byte // the data of events that begin and end in one read
	sink    sseLoopSink
}

// sseLoopSink is the parser's sink for one connection of a loop.
type sseLoopSink struct {
	l *loop
	c *conn
}

func (k *sseLoopSink) sseEvent(typ, data []byte) {
	c := k.c
	if c.fd < 0 || c.state != stOpen || !c.pool.cfg.SSE.wants(typ) {
		return
	}
	k.l.bind(c).Deliver(data)
}

func (k *sseLoopSink) sseComment() { k.l.shard(k.c).sse.comments.Add(1) }

// wants reports whether an event of type typ counts ("" is "message").
func (s *SSE) wants(typ []byte) bool {
	if s == nil || len(s.Events) == 0 {
		return true
	}
	for _, e := range s.Events {
		if e == string(typ) || (len(typ) == 0 && e == "message") {
			return true
		}
	}
	return false
}
