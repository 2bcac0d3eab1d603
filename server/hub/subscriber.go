package hub

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"
)

// Subscriber is one connection in the hub: its place in the registry, its
// catch-up state and its send queue (queue.go), which the writers drain
// (writer.go).
type Subscriber struct {
	hub   *Hub
	conn  *gws.Conn
	mask  uint64
	shard int32
	// transport frames what is written to conn (transport.go).
	transport Transport
	idx       int32 // position in its shard's list, for O(1) removal; under the shard's lock
	// pingSlot is the part of the ping interval s is pinged in, pingIdx
	// its position in that part's list (under the slot's lock).
	pingSlot, pingIdx int32
	lastSeen          atomic.Int64
	// closeLinger (ns) bounds how long the socket stays open for reading
	// after the close frame went out (closeAfterCloseFrame): the rest of
	// a shutdown's time, else the bound the close's write was given.
	closeLinger atomic.Int64
	// sock is the socket the hub writes and closes: conn's, under the
	// QueuedConn gws was given, if any (gws's own writes go through that
	// wrapper to the queue, conn.go).
	sock   net.Conn
	raw    syscall.RawConn // nil: writes block in a goroutine of their own
	writer *writer
	q      sendQueue
	// owner is what the caller of JoinStream keeps for this connection
	// (Owner): how its hooks find their own state.
	owner any

	// catchingUp is set while the subscriber reads a backlog: live
	// messages are held then. Publish reads it without mu; it changes
	// under mu, so a publisher that saw it set and then takes mu sees the
	// held messages already queued.
	catchingUp atomic.Bool
	mu         sync.Mutex // guards overflowed and held; taken before q.mu
	overflowed bool
	held       []held
}

type held struct {
	pos     int64
	payload []byte
}

func newSubscriber(h *Hub, conn *gws.Conn, mask uint64, catchingUp bool, after int64) *Subscriber {
	s := &Subscriber{hub: h, conn: conn, mask: mask, transport: WebSocket}
	s.catchingUp.Store(catchingUp)
	if conn != nil {
		s.sock = conn.NetConn()
		if wrapped, ok := s.sock.(*QueuedConn); ok {
			s.sock = wrapped.Conn
			// From now on gws's writes go through s's queue. Join runs
			// before the connection's read loop starts, so gws has not
			// written anything since its upgrade response.
			wrapped.sub.Store(s)
		}
		s.raw = rawConn(s.sock)
	}
	s.initQueue(after)
	return s
}

// newStreamSubscriber is a subscriber whose transport is not WebSocket:
// the hub alone writes to sock.
func newStreamSubscriber(h *Hub, sock net.Conn, t Transport, mask uint64, catchingUp bool, after int64, owner any) *Subscriber {
	s := &Subscriber{hub: h, mask: mask, transport: t, sock: sock, owner: owner}
	s.catchingUp.Store(catchingUp)
	if sock != nil {
		s.raw = rawConn(sock)
	}
	s.initQueue(after)
	return s
}

func (s *Subscriber) initQueue(after int64) {
	h := s.hub
	s.q = sendQueue{
		pacer:     h.pacer,
		slowAfter: int64(h.opts.SlowAfter),
		blocking:  s.raw == nil,
		start:     s.startWriting,
	}
	s.q.setPosition(after)
	s.Touch()
}

// startWriting hands s to whoever writes its queue: its group's shared
// writer, or a goroutine of its own if it has no raw socket.
func (s *Subscriber) startWriting() {
	if s.raw != nil {
		s.writer.push(s)
	} else {
		go s.drainBlocking(nil, 0)
	}
}

// closeSocket closes s's socket and tells the registered hook.
func (s *Subscriber) closeSocket() {
	_ = s.sock.Close()
	if f := s.hub.socketClosed.Load(); f != nil {
		(*f)(s)
	}
}

// closeAfterCloseFrame ends the connection once its close frame is in the
// kernel: a lingering close. The socket is only shut for writing (a FIN
// goes out behind everything queued in it) and stays open for reading
// until the peer's read loop ends it (the client answers the close and
// goes) or closeLinger has passed. Closing it at once lost the close frame
// whenever the client had sent something the server had not read yet, or
// sent something before it read the close frame (a pong to a ping queued
// ahead of the close, behind a backlog): the kernel resets a socket
// closed with unread bytes, or one that receives bytes after close, and a
// reset throws away what it still had to send, the close frame included.
func (s *Subscriber) closeAfterCloseFrame() {
	cw, ok := s.sock.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		s.closeSocket()
		return
	}
	// Whoever reads the socket (a parked connection gets its read loop
	// back, socketClosed) now reads the client's answer and closes it.
	if f := s.hub.socketClosed.Load(); f != nil {
		(*f)(s)
	}
	time.AfterFunc(time.Duration(s.closeLinger.Load()), func() { _ = s.sock.Close() })
}

// Touch records that the peer sent something (a pong, a ping, a message).
func (s *Subscriber) Touch() { s.lastSeen.Store(time.Now().UnixNano()) }

// RawConn is the raw socket the hub writes to without blocking, nil if it
// has none (TLS, or a connection that is not a socket).
func (s *Subscriber) RawConn() syscall.RawConn { return s.raw }

// LastSeen is when the peer was last heard from (or joined).
func (s *Subscriber) LastSeen() time.Time { return time.Unix(0, s.lastSeen.Load()) }

// Conn is the subscriber's WebSocket connection, nil for other transports.
func (s *Subscriber) Conn() *gws.Conn { return s.conn }

// Transport is how the subscriber's connection is framed.
func (s *Subscriber) Transport() Transport { return s.transport }

// Owner is what JoinStream was given for this subscriber (nil for a
// WebSocket subscriber).
func (s *Subscriber) Owner() any { return s.owner }

// Mask is the subscriber's topics.
func (s *Subscriber) Mask() uint64 { return s.mask }

// LastPos is the position of the last message queued to s.
func (s *Subscriber) LastPos() int64 { return s.q.position() }

// Pending is the number of messages queued to s and not yet written.
func (s *Subscriber) Pending() int { return s.q.len() }

// Closing reports whether s is being closed.
func (s *Subscriber) Closing() bool { return s.q.isClosing() }

// markClosing stops queueing to s and takes its queue out of the hub's
// pacing, so a dying subscriber holds nobody back. It reports whether this
// call made the change. The caller must not hold s.mu.
func (s *Subscriber) markClosing() bool {
	if !s.q.close() {
		return false
	}
	s.mu.Lock()
	s.held = nil
	s.mu.Unlock()
	return true
}

// offer hands one published message to s: queued, held while s catches
// up, or refused because s is closing or too slow.
func (s *Subscriber) offer(frame []byte, pos int64, payload []byte, now int64) bool {
	if s.catchingUp.Load() && s.hold(pos, payload, now) {
		return false
	}
	switch s.q.pushMessage(frame, pos, now, true) {
	case pushed:
		return true
	case refusedSlow:
		s.hub.closeSlow(s)
	}
	return false
}

// hold keeps a live message for s while it catches up, unless s is closing
// or too slow; it reports false if s has finished catching up meanwhile,
// and the message is to be queued after all.
func (s *Subscriber) hold(pos int64, payload []byte, now int64) bool {
	s.mu.Lock()
	if !s.catchingUp.Load() {
		s.mu.Unlock()
		return false
	}
	verdict := s.q.admit(now)
	if verdict == pushed && !s.overflowed {
		if len(s.held) >= s.hub.opts.CatchUpBuffer {
			s.overflowed, s.held = true, nil
		} else {
			s.held = append(s.held, held{pos, payload})
		}
	}
	s.mu.Unlock()
	if verdict == refusedSlow {
		s.hub.closeSlow(s)
	}
	return true
}

// Send queues one backlog message (at pos) to a subscriber that is
// catching up; it reports false once the subscriber is closing.
func (s *Subscriber) Send(pos int64, payload []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(pos, payload)
}

func (s *Subscriber) sendLocked(pos int64, payload []byte) bool {
	fresh, open := s.q.accepts(pos)
	if !fresh || !open {
		return open
	}
	frame, err := s.transport.message(pos, payload)
	if err != nil {
		// Skipped, as Publish skips it: the client could not read it.
		s.q.skip(pos)
		if s.hub.opts.OnError != nil {
			s.hub.opts.OnError(err)
		}
		return true
	}
	switch s.q.pushMessage(frame, pos, time.Now().UnixNano(), false) {
	case pushed:
		s.hub.messages.Add(1)
		s.hub.byTransport[s.transport].messages.Add(1)
		return true
	case refusedClosed:
		return false
	}
	return true
}

// FinishCatchUp ends the backlog: the held live messages newer than the
// last one sent are queued and s gets live messages from now on. If held
// messages were dropped (the buffer overflowed) it returns false and s
// stays catching up, holding messages from now on: read the backlog again
// from LastPos, then call FinishCatchUp again.
func (s *Subscriber) FinishCatchUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflowed {
		s.overflowed = false
		return false
	}
	for _, m := range s.held {
		if !s.sendLocked(m.pos, m.payload) {
			break
		}
	}
	s.held = nil
	s.catchingUp.Store(false)
	return true
}

// holdFromNowOn makes s hold (and drop) every new message, as while
// catching up with an overflowed buffer: a shutdown lets the queues drain.
func (s *Subscriber) holdFromNowOn() {
	s.mu.Lock()
	s.catchingUp.Store(true)
	s.overflowed, s.held = true, nil
	s.mu.Unlock()
}

// Pong queues a pong frame with payload (a client's ping's, at most 125
// bytes) behind what is queued already: every write to a subscriber goes
// through its queue, so frames never interleave.
func (s *Subscriber) Pong(payload []byte) {
	if s.transport != WebSocket {
		return
	}
	frame, err := encodeFrame(gws.OpcodePong, payload)
	if err != nil {
		return
	}
	s.q.push(outFrame{b: frame})
}

// Close sends the subscriber a close frame with code and reason, the write
// bounded by timeout, unless it is already being closed: a peer gets one
// close frame, and no publish or ping after it. An SSE subscriber gets no
// frame: its socket is closed after the write in progress.
func (s *Subscriber) Close(code uint16, reason string, timeout time.Duration) {
	s.closeLingering(code, reason, timeout, timeout)
}

// closeLingering is Close, with the socket left open for reading for up
// to linger after the close frame went out (closeAfterCloseFrame).
func (s *Subscriber) closeLingering(code uint16, reason string, timeout, linger time.Duration) {
	if s.markClosing() {
		s.closeLinger.Store(int64(linger))
		s.writeClose(code, reason, timeout)
	}
}

// writeClose queues the close frame right behind the write in progress
// (dropping what is queued after it) and waits until it is written or the
// write deadline (which also ends a write blocked on a stalled peer) has
// passed; the socket is closed after it.
func (s *Subscriber) writeClose(code uint16, reason string, timeout time.Duration) {
	frame, err := s.transport.closeFrame(code, reason)
	if err != nil {
		s.closeSocket()
		return
	}
	s.queueCloseFrame(frame, timeout)
}

// queueCloseFrame bounds the write in progress and the close frame by
// timeout, queues frame (a whole close frame) right behind that write and
// waits until it is written or has failed; it reports whether it went out
// whole. The socket is closed after it either way.
func (s *Subscriber) queueCloseFrame(frame []byte, timeout time.Duration) bool {
	_ = s.sock.SetWriteDeadline(time.Now().Add(timeout))
	s.closeLinger.CompareAndSwap(0, int64(timeout))
	closed := make(chan struct{})
	s.q.push(outFrame{b: frame, closed: closed})
	<-closed
	return s.q.closeWrittenWhole()
}
