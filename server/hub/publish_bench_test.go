package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/server/hub"
)

// This benchmark reaches the hub only through its exported API (New, Mask,
// Join, Leave, Publish, WaitReady, Stats), the way server/wsapi does, so
// that it keeps measuring the same thing while the writer's internals change.

// benchTopics: subscribers split over three topics, one message topic.
var benchTopics = []string{"Artist", "Album", "Track"}

// benchSession is the gws session that remembers a connection's subscriber.
type benchSession struct{ sub *hub.Subscriber }

func (*benchSession) Len() int                     { return 0 }
func (*benchSession) Load(string) (any, bool)      { return nil, false }
func (*benchSession) Delete(string)                {}
func (*benchSession) Store(string, any)            {}
func (*benchSession) Range(func(string, any) bool) {}

// benchServerEvents is the server side of a subscriber connection.
type benchServerEvents struct{ h *hub.Hub }

func (benchServerEvents) OnOpen(*gws.Conn) {}
func (e benchServerEvents) OnClose(c *gws.Conn, _ error) {
	e.h.Leave(c.Session().(*benchSession).sub)
}
func (benchServerEvents) OnPing(c *gws.Conn, p []byte)          { c.Session().(*benchSession).sub.Pong(p) }
func (benchServerEvents) OnPong(c *gws.Conn, _ []byte)          { c.Session().(*benchSession).sub.Touch() }
func (benchServerEvents) OnMessage(_ *gws.Conn, m *gws.Message) { _ = m.Close() }

// benchClientEvents reads and drops every message.
type benchClientEvents struct{}

func (benchClientEvents) OnOpen(*gws.Conn)                      {}
func (benchClientEvents) OnClose(*gws.Conn, error)              {}
func (benchClientEvents) OnPing(c *gws.Conn, p []byte)          { _ = c.WritePong(p) }
func (benchClientEvents) OnPong(*gws.Conn, []byte)              {}
func (benchClientEvents) OnMessage(_ *gws.Conn, m *gws.Message) { _ = m.Close() }

// BenchmarkHubPublish publishes one small Track message per iteration to
// loopback subscribers: every subscriber on Track ("all"), or a third of
// them with the rest on other topics ("third", the topic mask filtering
// two thirds out). It waits for the publisher's WaitReady like the
// server's insert path and, at the end, for every queued frame to be
// written. ns/op is per publish; msgs/s counts deliveries.
func BenchmarkHubPublish(b *testing.B) {
	for _, subscribers := range []int{10, 300} {
		for _, spread := range []string{"all", "third"} {
			b.Run(fmt.Sprintf("subscribers=%d/%s", subscribers, spread), func(b *testing.B) {
				benchmarkHubPublish(b, subscribers, spread == "third")
			})
		}
	}
}

func benchmarkHubPublish(b *testing.B, subscribers int, spread bool) {
	h, err := hub.New(hub.Options{Topics: benchTopics})
	if err != nil {
		b.Fatal(err)
	}
	masks := make([]uint64, len(benchTopics))
	for i, name := range benchTopics {
		if masks[i], err = h.Mask([]string{name}); err != nil {
			b.Fatal(err)
		}
	}
	upgrader := gws.NewUpgrader(benchServerEvents{h}, &gws.ServerOption{
		NewSession: func() gws.SessionStorage { return &benchSession{} },
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r)
		if err != nil {
			return
		}
		mask := masks[2] // Track
		if spread {
			mask = masks[topicIndex(r.URL.Query().Get("topic"))]
		}
		conn.Session().(*benchSession).sub = h.Join(conn, mask)
		go conn.ReadLoop()
	}))
	defer srv.Close()
	url := "ws://" + strings.TrimPrefix(srv.URL, "http://")
	trackSubscribers := 0
	for i := range subscribers {
		topic := benchTopics[i%len(benchTopics)]
		if !spread || topic == "Track" {
			trackSubscribers++
		}
		c, _, err := gws.NewClient(benchClientEvents{}, &gws.ClientOption{Addr: url + "/?topic=" + topic})
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
	payload := []byte(`{"topic":"Track","op":"INSERT","id":42,"ts":1795430400123456,"row":{"id":42,"name":"Track 1"}}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.WaitReady(ctx)
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
	for i, t := range benchTopics {
		if t == name {
			return i
		}
	}
	return 0
}
