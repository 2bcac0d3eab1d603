package engine

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// TestAgainstNpmWS runs the engine against the npm ws package, a server
// nobody on this project wrote.
func TestAgainstNpmWS(t *testing.T) {
	base := testpeer.WSPeer(t)
	t.Run("echo", func(t *testing.T) { checkEchoAndClose(t, base, nil) })
	t.Run("latency from fragmented messages", func(t *testing.T) {
		const n, per = 10, 20
		p := dial(t, Config{
			URLs: []string{base + "/"}, Connections: n, OnOpenSend: "fragpush 20",
			Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond},
		})
		var count int64
		eventually(t, "every reassembled message to be measured", func() bool {
			count += p.Drain().LatencyCount
			return count == n*per
		})
		if s := p.Stats(); s.Received != n*per || s.Failed != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("server ping gets our pong", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{base + "/"}, Connections: 5, OnOpenSend: "ping"})
		eventually(t, `"pong seen" from every connection`, func() bool { return p.Stats().Received == 5 })
	})
	t.Run("server close code", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{base + "/?close=4003"}, Connections: 5})
		eventually(t, "drops", func() bool { return p.Stats().Dropped == 5 })
		if r := p.Drain(); r.Drops[4003] != 5 {
			t.Fatalf("drops %v", r.Drops)
		}
	})
	t.Run("heartbeat and server-side close on request", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{base + "/"}, Connections: 5, OnOpenSend: "close 4004",
			Heartbeat: Heartbeat{Every: 20 * time.Millisecond, Ping: true}})
		eventually(t, "drops", func() bool { return p.Stats().Dropped == 5 })
		if r := p.Drain(); r.Drops[4004] != 5 {
			t.Fatalf("drops %v", r.Drops)
		}
	})
	t.Run("text that is not UTF-8", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{base + "/"}, Connections: 5, OnOpenSend: "badtext"})
		eventually(t, "protocol failures", func() bool { return p.Stats().Failures[ReasonProtocol] == 5 })
		if s := p.Stats(); s.Received != 0 || s.Dropped != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// checkEchoAndClose has the npm ws peer at base echo one message to each of
// 20 connections, closes them cleanly and checks nothing was lost.
func checkEchoAndClose(t *testing.T, base string, tlsConf *tls.Config) {
	t.Helper()
	p := dial(t, Config{URLs: []string{base + "/"}, Connections: 20, OnOpenSend: "hello {{conn}}", TLS: tlsConf})
	eventually(t, "echoes", func() bool { return p.Stats().Received == 20 })
	if err := p.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Open != 0 || s.Dropped != 0 || s.Failed != 0 {
		t.Fatalf("after close: %+v", s)
	}
}
