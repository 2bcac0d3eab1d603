package engine

import (
	"encoding/binary"
	"time"
)

// pingStamp is the payload of a heartbeat ping: a tag and the send time
// on the engine's monotonic clock (mono). A server echoes a ping's payload
// in its pong (RFC 6455 5.5.3), so the round trip is measured without a
// byte of per-connection state; pongs with any other payload (unsolicited
// ones, answers to pings we did not send) are not measured.
const pingTag = "mcp1"

const pingLen = len(pingTag) + 8

func pingPayload(buf *[pingLen]byte, now int64) []byte {
	copy(buf[:], pingTag)
	binary.BigEndian.PutUint64(buf[len(pingTag):], uint64(now)) //nolint:gosec // mono() is >= 0
	return buf[:]
}

// pongRTT returns the round trip of the ping a pong answers, if it
// answers one of ours.
func pongRTT(payload []byte, now int64) (time.Duration, bool) {
	if len(payload) != pingLen || string(payload[:len(pingTag)]) != pingTag {
		return 0, false
	}
	sent := int64(binary.BigEndian.Uint64(payload[len(pingTag):])) //nolint:gosec // our own stamp
	if sent < 0 || sent > now {
		return 0, false
	}
	return time.Duration(now - sent), true
}

// pingSample counts one answered heartbeat ping.
func (s *shard) pingSample(d time.Duration, limit int) {
	s.pingCount.Add(1)
	s.mu.Lock()
	if d > s.pingMax {
		s.pingMax = d
	}
	s.ping.add(d, limit, &s.rng)
	s.mu.Unlock()
}
