package hub

import "time"

// Publish queues payload (the message at position pos) as one message
// to every subscriber of topic and returns how many it was queued to. The
// frame is encoded once per transport and shared; writes happen on each connection's own
// write queue, so a slow subscriber delays nobody else. A subscriber whose
// oldest unsent message is older than SlowAfter is closed with
// SlowClientCloseCode instead. Callers wait while Backlogged.
func (h *Hub) Publish(topic string, pos int64, payload []byte) int {
	i, ok := h.topics[topic]
	if !ok {
		return 0
	}
	bit := uint64(1) << i
	// Each transport's frame is encoded once, when its first subscriber
	// comes up, and shared. A frame that cannot be encoded is nil: every
	// subscriber skips it (one that catches up holds the payload and
	// reports it when sent).
	var (
		frames    [numTransports][]byte
		encoded   [numTransports]bool
		queuedBy  [numTransports]int
		encodeErr error
	)
	now := time.Now().UnixNano()
	for k := range h.shards {
		sh := &h.shards[k]
		sh.mu.RLock()
		for _, s := range sh.subs {
			if s.mask&bit == 0 {
				continue
			}
			t := s.transport
			if !encoded[t] {
				var err error
				frames[t], err = t.message(pos, payload)
				encoded[t] = true
				if encodeErr == nil {
					encodeErr = err
				}
			}
			if s.offer(frames[t], pos, payload, now) {
				queuedBy[t]++
			}
		}
		sh.mu.RUnlock()
	}
	queued := 0
	for t, n := range queuedBy {
		if n > 0 {
			h.byTransport[t].messages.Add(uint64(n))
			queued += n
		}
	}
	h.messages.Add(uint64(queued))
	if encodeErr != nil && h.opts.OnError != nil {
		// Reported once: the payload, not a subscriber, is at fault.
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
