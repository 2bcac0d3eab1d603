package hub

import (
	"sync"
	"time"
)

// CloseAll sends every subscriber a close frame with code and reason. It
// first stops queueing and lets the frames already queued be written until
// flushBy; then each close write is bounded by timeout and by deadline,
// after which sockets are closed without a close frame. A socket whose
// close frame went out stays open for reading until deadline, for the
// peer to read what is still in its socket and answer. It does not wait
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
				// The clients read the backlog still in their sockets
				// (and answer pings in it) after the close frame went
				// out: the socket stays open for reading until the
				// deadline, or a pong arriving at a closed socket
				// resets it and the close frame is lost.
				s.closeLingering(code, reason, min(timeout, left), left)
			}
		})
	}
	for _, s := range all {
		work <- s
	}
	close(work)
	wg.Wait()
}
