package hub

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// This benchmark reaches the hub only through its exported API (New, Mask,
// Join, Leave, Publish, WaitReady, Stats), the way server/wsapi does, so
// that it keeps measuring the same thing while the writer's internals
// change. The gws handlers are the tests' (events and session in
// hub_test.go, discard in catchup_test.go), which use exported methods
// only.

// BenchmarkPublish publishes one small Track message per iteration to
// loopback subscribers, the hub's hot path (per-subscriber lock and age
// stamp): "paced" and "unpaced" are 200 subscribers all on Track, with and
// without waiting for WaitReady before each publish like the server's
// insert path; the others are paced, with every subscriber on Track
// ("all") or a third of them, the rest on other topics ("third": the
// topic mask filters two thirds out). Each waits at the end for every
// queued frame to be written. ns/op is per publish; msgs/s counts
// deliveries.
func BenchmarkPublish(b *testing.B) {
	b.Run("paced", func(b *testing.B) { benchmarkPublish(b, 200, false, true) })
	b.Run("unpaced", func(b *testing.B) { benchmarkPublish(b, 200, false, false) })
	for _, subscribers := range []int{10, 300} {
		for _, spread := range []string{"all", "third"} {
			b.Run(fmt.Sprintf("subscribers=%d/%s", subscribers, spread), func(b *testing.B) {
				benchmarkPublish(b, subscribers, spread == "third", true)
			})
		}
	}
}

func benchmarkPublish(b *testing.B, subscribers int, spread, pace bool) {
	h, err := New(Options{Topics: topics})
	if err != nil {
		b.Fatal(err)
	}
	masks := make([]uint64, len(topics))
	for i, name := range topics {
		if masks[i], err = h.Mask([]string{name}); err != nil {
			b.Fatal(err)
		}
	}
	upgrader := gws.NewUpgrader(events{h}, &gws.ServerOption{NewSession: func() gws.SessionStorage { return &session{} }})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r)
		if err != nil {
			return
		}
		mask := masks[2] // Track
		if spread {
			mask = masks[topicIndex(r.URL.Query().Get("topic"))]
		}
		conn.Session().(*session).sub = h.Join(conn, mask)
		go conn.ReadLoop()
	}))
	defer srv.Close()
	url := "ws://" + strings.TrimPrefix(srv.URL, "http://")
	trackSubscribers := 0
	for i := range subscribers {
		topic := topics[i%len(topics)]
		if !spread || topic == "Track" {
			trackSubscribers++
		}
		c, _, err := gws.NewClient(discard{}, &gws.ClientOption{Addr: url + "/?topic=" + topic})
		if err != nil {
			b.Fatal(err)
		}
		defer c.NetConn().Close()
		go c.ReadLoop()
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.Len() < int64(subscribers) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscribers joined", h.Len(), subscribers)
		}
		time.Sleep(time.Millisecond)
	}
	payload := msg(1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if pace {
			h.WaitReady(ctx)
		}
		if got := h.Publish("Track", int64(i+1), payload); got != trackSubscribers {
			b.Fatalf("publish queued to %d subscribers, want %d", got, trackSubscribers)
		}
	}
	for h.Stats().Backlog > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*trackSubscribers)/b.Elapsed().Seconds(), "msgs/s")
}

func topicIndex(name string) int {
	for i, t := range topics {
		if t == name {
			return i
		}
	}
	return 0
}
