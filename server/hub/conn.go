package hub

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// QueuedConn is the net.Conn to hand gws for a connection that will join
// the hub, so that gws's own writes keep the order of the subscriber's
// queue.
//
// After the upgrade the hub writes every frame itself (writer.go), but gws
// still writes by itself in a few cases: when a read fails its ReadLoop
// sends a close frame (1002 protocol error, 1007 invalid UTF-8, 1009 too
// big, 1000 with the error's text for any other read error) and closes the
// socket; when the client sends a close frame it answers with one; a
// failed SetDeadline sends 1001; WritePing, WritePong and WriteMessage
// write straight to the socket. Written to the socket directly, such a
// frame could land inside a data frame the hub's writer had only partly
// handed to a full socket, and the client read a corrupt stream instead of
// the close code.
//
// Until the connection joins the hub, QueuedConn is the socket (gws writes
// its upgrade response through it). Once it has joined, Write queues the
// bytes (one whole frame, as gws writes them) on the subscriber's queue. A
// close frame goes right after the frame being written, as the hub's own
// closes do, and Write waits until it is written or its write deadline
// (closeTimeout from now) has passed; any other frame goes behind what is
// queued and Write returns at once. Close then waits for a queued close
// frame before it closes the socket, so gws closing after a refused write
// never cuts off the hub's own close frame.
type QueuedConn struct {
	net.Conn     // the socket: reads, addresses and deadlines go to it
	closeTimeout time.Duration
	sub          atomic.Pointer[Subscriber]
}

// NewQueuedConn wraps the socket c for gws; closeTimeout bounds writing a close
// frame gws sends after the connection joined (DefaultSlowCloseTimeout if
// not positive).
func NewQueuedConn(c net.Conn, closeTimeout time.Duration) *QueuedConn {
	if closeTimeout <= 0 {
		closeTimeout = DefaultSlowCloseTimeout
	}
	return &QueuedConn{Conn: c, closeTimeout: closeTimeout}
}

// Write writes p to the socket before the connection joined the hub, and
// through the subscriber's queue after.
func (c *QueuedConn) Write(p []byte) (int, error) {
	s := c.sub.Load()
	if s == nil {
		return c.Conn.Write(p)
	}
	return s.writeForeign(p, c.closeTimeout)
}

// Close closes the socket, once a close frame queued for the subscriber
// is written or has failed.
func (c *QueuedConn) Close() error {
	if s := c.sub.Load(); s != nil {
		s.awaitCloseFrame()
	}
	return c.Conn.Close()
}

// errNotQueued is why a frame gws writes after the connection joined is
// refused: a close frame was queued before it, or the socket failed.
var errNotQueued = fmt.Errorf("hub: frame not written: the connection is closing: %w", net.ErrClosed)

// writeForeign queues p, a whole frame gws wrote, on s's queue (see QueuedConn).
func (s *Subscriber) writeForeign(p []byte, closeTimeout time.Duration) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	// gws reuses its frame buffer once Write returns.
	frame := bytes.Clone(p)
	if gws.Opcode(p[0]&0x0f) != gws.OpcodeCloseConnection {
		if !s.q.push(outFrame{b: frame}) {
			return 0, errNotQueued
		}
		return len(p), nil
	}
	// gws is closing the connection: no message is queued to it from now
	// on, and those queued are dropped, as for the hub's own closes.
	s.markClosing()
	if s.q.refusesClose() || !s.queueCloseFrame(frame, closeTimeout) {
		return 0, errNotQueued
	}
	return len(p), nil
}

// awaitCloseFrame returns once the close frame queued for s, if any, is
// written or has failed; its write deadline bounds the wait.
func (s *Subscriber) awaitCloseFrame() {
	if done := s.q.closeFrameDone(); done != nil {
		<-done
	}
}
