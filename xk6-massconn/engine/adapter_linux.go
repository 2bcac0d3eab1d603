//go:build linux

package engine

import "github.com/massconn/massconn/xk6-massconn/engine/wsproto"

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

func (o *loopConn) Reject(code string) { o.l.reject(o.c, code, true) }

// reject ends an open session the server refused at the protocol level.
// The connection is not redialled: the server said no, and asking again at
// once would only repeat the answer.
func (l *loop) reject(c *conn, code string, sayClose bool) {
	if c.fd < 0 || c.state != stOpen {
		return
	}
	if sayClose {
		l.sendFrame(c, opClose, wsproto.ClosePayload(wsproto.CloseNormal, ""))
	}
	l.shard(c).reject(code)
	l.endSession(c)
	l.release(c)
	l.remove(c)
}

// closedAsRejection handles a server close frame that is the protocol's
// refusal; it echoes the code and reports true.
func (l *loop) closedAsRejection(c *conn, code int) bool {
	name, ok := c.pool.rejectedByClose(&c.proto, code)
	if !ok {
		return false
	}
	l.sendFrame(c, opClose, wsproto.ClosePayload(code, ""))
	l.reject(c, name, false)
	return true
}
