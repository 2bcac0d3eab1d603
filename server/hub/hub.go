// Package hub is the fan-out core: a sharded registry of WebSocket and
// server-sent-events subscribers and a broadcast that encodes each frame once and queues it on
// every subscriber without waiting for any of them.
//
// A subscriber is slow when its socket refuses more (the client reads
// slower than rows arrive, or not at all) and the oldest message queued for
// it has waited longer than Options.SlowAfter since then; never because its
// queue is long, and never because the server itself is behind: then every
// queue grows together, the sockets still take every write, and the
// publisher is paced instead (Backlogged), so the rows wait in PostgreSQL
// rather than in memory.
//
// Where things are: the registry (this file), a subscriber's catch-up
// state (subscriber.go) and its send queue with the slow-client rule
// (queue.go), the pacing policy (pacing.go), the writers that drain the
// queues (writer.go, frame.go), the broadcast (publish.go), keep-alive
// pings (keepalive.go), shutdown (shutdown.go) and gws's own writes
// (conn.go).
package hub

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lxzan/gws"
)

// SlowClientCloseCode is the close code a subscriber gets when it is too
// slow: 1008 (policy violation), because the client broke the contract of
// reading what it subscribed to. (1013 "try again later" would invite an
// immediate reconnect into the same situation.) It can resume with
// ?after=POS of the last message it read.
const SlowClientCloseCode = 1008

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
	// pingSlots are the subscribers by the part of the ping interval they
	// are pinged in (keepalive.go).
	pingSlots [numTransports][PingSlots]pingSlot

	subscribers atomic.Int64
	messages    atomic.Uint64
	// byTransport are the subscribers and data messages per transport.
	byTransport [numTransports]struct {
		subscribers atomic.Int64
		messages    atomic.Uint64
	}
	slowDrops    atomic.Uint64
	pingTimeouts atomic.Uint64
	pacer        *pacer
	// writers write the subscribers' queues, each for a group of shards
	// (see writer.go).
	writers []writer
	// socketClosed, if set, learns of every socket the hub closes itself
	// (RegisterOnSocketClose).
	socketClosed atomic.Pointer[func(*Subscriber)]
}

type shard struct {
	mu   sync.RWMutex
	subs []*Subscriber
	_    [32]byte // keep neighbouring shards' locks off one cache line
}

// New makes a Hub.
func New(opts Options) (*Hub, error) {
	opts = opts.withDefaults()
	if len(opts.Topics) == 0 || len(opts.Topics) > MaxTopics {
		return nil, fmt.Errorf("hub: need 1 to %d topics, got %d", MaxTopics, len(opts.Topics))
	}
	h := &Hub{opts: opts, topics: map[string]int{}, shards: make([]shard, opts.Shards)}
	h.pacer = newPacer(opts.QueueLimit, &h.subscribers)
	// Writers, not connections, bound the write goroutines: a few per core
	// keep both cores busy while one writer waits in a syscall.
	h.writers = make([]writer, min(opts.Shards, max(2, 2*runtime.GOMAXPROCS(0))))
	for i, t := range opts.Topics {
		h.topics[t] = i
	}
	return h, nil
}

// RegisterOnSocketClose has f called after each time the hub closes a
// subscriber's socket itself (a close frame written or failed, a ping
// timeout, a failed write, a shutdown past its deadline). A connection
// whose reads are not running, such as one parked while idle, learns of
// its end only from here. Register before the first Join; f must not
// block.
func (h *Hub) RegisterOnSocketClose(f func(*Subscriber)) { h.socketClosed.Store(&f) }

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

// JoinStream adds a connection of transport t (not WebSocket) on socket
// sock, as Join or, if catchingUp, JoinCatchingUp do; owner is the
// caller's own state for it (Owner).
func (h *Hub) JoinStream(sock net.Conn, t Transport, mask uint64, catchingUp bool, after int64, owner any) *Subscriber {
	return h.add(newStreamSubscriber(h, sock, t, mask, catchingUp, after, owner))
}

func (h *Hub) join(conn *gws.Conn, mask uint64, catchingUp bool, after int64) *Subscriber {
	return h.add(newSubscriber(h, conn, mask, catchingUp, after))
}

func (h *Hub) add(s *Subscriber) *Subscriber {
	s.shard = int32(h.next.Add(1) % uint32(len(h.shards)))
	s.writer = &h.writers[int(s.shard)%len(h.writers)]
	sh := &h.shards[s.shard]
	sh.mu.Lock()
	s.idx = int32(len(sh.subs))
	sh.subs = append(sh.subs, s)
	sh.mu.Unlock()
	h.addToPingSlot(s)
	h.subscribers.Add(1)
	h.byTransport[s.transport].subscribers.Add(1)
	return s
}

// Leave removes a subscriber; calling it twice is harmless.
func (h *Hub) Leave(s *Subscriber) {
	s.markClosing()
	h.removeFromPingSlot(s)
	sh := &h.shards[s.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var removed bool
	if sh.subs, removed = removeIndexed(sh.subs, s, shardIndex); removed {
		h.subscribers.Add(-1)
		h.byTransport[s.transport].subscribers.Add(-1)
	}
}

func shardIndex(s *Subscriber) *int32 { return &s.idx }

// removeIndexed takes s out of list in O(1), where *at(x) is the position
// of each x in list (kept up to date for the one moved into s's place); it
// reports false if s was not there.
func removeIndexed(list []*Subscriber, s *Subscriber, at func(*Subscriber) *int32) ([]*Subscriber, bool) {
	i := int(*at(s))
	if i < 0 || i >= len(list) || list[i] != s {
		return list, false
	}
	last := len(list) - 1
	list[i] = list[last]
	*at(list[i]) = int32(i)
	list[last] = nil
	list = list[:last]
	*at(s) = -1
	// Give memory back after a mass disconnect.
	if cap(list) > 64 && len(list) < cap(list)/4 {
		list = append([]*Subscriber(nil), list...)
	}
	return list, true
}

// all is every subscriber at this moment.
func (h *Hub) all() []*Subscriber {
	var all []*Subscriber
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		all = append(all, sh.subs...)
		sh.mu.RUnlock()
	}
	return all
}

// Len is the number of subscribers.
func (h *Hub) Len() int64 { return h.subscribers.Load() }

// TransportStats are running totals of one transport.
type TransportStats struct {
	Subscribers int64
	Messages    uint64 // data messages queued to its subscribers
}

// StatsOf returns the running totals of transport t.
func (h *Hub) StatsOf(t Transport) TransportStats {
	b := &h.byTransport[t]
	return TransportStats{Subscribers: b.subscribers.Load(), Messages: b.messages.Load()}
}

// Stats returns running totals.
func (h *Hub) Stats() Stats {
	return Stats{
		Subscribers:  h.subscribers.Load(),
		Messages:     h.messages.Load(),
		SlowDrops:    h.slowDrops.Load(),
		PingTimeouts: h.pingTimeouts.Load(),
		Backlog:      h.pacer.queued.Load(),
	}
}
