package hub

import (
	"time"

	"github.com/lxzan/gws"
)

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
	// A frame that cannot be encoded is nil: every subscriber skips it
	// (one that catches up holds the payload and reports it when sent).
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
			if s.offer(frame, pos, payload, now) {
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
			if s.q.tooSlow(now) {
				slow = append(slow, s)
			}
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
