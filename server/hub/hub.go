// Package hub is the fan-out core: a sharded registry of WebSocket
// subscribers and a broadcast that encodes each frame once and queues it on
// every subscriber without waiting for any of them.
//
// A subscriber is slow when its socket refuses more (the client reads
// slower than rows arrive, or not at all) and the oldest message queued for
// it has waited longer than Options.SlowAfter since then; never because its
// queue is long, and never because the server itself is behind: then every
// queue grows together, the sockets still take every write, and the
// publisher is paced instead (Backlogged), so the rows wait in PostgreSQL
// rather than in memory.
package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"
)

// SlowClientCloseCode is the close code a subscriber gets when it is too
// slow: 1008 (policy violation), because the client broke the contract of
// reading what it subscribed to. (1013 "try again later" would invite an
// immediate reconnect into the same situation.) It can resume with
// ?after=POS of the last message it read.
const SlowClientCloseCode = 1008

// Options configure a Hub.
type Options struct {
	// Shards is the number of independently locked subscriber lists
	// (default 256).
	Shards int
	// Topics are the topic names subscribers may ask for (at most 64).
	Topics []string
	// QueueLimit bounds the messages waiting unsent for one subscriber
	// (default 4096): memory, not a verdict. A subscriber at the limit holds
	// the publisher back until it drains or becomes slow by age.
	QueueLimit int
	// SlowAfter is how long a message may wait unsent, while the
	// subscriber's socket refuses more, before it is closed as slow
	// (default 10s).
	SlowAfter time.Duration
	// SlowCloseTimeout bounds the attempt to send the close frame to a slow
	// subscriber (default 5s); after it the socket is simply closed.
	SlowCloseTimeout time.Duration
	// CatchUpBuffer bounds the live messages held for one subscriber while
	// it reads its backlog (default 4096); past it they are dropped and the
	// backlog read again, from where it got to.
	CatchUpBuffer int
	// OnError, if set, is told why a frame could not be encoded
	// (gws.ErrTextEncoding for invalid UTF-8, gws.ErrMessageTooLarge).
	OnError func(err error)
}

// Stats are running totals.
type Stats struct {
	Subscribers  int64
	Messages     uint64 // data messages queued to subscribers
	SlowDrops    uint64 // subscribers closed because they fell behind by SlowAfter
	PingTimeouts uint64 // subscribers closed because they stopped answering pings
	Backlog      int64  // messages queued and not yet written, all subscribers
}

// Hub holds the subscribers.
type Hub struct {
	opts   Options
	topics map[string]int
	shards []shard
	next   atomic.Uint32

	subscribers  atomic.Int64
	messages     atomic.Uint64
	slowDrops    atomic.Uint64
	pingTimeouts atomic.Uint64
	// backlog counts queued, unwritten messages, each subscriber's share
	// capped at backlogShare, so one stuck subscriber cannot pace everyone.
	backlog atomic.Int64
	queued  atomic.Int64 // queued, unwritten messages, uncapped
	// full counts subscribers at QueueLimit.
	full atomic.Int64
	// ready is signalled when a write may have ended the backlog, so a
	// paced publisher wakes without polling.
	ready chan struct{}
	// writers write the subscribers' queues, each for a group of shards
	// (see writer.go).
	writers []writer
	// socketClosed, if set, learns of every socket the hub closes itself
	// (RegisterOnSocketClose).
	socketClosed atomic.Pointer[func(*Subscriber)]
}

// RegisterOnSocketClose has f called after each time the hub closes a
// subscriber's socket itself (a close frame written or failed, a ping
// timeout, a failed write, a shutdown past its deadline). A connection
// whose reads are not running, such as one parked while idle, learns of
// its end only from here. Register before the first Join; f must not
// block.
func (h *Hub) RegisterOnSocketClose(f func(*Subscriber)) { h.socketClosed.Store(&f) }

// closeSocket closes s's socket and tells the registered hook.
func (s *Subscriber) closeSocket() {
	_ = s.sock.Close()
	if f := s.hub.socketClosed.Load(); f != nil {
		(*f)(s)
	}
}

// backlogShare caps one subscriber's part of the paced backlog.
const backlogShare = 64

// Pacing: the publisher waits while the backlog exceeds
// backlogPerSubscriber per subscriber plus backlogSlack, i.e. when many
// subscribers are behind at once. The per-subscriber part keeps a fan-out
// to many thousands within about a second of writes; the slack lets a
// fan-out to a few hundred queue enough that each connection's write
// goroutine drains a batch instead of waking per message
// (BenchmarkPublish: paced throughput a third of unpaced with 1024, about
// the same with 32768).
const (
	backlogPerSubscriber = 16
	backlogSlack         = 32768
)

type shard struct {
	mu   sync.RWMutex
	subs []*Subscriber
	_    [32]byte // keep neighbouring shards' locks off one cache line
}

// Subscriber is one connection in the hub.
type Subscriber struct {
	hub      *Hub
	conn     *gws.Conn
	mask     uint64
	shard    int32
	idx      int32 // position in its shard's list, for O(1) removal
	lastSeen atomic.Int64
	// sock is the socket the hub writes and closes: conn's, under the
	// QueuedConn gws was given, if any (gws's own writes go through that
	// wrapper to the queue, conn.go).
	sock   net.Conn
	raw    syscall.RawConn // nil: writes block in a goroutine of their own
	writer *writer

	mu      sync.Mutex
	closing bool
	pending int32
	// queuedAt holds the enqueue time (unix ns) of every unsent message,
	// oldest at head.
	queuedAt []int64
	head     int
	// pushedBackAt is when (unix ns) the socket last refused part of a
	// write and the subscriber went to a goroutine of its own; 0 once that
	// goroutine caught up. TLS connections always write from their own
	// goroutine and count as pushed back from its start.
	pushedBackAt int64
	// While catching up (reading a backlog), live messages wait here.
	catchingUp bool
	overflowed bool
	held       []held
	lastPos    int64 // position of the last message queued
	// The write queue (writer.go): frames not yet handed to the kernel.
	out         []outFrame
	scheduled   bool // a writer or the subscriber's own goroutine will write out
	closeQueued bool // a close frame is queued: nothing after it
	// closeDone is the queued close frame's closed channel; closeWritten
	// says the close frame went out whole.
	closeDone    chan struct{}
	closeWritten bool
	dead         bool // the socket is closed or failed: nothing is written

	// spareOut is a written queue's array, reused for out (writer.go).
	spareOut []outFrame
}

type held struct {
	pos     int64
	payload []byte
}

// New makes a Hub.
func New(opts Options) (*Hub, error) {
	opts = opts.withDefaults()
	if len(opts.Topics) == 0 || len(opts.Topics) > MaxTopics {
		return nil, fmt.Errorf("hub: need 1 to %d topics, got %d", MaxTopics, len(opts.Topics))
	}
	h := &Hub{opts: opts, topics: map[string]int{}, shards: make([]shard, opts.Shards), ready: make(chan struct{}, 1)}
	// Writers, not connections, bound the write goroutines: a few per core
	// keep both cores busy while one writer waits in a syscall.
	h.writers = make([]writer, min(opts.Shards, max(2, 2*runtime.GOMAXPROCS(0))))
	for i, t := range opts.Topics {
		h.topics[t] = i
	}
	return h, nil
}

// ErrUnknownTopic is wrapped by Mask for a topic the hub does not know.
var ErrUnknownTopic = errors.New("unknown topic")

// Mask turns topic names into a subscription mask; no names means every
// topic.
func (h *Hub) Mask(names []string) (uint64, error) {
	if len(names) == 0 {
		return h.allTopics(), nil
	}
	var m uint64
	for _, n := range names {
		i, ok := h.topics[n]
		if !ok {
			return 0, fmt.Errorf("%w %q; known topics: %s", ErrUnknownTopic, n, strings.Join(h.opts.Topics, ", "))
		}
		m |= 1 << i
	}
	return m, nil
}

// Topics are the names in mask.
func (h *Hub) Topics(mask uint64) []string {
	var names []string
	for i, t := range h.opts.Topics {
		if mask&(1<<i) != 0 {
			names = append(names, t)
		}
	}
	return names
}

func (h *Hub) allTopics() uint64 {
	if len(h.opts.Topics) == 64 {
		return ^uint64(0)
	}
	return 1<<len(h.opts.Topics) - 1
}

// Join adds a connection subscribed to the topics in mask; it gets every
// message published from now on.
func (h *Hub) Join(conn *gws.Conn, mask uint64) *Subscriber {
	return h.join(conn, mask, false, 0)
}

// JoinCatchingUp adds a connection that first reads a backlog: messages
// published from now on are held until FinishCatchUp, and the caller sends
// the backlog with Send.
// Messages at or before position after are never sent to it.
func (h *Hub) JoinCatchingUp(conn *gws.Conn, mask uint64, after int64) *Subscriber {
	return h.join(conn, mask, true, after)
}

func (h *Hub) join(conn *gws.Conn, mask uint64, catchingUp bool, after int64) *Subscriber {
	s := &Subscriber{hub: h, conn: conn, mask: mask, catchingUp: catchingUp, lastPos: after}
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
	s.Touch()
	s.shard = int32(h.next.Add(1) % uint32(len(h.shards)))
	s.writer = &h.writers[int(s.shard)%len(h.writers)]
	sh := &h.shards[s.shard]
	sh.mu.Lock()
	s.idx = int32(len(sh.subs))
	sh.subs = append(sh.subs, s)
	sh.mu.Unlock()
	h.subscribers.Add(1)
	return s
}

// Leave removes a subscriber; calling it twice is harmless.
func (h *Hub) Leave(s *Subscriber) {
	s.markClosing()
	sh := &h.shards[s.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i := int(s.idx)
	if i < 0 || i >= len(sh.subs) || sh.subs[i] != s {
		return
	}
	last := len(sh.subs) - 1
	sh.subs[i] = sh.subs[last]
	sh.subs[i].idx = int32(i)
	sh.subs[last] = nil
	sh.subs = sh.subs[:last]
	s.idx = -1
	h.subscribers.Add(-1)
	// Give memory back after a mass disconnect.
	if cap(sh.subs) > 64 && len(sh.subs) < cap(sh.subs)/4 {
		sh.subs = append([]*Subscriber(nil), sh.subs...)
	}
}

// Touch records that the peer sent something (a pong, a ping, a message).
func (s *Subscriber) Touch() { s.lastSeen.Store(time.Now().UnixNano()) }

// RawConn is the raw socket the hub writes to without blocking, nil if it
// has none (TLS, or a connection that is not a socket).
func (s *Subscriber) RawConn() syscall.RawConn { return s.raw }

// LastSeen is when the peer was last heard from (or joined).
func (s *Subscriber) LastSeen() time.Time { return time.Unix(0, s.lastSeen.Load()) }

// Conn is the subscriber's connection.
func (s *Subscriber) Conn() *gws.Conn { return s.conn }

// Mask is the subscriber's topics.
func (s *Subscriber) Mask() uint64 { return s.mask }

// Len is the number of subscribers.
func (h *Hub) Len() int64 { return h.subscribers.Load() }

// Stats returns running totals.
func (h *Hub) Stats() Stats {
	return Stats{
		Subscribers:  h.subscribers.Load(),
		Messages:     h.messages.Load(),
		SlowDrops:    h.slowDrops.Load(),
		PingTimeouts: h.pingTimeouts.Load(),
		Backlog:      h.queued.Load(),
	}
}

// Backlogged reports whether the publisher should wait before the next
// message: many subscribers are behind at once, or one is at QueueLimit.
func (h *Hub) Backlogged() bool {
	if h.full.Load() > 0 {
		return true
	}
	return h.backlog.Load() > h.backlogLimit()
}

// backlogLimit is the backlog above which the publisher waits.
func (h *Hub) backlogLimit() int64 {
	return backlogPerSubscriber*h.subscribers.Load() + backlogSlack
}

func (h *Hub) wake() {
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

// WaitReady returns once the hub is not Backlogged, or ctx ends.
func (h *Hub) WaitReady(ctx context.Context) {
	if !h.Backlogged() {
		return
	}
	// The signal can be missed (the threshold moves with the number of
	// subscribers), so look again every millisecond regardless.
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for h.Backlogged() {
		select {
		case <-ctx.Done():
			return
		case <-h.ready:
		case <-t.C:
		}
	}
}

// enqueue counts one message queued to s at now; s.mu is held. It reports
// false if s is closing.
func (s *Subscriber) enqueue(now int64) bool {
	if s.closing {
		return false
	}
	h := s.hub
	s.pending++
	if s.pending <= backlogShare {
		h.backlog.Add(1)
	}
	if s.pending == int32(h.opts.QueueLimit) {
		h.full.Add(1)
	}
	h.queued.Add(1)
	if s.head > 0 && s.head == len(s.queuedAt) {
		s.queuedAt, s.head = s.queuedAt[:0], 0
	}
	s.queuedAt = append(s.queuedAt, now)
	return true
}

// writtenLocked accounts for one data message written; s.mu is held.
func (s *Subscriber) writtenLocked() {
	if s.pending == 0 {
		return // already released by markClosing
	}
	h := s.hub
	wake := false
	if s.pending <= backlogShare {
		wake = h.backlog.Add(-1) == h.backlogLimit()
	}
	if s.pending == int32(h.opts.QueueLimit) {
		wake = h.full.Add(-1) == 0 || wake
	}
	if wake {
		h.wake()
	}
	h.queued.Add(-1)
	s.pending--
	s.head++
	if s.head == len(s.queuedAt) {
		s.head = 0
		if cap(s.queuedAt) > 256 {
			s.queuedAt = nil
		} else {
			s.queuedAt = s.queuedAt[:0]
		}
	}
}

// markClosing stops queueing to s and takes its queue out of the hub's
// pacing, so a dying subscriber holds nobody back. It reports whether this
// call made the change.
func (s *Subscriber) markClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.closing = true
	s.releaseLocked()
	return true
}

func (s *Subscriber) releaseLocked() {
	h := s.hub
	defer h.wake()
	h.backlog.Add(-int64(min(s.pending, backlogShare)))
	if s.pending >= int32(h.opts.QueueLimit) {
		h.full.Add(-1)
	}
	h.queued.Add(-int64(s.pending))
	s.pending = 0
	s.queuedAt, s.head, s.held = nil, 0, nil
}

// tooSlow reports whether the socket refuses more and the oldest unsent
// message has waited longer than SlowAfter since both were so; s.mu is held.
func (s *Subscriber) tooSlow(now int64) bool {
	if s.pending == 0 || s.head >= len(s.queuedAt) || s.pushedBackAt == 0 {
		return false
	}
	return now-max(s.queuedAt[s.head], s.pushedBackAt) > int64(s.hub.opts.SlowAfter)
}

// Publish queues payload (the message at position pos) as one text message
// to every subscriber of topic and returns how many it was queued to. The
// frame is encoded once and shared; writes happen on each connection's own
// write queue, so a slow subscriber delays nobody else. A subscriber whose
// oldest unsent message is older than SlowAfter is closed with
// SlowClientCloseCode instead. Callers wait while Backlogged.
func (h *Hub) Publish(topic string, pos int64, payload []byte) int {
	i, ok := h.topics[topic]
	if !ok {
		return 0
	}
	bit := uint64(1) << i
	frame, encodeErr := encodeFrame(gws.OpcodeText, payload)
	now := time.Now().UnixNano()
	queued := 0
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		for _, s := range sh.subs {
			if s.mask&bit == 0 {
				continue
			}
			if s.offer(frame, encodeErr, pos, payload, now) {
				queued++
			}
		}
		sh.mu.RUnlock()
	}
	h.messages.Add(uint64(queued))
	if encodeErr != nil && h.opts.OnError != nil {
		// The frame is encoded once, so one failure means every subscriber's.
		h.opts.OnError(encodeErr)
	}
	return queued
}

// offer hands one published message to s: queued, held while s catches
// up, or refused because s is closing or too slow.
func (s *Subscriber) offer(frame []byte, encodeErr error, pos int64, payload []byte, now int64) bool {
	h := s.hub
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	if s.tooSlow(now) {
		s.mu.Unlock()
		h.closeSlow(s)
		return false
	}
	if s.catchingUp {
		if !s.overflowed {
			if len(s.held) >= h.opts.CatchUpBuffer {
				s.overflowed, s.held = true, nil
			} else {
				s.held = append(s.held, held{pos, payload})
			}
		}
		s.mu.Unlock()
		return false
	}
	if pos <= s.lastPos {
		s.mu.Unlock()
		return false // already sent from the backlog
	}
	if encodeErr != nil {
		s.mu.Unlock()
		return false
	}
	// Under s.mu the queue order is the order of positions.
	s.enqueue(now)
	s.lastPos = pos
	s.queueFrame(outFrame{b: frame, data: true})
	s.mu.Unlock()
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
	if pos <= s.lastPos {
		return !s.closing
	}
	if s.closing {
		return false
	}
	frame, err := encodeFrame(gws.OpcodeText, payload)
	if err != nil {
		// Skipped, as Publish skips it: the client could not read it.
		s.lastPos = pos
		if s.hub.opts.OnError != nil {
			s.hub.opts.OnError(err)
		}
		return true
	}
	s.enqueue(time.Now().UnixNano())
	s.lastPos = pos
	s.hub.messages.Add(1)
	s.queueFrame(outFrame{b: frame, data: true})
	return true
}

// Pong queues a pong frame with payload (a client's ping's, at most 125
// bytes) behind what is queued already: every write to a subscriber goes
// through its queue, so frames never interleave.
func (s *Subscriber) Pong(payload []byte) {
	frame, err := encodeFrame(gws.OpcodePong, payload)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.queueFrame(outFrame{b: frame})
	s.mu.Unlock()
}

// LastPos is the position of the last message queued to s.
func (s *Subscriber) LastPos() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastPos
}

// Pending is the number of messages queued to s and not yet written.
func (s *Subscriber) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.pending)
}

// Closing reports whether s is being closed.
func (s *Subscriber) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
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
	s.catchingUp = false
	return true
}

// SweepSlow closes every subscriber whose oldest unsent message waited
// longer than SlowAfter; Publish only sees subscribers of the topics it
// publishes, and a stalled subscriber may get nothing new for a while.
func (h *Hub) SweepSlow() int {
	now := time.Now().UnixNano()
	var slow []*Subscriber
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		for _, s := range sh.subs {
			s.mu.Lock()
			if !s.closing && s.tooSlow(now) {
				slow = append(slow, s)
			}
			s.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	for _, s := range slow {
		h.closeSlow(s)
	}
	return len(slow)
}

// closeSlow runs off the publishing goroutine: the close frame waits for
// the write in progress (it may be blocked on the stalled peer), bounded by
// a write deadline; frames still queued are dropped.
func (h *Hub) closeSlow(s *Subscriber) {
	if !s.markClosing() {
		return
	}
	h.slowDrops.Add(1)
	go s.writeClose(SlowClientCloseCode, "slow client: fell behind by --slow-after; resume with ?after=POS", h.opts.SlowCloseTimeout)
}

// Close sends the subscriber a close frame with code and reason, the write
// bounded by timeout, unless it is already being closed: a peer gets one
// close frame, and no publish or ping after it.
func (s *Subscriber) Close(code uint16, reason string, timeout time.Duration) {
	if s.markClosing() {
		s.writeClose(code, reason, timeout)
	}
}

// writeClose queues the close frame right behind the write in progress
// (dropping what is queued after it) and waits until it is written or the
// write deadline (which also ends a write blocked on a stalled peer) has
// passed; the socket is closed after it.
func (s *Subscriber) writeClose(code uint16, reason string, timeout time.Duration) {
	if len(reason) > 123 {
		reason = reason[:123] // a control frame's payload is at most 125 bytes
	}
	payload := append([]byte{byte(code >> 8), byte(code)}, reason...)
	frame, err := encodeFrame(gws.OpcodeCloseConnection, payload)
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
	closed := make(chan struct{})
	s.mu.Lock()
	s.queueFrame(outFrame{b: frame, closed: closed})
	s.mu.Unlock()
	<-closed
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeWritten
}

// PingAll sends one ping frame (encoded once) to every subscriber and
// closes those that sent nothing for longer than idle. One sweep over the
// hub replaces a timer per connection.
func (h *Hub) PingAll(idle time.Duration) (pinged, reaped int) {
	deadline := time.Now().Add(-idle).UnixNano()
	ping, _ := encodeFrame(gws.OpcodePing, nil)
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		for _, s := range sh.subs {
			if s.Closing() {
				continue
			}
			if s.lastSeen.Load() < deadline {
				if s.markClosing() {
					h.pingTimeouts.Add(1)
					reaped++
					// A peer that answers nothing will not read a close
					// frame either: drop the socket.
					s.closeSocket()
				}
				continue
			}
			s.mu.Lock()
			if s.queueFrame(outFrame{b: ping}) {
				pinged++
			}
			s.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	return pinged, reaped
}

// CloseAll sends every subscriber a close frame with code and reason. It
// first stops queueing and lets the frames already queued be written until
// flushBy; then each close write is bounded by timeout and by deadline,
// after which sockets are closed without a close frame. It does not wait
// for the peers to go away.
func (h *Hub) CloseAll(code uint16, reason string, flushBy, deadline time.Time, timeout time.Duration) {
	var all []*Subscriber
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		all = append(all, sh.subs...)
		sh.mu.RUnlock()
	}
	// Hold new messages back (and drop them) while the queues drain.
	for _, s := range all {
		s.mu.Lock()
		s.catchingUp, s.overflowed, s.held = true, true, nil
		s.mu.Unlock()
	}
	for _, s := range all {
		for s.Pending() > 0 && !s.Closing() && time.Now().Before(flushBy) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	work := make(chan *Subscriber)
	for range min(64, len(all)) {
		wg.Go(func() {
			for s := range work {
				left := time.Until(deadline)
				if left <= 0 {
					if s.markClosing() {
						s.closeSocket()
					}
					continue
				}
				s.Close(code, reason, min(timeout, left))
			}
		})
	}
	for _, s := range all {
		work <- s
	}
	close(work)
	wg.Wait()
}
