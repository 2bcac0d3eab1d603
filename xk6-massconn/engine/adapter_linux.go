//go:build linux

package engine

import (
	"github.com/massconn/massconn/xk6-massconn/engine/template"
	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

// loopConn is protocol.Conn for a connection of an event loop. The loop
// keeps one and rebinds it per call, so the message path allocates nothing.
type loopConn struct {
	l *loop
	c *conn
}

func (l *loop) bind(c *conn) *loopConn {
	l.out = loopConn{l: l, c: c}
	return &l.out
}

func (o *loopConn) Send(msg []byte) { o.l.sendMessage(o.c, o.c.pool.dataOp(), msg) }

func (o *loopConn) Deliver(payload []byte) {
	if o.l.programMessage(o.c, payload) {
		// Taken by an expect step: counted, and measured as massconn_rtt
		// rather than by the latency path.
		o.l.shard(o.c).received.Add(1)
		return
	}
	o.c.pool.deliver(o.l.shard(o.c), o.c.idx, o.l.wall, payload)
}

func (o *loopConn) Reject(code string) { o.l.reject(o.c, code) }

// Vars are the connection's template variables, for the adapter's
// per-connection messages.
func (o *loopConn) Vars() template.Vars { return o.c.pool.vars(o.c.idx) }

func (o *loopConn) Drop(code int) { o.l.adapterDrop(o.c, code) }

// Kept and Keep hold a partial protocol packet in a map of the loop rather
// than in the connection, which stays as small as in raw mode: only the
// few connections caught mid-packet have an entry.
func (o *loopConn) Kept() []byte {
	if len(o.l.kept) == 0 {
		return nil
	}
	return o.l.kept[o.c]
}

func (o *loopConn) Keep(partial []byte) bool {
	if len(partial) == 0 {
		delete(o.l.kept, o.c)
		return true
	}
	if int64(len(partial)) > o.c.pool.cfg.MaxMessageSize {
		o.l.violation(o.c, wsproto.CloseTooBig)
		return false
	}
	if o.l.kept == nil {
		o.l.kept = map[*conn][]byte{}
	}
	o.l.kept[o.c] = append(o.l.kept[o.c][:0], partial...)
	return true
}

// reject ends an open session the adapter found refused at the protocol
// level, with a normal close. Like a refusal by close code (serverClosed)
// it is not redialled.
func (l *loop) reject(c *conn, code string) {
	if c.fd < 0 || c.state != stOpen {
		return
	}
	l.sendFrame(c, opClose, wsproto.ClosePayload(wsproto.CloseNormal, ""))
	l.shard(c).reject(code)
	l.endSession(c)
	l.release(c)
	l.remove(c)
}

// adapterDrop ends an open session the adapter found lost (no answer to
// its keep-alive): a close frame with code, a drop counted under it, and a
// reconnect if the pool asks for them.
func (l *loop) adapterDrop(c *conn, code int) {
	if c.fd < 0 || c.state != stOpen {
		return
	}
	l.sendFrame(c, opClose, wsproto.ClosePayload(code, ""))
	if c.fd < 0 {
		return // the close failed: lost() counted the session
	}
	l.dropped(c, code)
}
