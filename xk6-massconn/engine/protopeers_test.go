package engine

import (
	"fmt"
	"testing"
	"time"

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

// publishMeasureClose has the peer publish pubs messages to each of the
// conns subscribed connections of pool, checks that every one arrived and
// had its latency measured with nothing dropped or failed, then closes the
// pool and waits for the peer to see every client go.
func (p protoPeer) publishMeasureClose(t *testing.T, pool *Pool, conns, pubs int) {
	t.Helper()
	p.publish(t, pubs)
	want := int64(conns * pubs)
	latencies := measured(t, pool, want)
	if s := pool.Stats(); s.Received != want || s.Dropped != 0 || s.Failed != 0 || latencies != want {
		t.Fatalf("stats %+v, latencies %d", s, latencies)
	}
	if err := pool.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	p.waitCount(t, 0)
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
