package engine

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/internal/mosquittotest"
	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// BenchmarkHeldHeap reports the Go heap one held connection keeps (live
// heap after a collection, per connection): raw ws:// to the npm ws peer,
// and mqtt to Mosquitto, connected and subscribed. Unlike k6's RSS it has
// no collector timing in it, so the adapter's own cost shows.
// Run it with -benchtime=1x.
func BenchmarkHeldHeap(b *testing.B) {
	const conns = 2000
	raw := testpeer.WSPeer(b) + "/"
	broker := mosquittotest.Start(b, mosquittotest.Options{})
	for _, tc := range []struct {
		name string
		cfg  Config
		held func() bool
	}{
		{"raw", Config{URLs: []string{raw}}, func() bool { return true }},
		{"mqtt", Config{URLs: []string{broker.WS}, Protocol: mqttAdapter(b, protocol.MQTTOptions{Topics: []string{uniqueTopic("heap")}})},
			func() bool { return broker.Sys(b, "subscriptions/count") == conns }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				tc.cfg.Connections = conns
				before := liveHeap()
				p, err := Dial(context.Background(), tc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err = p.Wait(ctx)
				cancel()
				deadline := time.Now().Add(time.Minute)
				for err == nil && !tc.held() && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				if s := p.Stats(); err != nil || s.Open != conns || !tc.held() {
					b.Fatalf("%v, stats %+v", err, s)
				}
				b.ReportMetric(float64(liveHeap()-before)/conns, "heap-B/conn")
				if err := p.Close(5 * time.Second); err != nil {
					b.Fatal(err)
				}
				for broker.Sys(b, "subscriptions/count") != 0 {
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc) //nolint:gosec // far below 2^63
}
