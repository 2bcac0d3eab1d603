package hub

import (
	"time"

	"github.com/lxzan/gws"
)

// Keep-alive: the caller (server/wsapi) decides when to ping; one sweep
// over the hub pings every subscriber and reaps those gone quiet.

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
			if s.q.push(outFrame{b: ping}) {
				pinged++
			}
		}
		sh.mu.RUnlock()
	}
	return pinged, reaped
}
