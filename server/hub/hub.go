// Package hub is the fan-out core: a sharded registry of WebSocket
// subscribers and a broadcast that encodes each frame once and queues it on
// every subscriber without waiting for any of them.
package hub

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// SlowClientCloseCode is the close code a subscriber gets when its send
// queue is full: 1008 (policy violation), because the client broke the
// contract of reading what it subscribed to. (1013 "try again later" would
// invite an immediate reconnect into the same situation.)
const SlowClientCloseCode = 1008

// Options configure a Hub.
type Options struct {
	// Shards is the number of independently locked subscriber lists
	// (default 256).
	Shards int
	// Topics are the topic names subscribers may ask for (at most 64).
	Topics []string
	// QueueLimit is how many messages may wait unsent for one subscriber
	// before it is closed as too slow (default 1024).
	QueueLimit int
	// SlowCloseTimeout bounds the attempt to send the close frame to a slow
	// subscriber (default 5s); after it the socket is simply closed.
	SlowCloseTimeout time.Duration
}

// Stats are running totals.
type Stats struct {
	Subscribers  int64
	Messages     uint64 // data messages queued to subscribers
	SlowDrops    uint64 // subscribers closed because their queue was full
	PingTimeouts uint64 // subscribers closed because they stopped answering pings
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
}

type shard struct {
	mu   sync.RWMutex
	subs []*Subscriber
	_    [32]byte // keep neighbouring shards' locks off one cache line
}

// Subscriber is one connection in the hub.
type Subscriber struct {
	conn     *gws.Conn
	mask     uint64
	shard    int32
	idx      int32 // position in its shard's list, for O(1) removal
	pending  atomic.Int32
	lastSeen atomic.Int64 // unix nanoseconds of the last frame from the peer
	closing  atomic.Bool
	sent     func() // queued after each message; allocated once, not per send
}

// New makes a Hub.
func New(opts Options) (*Hub, error) {
	if opts.Shards <= 0 {
		opts.Shards = 256
	}
	if opts.QueueLimit <= 0 {
		opts.QueueLimit = 1024
	}
	if opts.SlowCloseTimeout <= 0 {
		opts.SlowCloseTimeout = 5 * time.Second
	}
	if len(opts.Topics) == 0 || len(opts.Topics) > 64 {
		return nil, fmt.Errorf("hub: need 1 to 64 topics, got %d", len(opts.Topics))
	}
	h := &Hub{opts: opts, topics: map[string]int{}, shards: make([]shard, opts.Shards)}
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

func (h *Hub) allTopics() uint64 {
	if len(h.opts.Topics) == 64 {
		return ^uint64(0)
	}
	return 1<<len(h.opts.Topics) - 1
}

// Join adds a connection subscribed to the topics in mask.
func (h *Hub) Join(conn *gws.Conn, mask uint64) *Subscriber {
	s := &Subscriber{conn: conn, mask: mask}
	s.sent = func() { s.pending.Add(-1) }
	s.Touch()
	s.shard = int32(h.next.Add(1) % uint32(len(h.shards)))
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

// Conn is the subscriber's connection.
func (s *Subscriber) Conn() *gws.Conn { return s.conn }

// Len is the number of subscribers.
func (h *Hub) Len() int64 { return h.subscribers.Load() }

// Stats returns running totals.
func (h *Hub) Stats() Stats {
	return Stats{
		Subscribers:  h.subscribers.Load(),
		Messages:     h.messages.Load(),
		SlowDrops:    h.slowDrops.Load(),
		PingTimeouts: h.pingTimeouts.Load(),
	}
}

// Publish queues payload as one text message to every subscriber of topic
// and returns how many it was queued to. The frame is encoded once and
// shared; writes happen on each connection's own write queue, so a slow
// subscriber delays nobody else. A subscriber whose queue is full is closed
// with SlowClientCloseCode instead.
func (h *Hub) Publish(topic string, payload []byte) int {
	i, ok := h.topics[topic]
	if !ok {
		return 0
	}
	bit := uint64(1) << i
	b := gws.NewBroadcaster(gws.OpcodeText, payload)
	defer b.Close()
	limit := int32(h.opts.QueueLimit)
	queued := 0
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		for _, s := range sh.subs {
			if s.mask&bit == 0 || s.closing.Load() {
				continue
			}
			if s.pending.Load() >= limit {
				h.closeSlow(s)
				continue
			}
			s.pending.Add(1)
			if err := b.Broadcast(s.conn); err != nil {
				s.pending.Add(-1)
				continue
			}
			s.conn.Async(s.sent)
			queued++
		}
		sh.mu.RUnlock()
	}
	h.messages.Add(uint64(queued))
	return queued
}

// closeSlow runs off the publishing goroutine: the close frame waits behind
// the frames already queued (the connection's write lock is held by a
// blocked write), bounded by a write deadline.
func (h *Hub) closeSlow(s *Subscriber) {
	if !s.claimClose() {
		return
	}
	h.slowDrops.Add(1)
	go s.writeClose(SlowClientCloseCode, "slow client: send queue full", h.opts.SlowCloseTimeout)
}

// Close sends the subscriber a close frame with code and reason, the write
// bounded by timeout, unless it is already being closed: a peer gets one
// close frame, and no publish or ping after it.
func (s *Subscriber) Close(code uint16, reason string, timeout time.Duration) {
	if s.claimClose() {
		s.writeClose(code, reason, timeout)
	}
}

// claimClose marks the subscriber as closing; only the first caller wins.
func (s *Subscriber) claimClose() bool { return s.closing.CompareAndSwap(false, true) }

func (s *Subscriber) writeClose(code uint16, reason string, timeout time.Duration) {
	_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
	_ = s.conn.WriteClose(code, []byte(reason))
}

// PingAll sends one ping frame (encoded once) to every subscriber and
// closes those that sent nothing for longer than idle. One sweep over the
// hub replaces a timer per connection.
func (h *Hub) PingAll(idle time.Duration) (pinged, reaped int) {
	deadline := time.Now().Add(-idle).UnixNano()
	b := gws.NewBroadcaster(gws.OpcodePing, nil)
	defer b.Close()
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		for _, s := range sh.subs {
			if s.closing.Load() {
				continue
			}
			if s.lastSeen.Load() < deadline {
				if s.claimClose() {
					h.pingTimeouts.Add(1)
					reaped++
					// A peer that answers nothing will not read a close
					// frame either: drop the socket.
					_ = s.conn.NetConn().Close()
				}
				continue
			}
			if b.Broadcast(s.conn) == nil {
				pinged++
			}
		}
		sh.mu.RUnlock()
	}
	return pinged, reaped
}

// CloseAll sends every subscriber a close frame with code and reason, each
// write bounded by timeout. It does not wait for the peers to go away.
func (h *Hub) CloseAll(code uint16, reason string, timeout time.Duration) {
	var all []*Subscriber
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		all = append(all, sh.subs...)
		sh.mu.RUnlock()
	}
	var wg sync.WaitGroup
	work := make(chan *Subscriber)
	for range min(64, len(all)) {
		wg.Go(func() {
			for s := range work {
				s.Close(code, reason, timeout)
			}
		})
	}
	for _, s := range all {
		work <- s
	}
	close(work)
	wg.Wait()
}
