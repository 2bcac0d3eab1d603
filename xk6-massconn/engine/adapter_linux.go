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

func (o *loopConn) Send(text []byte) { o.l.sendMessage(o.c, opText, text) }

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
