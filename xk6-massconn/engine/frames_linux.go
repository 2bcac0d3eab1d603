//go:build linux

package engine

import (
	"errors"
	"unicode/utf8"

	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

// partialPrealloc is the largest partial frame whose buffer is sized for the
// whole frame at once. Larger frames grow their buffer as their bytes
// arrive, so a server announcing a huge frame costs only what it sent.
const partialPrealloc = 2 * readBufSize

// parseHeader parses a frame header, allowing the compressed bit when the
// connection negotiated permessage-deflate.
func (l *loop) parseHeader(c *conn, data []byte) (wsproto.Header, error) {
	if c.flags&flDeflate != 0 {
		return wsproto.ParseServerHeaderDeflate(data)
	}
	return wsproto.ParseServerHeader(data)
}

// checkUpgrade validates the 101 response, with permessage-deflate when the
// pool offered it; a server that accepts it marks the connection. The mark
// is set afresh for every session: a reconnect may reach a server that
// declines what the previous one accepted.
func (l *loop) checkUpgrade(c *conn, head []byte) error {
	p := c.pool
	c.flags &^= flDeflate
	if !p.cfg.Compression {
		return wsproto.CheckResponse(head, c.hs.key[:], p.cfg.Subprotocols)
	}
	_, accepted, err := wsproto.CheckResponseDeflate(head, c.hs.key[:], p.cfg.Subprotocols)
	if accepted {
		c.flags |= flDeflate
	}
	return err
}

// overLimit reports whether the frame whose header is h would take the
// message past MaxMessageSize, counting the fragments already reassembled.
func (l *loop) overLimit(c *conn, h wsproto.Header) bool {
	limit := c.pool.cfg.MaxMessageSize
	if h.Length > limit {
		return true
	}
	return h.Opcode == wsproto.OpContinuation && c.msg != nil && int64(len(c.msg.data))+h.Length > limit
}

// keepPartial keeps the bytes of a frame that straddles reads in c.in.
func (l *loop) keepPartial(c *conn, data []byte) {
	if len(c.in) > 0 && cap(c.in) >= len(data) {
		c.in = c.in[:copy(c.in, data)]
		return
	}
	need := len(data)
	if h, err := l.parseHeader(c, data); err == nil && h.Size > 0 {
		if whole := int64(h.Size) + h.Length; whole <= partialPrealloc {
			need = int(whole) // small: grow once
		}
	}
	buf := make([]byte, len(data), need)
	copy(buf, data)
	c.in = buf
}

// complete takes a whole data message (all fragments reassembled) and
// hands it to message once it is acceptable. A compressed message is
// inflated first with the loop's inflater; past MaxMessageSize the session
// ends with 1009, on corrupt deflate data with 1002. Text must be UTF-8
// (RFC 6455 section 8.1; a character may straddle fragments, so the check
// is on the whole message), else the session ends with 1007. All are
// protocol failures.
func (l *loop) complete(c *conn, op byte, compressed bool, data []byte) {
	if compressed {
		var err error
		if data, err = l.inflater.inflate(data, c.pool.cfg.MaxMessageSize); err != nil {
			code := wsproto.CloseProtocolError
			if errors.Is(err, errTooBig) {
				code = wsproto.CloseTooBig
			}
			l.violation(c, code)
			return
		}
	}
	if op == opText && !utf8.Valid(data) {
		l.violation(c, wsproto.CloseInvalidData)
		return
	}
	l.message(c, op, data)
}

// backpressure ends a connection whose server stopped reading: more than
// SendQueueLimit bytes wait for its socket. No close frame is possible
// (nothing more can be written), so the socket is simply released.
func (l *loop) backpressure(c *conn) {
	l.shard(c).fail(rBackpressure, 0)
	if c.state == stOpen || c.state == stClosing {
		l.endSession(c)
	}
	l.release(c)
	l.redialOrRemove(c)
}
