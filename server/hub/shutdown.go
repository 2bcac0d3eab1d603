package hub

import (
	"sync"
	"time"
)

// CloseAll sends every subscriber a close frame with code and reason. It
// first stops queueing and lets the frames already queued be written until
// flushBy; then each close write is bounded by timeout and by deadline,
// after which sockets are closed without a close frame. It does not wait
// for the peers to go away.
func (h *Hub) CloseAll(code uint16, reason string, flushBy, deadline time.Time, timeout time.Duration) {
	all := h.all()
	// Hold new messages back (and drop them) while the queues drain.
	for _, s := range all {
		s.holdFromNowOn()
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
