//go:build linux

package engine

import (
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

// The event loop's side of programs and churn. conn_linux.go and
// loop_linux.go call in here at a few points: a session opened
// (programOpened), an application message or a protocol answer arrived
// (programMessage), the periodic scan (programTick) and a self-closed
// session ended (closedOrReopen).

// progScratch holds a loop's buffers for rendered and wrapped messages;
// l.scratch is taken by the frame being written.
type progScratch struct {
	text []byte
	wrap []byte
}

func (l *loop) progShard(c *conn) *progShard { return &c.pool.prog.shards[l.id] }

func (l *loop) env(c *conn) program.Env {
	p := c.pool
	return program.Env{
		Now: l.now, Wall: l.wall, Conn: p.cfg.ConnOffset + c.idx, VU: p.cfg.VU,
		Rng: &l.rng, Data: p.cfg.Data, Buf: &l.prog.text, Host: l.bind(c),
	}
}

// monoMillis is l.now in the 32-bit milliseconds of program.State.LifeEnd.
func (l *loop) monoMillis() uint32 { return uint32(l.now/int64(time.Millisecond)) + 1 }

// programOpened draws the session's lifetime and starts its program.
func (l *loop) programOpened(c *conn) {
	pp := c.pool.prog
	if pp == nil {
		return
	}
	if pp.churns() {
		life := program.Uniform(&l.rng, pp.lifeMin, pp.lifeMax)
		if c.prog.LifeEnd == 0 {
			// A slot's first session lives a uniform fraction of its
			// lifetime, as if the pool had been churning for ever: slots
			// opened together then do not close together, and sessions end
			// at an even rate from the start instead of in waves.
			life = time.Duration(nextRand(&l.rng) % uint64(life+1))
		}
		c.prog.LifeEnd = l.monoMillis() + uint32(life/time.Millisecond)
	}
	if pp.prog != nil {
		e := l.env(c)
		pp.prog.Start(&c.prog, &e)
	}
}

// programMessage offers an application message (or a protocol's answer) to
// the connection's program; true when an expect step took it.
func (l *loop) programMessage(c *conn, msg []byte) bool {
	pp := c.pool.prog
	if pp == nil || pp.prog == nil || c.state != stOpen {
		return false
	}
	e := l.env(c)
	return pp.prog.Message(&c.prog, msg, &e)
}

// programTick runs an open connection's timers from the periodic scan.
func (l *loop) programTick(c *conn) {
	pp := c.pool.prog
	if pp == nil {
		return
	}
	if pp.churns() && l.monoMillis() >= c.prog.LifeEnd {
		l.selfClose(c, wsproto.CloseNormal)
		return
	}
	if pp.prog != nil && c.prog.Wake != 0 && l.now >= c.prog.Wake {
		e := l.env(c)
		pp.prog.Tick(&c.prog, &e)
	}
}

// selfClose starts the close handshake of a session that ends itself: a
// close step, an expect that timed out with onTimeout 'close', its lifetime.
func (l *loop) selfClose(c *conn, code int) {
	if c.state != stOpen || c.fd < 0 {
		return
	}
	if c.sse != nil {
		l.sseEnd(c) // an EventSource has no close handshake
		return
	}
	c.state = stClosing
	c.deadline = l.now + int64(selfCloseGrace)
	l.sendFrame(c, opClose, wsproto.ClosePayload(code, ""))
}

// closedOrReopen ends a session whose close handshake finished (or whose
// grace passed): with a lifetime the slot reopens, otherwise it is done.
func (l *loop) closedOrReopen(c *conn) {
	p := c.pool
	if !p.prog.churns() || p.closing.Load() {
		l.finish(c)
		return
	}
	l.release(c)
	l.progShard(c).churn.Add(1)
	l.reopen(c)
}

// reopen schedules a new session on c's slot. It waits in stRedial until
// mayRedial grants a MaxInFlight slot and a Rate token, the pacing of every
// reconnect and of the pool's first dials.
func (l *loop) reopen(c *conn) {
	c.state = stRedial
	c.retries = 0
	c.deadline = l.now
	c.flags &^= flCloseEchoed // the new session has not closed (checkUpgrade sets flDeflate afresh)
}

// program.Host for a connection of an event loop.

func (o *loopConn) SendText(b []byte, qos uint8) {
	if s, ok := o.c.pool.cfg.Protocol.(protocol.Sender); ok {
		o.l.prog.wrap = s.AppendSend(o.l.prog.wrap[:0], &o.c.proto, b, qos)
		b = o.l.prog.wrap
		o.l.sendMessage(o.c, o.c.pool.dataOp(), b) // in the protocol's own kind of message
		return
	}
	o.l.sendMessage(o.c, opText, b)
}

func (o *loopConn) SendBinary(b []byte) { o.l.sendMessage(o.c, opBinary, b) }

func (o *loopConn) Close(code int) { o.l.selfClose(o.c, code) }

func (o *loopConn) RTT(d time.Duration) { o.l.progShard(o.c).rttSample(d, o.c.pool.cfg.SampleLimit) }

func (o *loopConn) ExpectTimeout() { o.l.progShard(o.c).timeouts.Add(1) }

// Ack is protocol.Acker: a protocol's answer to the program's request.
func (o *loopConn) Ack(payload []byte) { o.l.programMessage(o.c, payload) }
