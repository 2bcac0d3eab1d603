package engine

import (
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// TestHeartbeatPingsAreTimed runs ping heartbeats against the npm ws
// server, which answers pings itself: every answered ping is counted and
// its round trip sampled.
func TestHeartbeatPingsAreTimed(t *testing.T) {
	base := testpeer.WSPeer(t)
	eachEngine(t, func(t *testing.T) {
		const n = 4
		p := dial(t, Config{URLs: []string{base + "/"}, Connections: n,
			Heartbeat: Heartbeat{Every: 20 * time.Millisecond, Ping: true}})
		var count int64
		var samples []time.Duration
		eventually(t, "two answered pings per connection", func() bool {
			r := p.Drain()
			count += r.PingCount
			samples = append(samples, r.Pings...)
			return count >= 2*n
		})
		if len(samples) == 0 {
			t.Fatal("pings counted but none sampled")
		}
		for _, d := range samples {
			if d < 0 {
				t.Fatalf("negative round trip %v", d)
			}
		}
	})
}

func TestPongsWithoutOurStampAreNotTimed(t *testing.T) {
	var buf [pingLen]byte
	stamp := pingPayload(&buf, 1000)
	if d, ok := pongRTT(stamp, 1500); !ok || d != 500 {
		t.Fatalf("own stamp: %v %v", d, ok)
	}
	for _, payload := range [][]byte{nil, []byte("hello"), append([]byte("xxxx"), stamp[4:]...)} {
		if _, ok := pongRTT(payload, 1500); ok {
			t.Errorf("pong %q was timed", payload)
		}
	}
	if _, ok := pongRTT(stamp, 999); ok {
		t.Error("a stamp from the future was timed")
	}
}
