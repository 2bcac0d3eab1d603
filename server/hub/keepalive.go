package hub

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Keep-alive: each subscriber is pinged once per interval at a phase of its
// own, drawn at random when it joins, so connections opened together are
// not pinged together (a burst of pongs to read every interval is what the
// fan-out's p99 paid for). The interval is cut into PingSlots parts; a
// subscriber's phase is its part, and the hub keeps each part's
// subscribers in a list of its own, so a tick touches only the subscribers
// it pings: N per interval in all, no timer per connection.
//
// Silence is a verdict on the peer only when the server is keeping up: a
// peer whose pong waits unread in its socket is alive, and the time the
// ping loop itself was late does not count against anyone (Pinger.Tick).

// PingSlots is how many parts a ping interval is cut into.
const PingSlots = 100

// pingSlot is the subscribers pinged in one part of the interval.
type pingSlot struct {
	mu   sync.Mutex
	subs []*Subscriber
	_    [32]byte // keep neighbouring slots' locks off one cache line
}

// addToPingSlot gives s a random phase, uniform over the interval, among
// the subscribers of its transport (each transport has its interval).
func (h *Hub) addToPingSlot(s *Subscriber) {
	s.pingSlot = int32(rand.IntN(PingSlots))
	sl := &h.pingSlots[s.transport][s.pingSlot]
	sl.mu.Lock()
	s.pingIdx = int32(len(sl.subs))
	sl.subs = append(sl.subs, s)
	sl.mu.Unlock()
}

// removeFromPingSlot takes s out of its slot; calling it twice is harmless.
func (h *Hub) removeFromPingSlot(s *Subscriber) {
	sl := &h.pingSlots[s.transport][s.pingSlot]
	sl.mu.Lock()
	sl.subs, _ = removeIndexed(sl.subs, s, pingIndex)
	sl.mu.Unlock()
}

func pingIndex(s *Subscriber) *int32 { return &s.pingIdx }

// PingAll pings every WebSocket subscriber at once and closes those that
// sent nothing for longer than idle (see pingSlot for who counts as
// silent). The server pings with a Pinger, which spreads the same work
// over the interval.
func (h *Hub) PingAll(idle time.Duration) (pinged, reaped int) {
	deadline := time.Now().Add(-idle).UnixNano()
	for slot := range PingSlots {
		p, r := h.pingSlot(WebSocket, slot, deadline)
		pinged, reaped = pinged+p, reaped+r
	}
	return pinged, reaped
}

// pingSlot sends one keep-alive (a ping frame, an SSE comment; encoded
// once) to every subscriber of transport t in slot and closes those silent
// since before deadline (unix ns) with nothing unread in their sockets; a
// deadline of 0 closes nobody (SSE clients send nothing to be heard by).
func (h *Hub) pingSlot(t Transport, slot int, deadline int64) (pinged, reaped int) {
	ping := t.keepAlive()
	sl := &h.pingSlots[t][slot]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for _, s := range sl.subs {
		if s.Closing() {
			continue
		}
		if deadline != 0 && s.lastSeen.Load() < deadline && !s.hasUnread() {
			if s.markClosing() {
				h.pingTimeouts.Add(1)
				reaped++
				// A peer that answers nothing will not read a close
				// frame either: drop the socket.
				s.closeSocket()
			}
			continue
		}
		if s.q.push(outFrame{b: ping}) {
			pinged++
		}
	}
	return pinged, reaped
}

// hasUnread reports whether the peer's bytes wait unread in s's socket: it
// answered, the server has not read the answer yet.
func (s *Subscriber) hasUnread() bool {
	if s.raw == nil {
		return false
	}
	n := 0
	_ = s.raw.Control(func(fd uintptr) { n = unreadBytes(fd) })
	return n > 0
}

// Pinger pings a hub's subscribers, each once per interval at its own
// phase. Call Tick every Period; it is not safe for concurrent use.
type Pinger struct {
	hub   *Hub
	t     Transport
	reap  bool          // close the silent (WebSocket); SSE clients are never heard
	tick  time.Duration // one slot's share of the interval
	idle  time.Duration
	start time.Time
	next  int64 // the number of the next slot to ping, counted from start
}

// NewPinger pings h's subscribers every interval, starting at start, and
// closes those silent for longer than idle.
func (h *Hub) NewPinger(interval, idle time.Duration, start time.Time) *Pinger {
	return &Pinger{hub: h, t: WebSocket, reap: true, tick: max(interval/PingSlots, 1), idle: idle, start: start}
}

// NewHeartbeat writes a keep-alive comment to each of h's SSE subscribers
// every interval, starting at start, each at its own phase (its first one
// at a uniformly random point of its first interval), in the same slots
// as WebSocket pings. Nobody is closed for silence: an EventSource client
// sends nothing after its request; a peer that went away is seen by its
// socket (the end of its stream, a failed write).
func (h *Hub) NewHeartbeat(interval time.Duration, start time.Time) *Pinger {
	return &Pinger{hub: h, t: SSE, tick: max(interval/PingSlots, 1), start: start}
}

// Period is how often Tick is to be called.
func (p *Pinger) Period() time.Duration { return p.tick }

// Tick pings the slots that came due by now: one when called on time,
// every missed one when late (each subscriber at most once). A slot pinged
// late measures how late the server itself is, and that time does not
// count as the peers' silence: a server too busy to read their pongs does
// not close them as dead (their pongs are also seen unread, hasUnread).
func (p *Pinger) Tick(now time.Time) (pinged, reaped int) {
	due := int64(now.Sub(p.start) / p.tick)
	// The server has been behind since the first slot it has not pinged
	// was due; silence counts only up to then.
	deadline := p.start.Add(time.Duration(p.next)*p.tick - p.idle).UnixNano()
	if due-p.next >= PingSlots {
		p.next = due - PingSlots + 1 // one round covers everyone
	}
	if !p.reap {
		deadline = 0
	}
	for ; p.next <= due; p.next++ {
		pi, r := p.hub.pingSlot(p.t, int(p.next%PingSlots), deadline)
		pinged, reaped = pinged+pi, reaped+r
	}
	return pinged, reaped
}
