package engine

import (
	"fmt"
	"testing"

	"github.com/massconn/massconn/xk6-massconn/internal/protopeer"
)

// protoPeer adds the engine tests' waiting to protopeer.Peer.
type protoPeer struct{ *protopeer.Peer }

func startProtoPeer(t *testing.T, mode string) protoPeer {
	return protoPeer{protopeer.Start(t, mode)}
}

func protoPeersDir(t *testing.T) string { return protopeer.Dir(t) }

func (p protoPeer) publish(t *testing.T, n int)    { p.Publish(t, n) }
func (p protoPeer) url(scheme, path string) string { return p.URL(scheme, path) }
func (p protoPeer) waitCount(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d subscribed clients", n), func() bool { return p.Count(t) == n })
}

// measured drains p until its stats hold want application messages, and
// returns how many latencies were measured on the way.
func measured(t *testing.T, p *Pool, want int64) int64 {
	t.Helper()
	var latencies int64
	eventually(t, fmt.Sprintf("%d application messages", want), func() bool {
		latencies += p.Drain().LatencyCount
		return p.Stats().Received >= want
	})
	return latencies + p.Drain().LatencyCount
}
