package hub

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/server/internal/wstest"
)

var topics = []string{"Artist", "Album", "Track"}

func newHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	if opts.Topics == nil {
		opts.Topics = topics
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewValidatesTopics(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("no topics accepted")
	}
	if _, err := New(Options{Topics: make([]string, 65)}); err == nil {
		t.Error("65 topics accepted")
	}
}

func TestMask(t *testing.T) {
	h := newHub(t, Options{})
	tests := []struct {
		names   []string
		want    uint64
		wantErr string
	}{
		{nil, 0b111, ""},
		{[]string{"Artist"}, 0b001, ""},
		{[]string{"Track", "Album"}, 0b110, ""},
		{[]string{"Track", "Track"}, 0b100, ""},
		{[]string{"track"}, 0, `unknown topic "track"; known topics: Artist, Album, Track`},
		{[]string{"Track", ""}, 0, `unknown topic ""`},
	}
	for _, tt := range tests {
		got, err := h.Mask(tt.names)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Mask(%q) error %v, want %q", tt.names, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Mask(%q) = %b, %v; want %b", tt.names, got, err, tt.want)
		}
	}
}

// checkShards verifies every subscriber knows its true position.
func checkShards(t *testing.T, h *Hub) {
	t.Helper()
	total := 0
	for k := range h.shards {
		for i, s := range h.shards[k].subs {
			if int(s.idx) != i || int(s.shard) != k {
				t.Fatalf("subscriber at shard %d index %d thinks it is at %d/%d", k, i, s.shard, s.idx)
			}
		}
		total += len(h.shards[k].subs)
	}
	if int64(total) != h.Len() {
		t.Fatalf("shards hold %d subscribers, Len says %d", total, h.Len())
	}
}

func TestJoinLeaveKeepsShardsConsistent(t *testing.T) {
	h := newHub(t, Options{Shards: 7})
	var subs []*Subscriber
	for range 1000 {
		subs = append(subs, h.Join(nil, 1))
	}
	checkShards(t, h)
	rand.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })
	for i, s := range subs[:600] {
		h.Leave(s)
		if i%50 == 0 {
			checkShards(t, h)
		}
	}
	h.Leave(subs[0]) // twice: harmless
	checkShards(t, h)
	if h.Len() != 400 {
		t.Fatalf("Len = %d, want 400", h.Len())
	}
	// Concurrent joins and leaves.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				s := h.Join(nil, 1)
				if (i+g)%2 == 0 {
					h.Leave(s)
				}
			}
		})
	}
	wg.Wait()
	checkShards(t, h)
	if h.Len() != 400+8*250 {
		t.Fatalf("Len = %d, want %d", h.Len(), 400+8*250)
	}
}

// server upgrades every request and joins the hub with the topics in the
// query, like the real API does.
func server(t *testing.T, h *Hub) string {
	t.Helper()
	up := gws.NewUpgrader(events{h}, &gws.ServerOption{
		NewSession: func() gws.SessionStorage { return &session{} },
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mask, err := h.Mask(r.URL.Query()["topic"])
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		conn, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		conn.Session().(*session).sub = h.Join(conn, mask)
		go conn.ReadLoop()
	}))
	t.Cleanup(srv.Close)
	return "ws://" + strings.TrimPrefix(srv.URL, "http://")
}

type events struct{ h *Hub }

func (events) OnOpen(*gws.Conn) {}
func (e events) OnClose(c *gws.Conn, _ error) {
	e.h.Leave(c.Session().(*session).sub)
}
func (events) OnPing(c *gws.Conn, p []byte)          { c.Session().(*session).sub.Pong(p) }
func (events) OnPong(c *gws.Conn, _ []byte)          { c.Session().(*session).sub.Touch() }
func (events) OnMessage(_ *gws.Conn, m *gws.Message) { _ = m.Close() }

type session struct{ sub *Subscriber }

func (*session) Len() int                     { return 0 }
func (*session) Load(string) (any, bool)      { return nil, false }
func (*session) Delete(string)                {}
func (*session) Store(string, any)            {}
func (*session) Range(func(string, any) bool) {}

func waitLen(t *testing.T, h *Hub, n int64) {
	t.Helper()
	wstest.WaitCount(t, "hub subscribers", h.Len, n)
}

func TestPublishReachesSubscribersOfTheTopicOnly(t *testing.T) {
	h := newHub(t, Options{Shards: 4})
	url := server(t, h)
	tracks := []*wstest.Client{wstest.Dial(t, url+"?topic=Track"), wstest.Dial(t, url+"?topic=Track")}
	albums := wstest.Dial(t, url+"?topic=Album")
	all := wstest.Dial(t, url)
	waitLen(t, h, 4)

	const n = 100
	for i := 1; i <= n; i++ {
		if got := h.Publish("Track", int64(i), []byte(`{"topic":"Track","id":`+strconv.Itoa(i)+`}`)); got != 3 {
			t.Fatalf("Publish queued to %d subscribers, want 3", got)
		}
	}
	if got := h.Publish("Album", n+1, []byte(`{"topic":"Album","id":1}`)); got != 2 {
		t.Fatalf("Publish queued to %d subscribers, want 2", got)
	}
	if got := h.Publish("Invoice", 0, []byte(`{}`)); got != 0 {
		t.Fatalf("Publish to an unknown topic queued to %d", got)
	}
	for _, c := range tracks {
		msgs := c.WaitMessages(t, n)
		for i, m := range msgs {
			if m.ID != int64(i+1) || m.Topic != "Track" {
				t.Fatalf("message %d = %+v", i, m)
			}
		}
	}
	if msgs := albums.WaitMessages(t, 1); len(msgs) != 1 || msgs[0].Topic != "Album" {
		t.Fatalf("album client got %+v", msgs)
	}
	if msgs := all.WaitMessages(t, n+1); len(msgs) != n+1 {
		t.Fatalf("all-topics client got %d messages", len(msgs))
	}
	if st := h.Stats(); st.Messages != 3*n+2 || st.Subscribers != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestPingAllReapsSilentPeers(t *testing.T) {
	h := newHub(t, Options{})
	url := server(t, h)
	c := wstest.Dial(t, url)
	waitLen(t, h, 1)
	if pinged, reaped := h.PingAll(time.Hour); pinged != 1 || reaped != 0 {
		t.Fatalf("PingAll(1h) = %d pinged, %d reaped; want 1, 0", pinged, reaped)
	}
	// Everyone is "silent" against a deadline in the future.
	if pinged, reaped := h.PingAll(-time.Hour); pinged != 0 || reaped != 1 {
		t.Fatalf("PingAll(-1h) = %d pinged, %d reaped; want 0, 1", pinged, reaped)
	}
	c.WaitClose(t)
	waitLen(t, h, 0)
	if st := h.Stats(); st.PingTimeouts != 1 {
		t.Errorf("PingTimeouts = %d, want 1", st.PingTimeouts)
	}
}

func TestCloseAllSendsTheCode(t *testing.T) {
	h := newHub(t, Options{})
	url := server(t, h)
	var clients []*wstest.Client
	for range 5 {
		clients = append(clients, wstest.Dial(t, url))
	}
	waitLen(t, h, 5)
	h.CloseAll(1001, "bye", time.Now().Add(time.Second), time.Now().Add(10*time.Second), 5*time.Second)
	for i, c := range clients {
		if code := c.WaitClose(t); code != 1001 {
			t.Errorf("client %d: close code %d, want 1001", i, code)
		}
	}
	waitLen(t, h, 0)
}

// After its close frame a subscriber gets no data and no ping, and a second
// Close (the shutdown sweep meeting a late join) sends nothing more.
func TestClosedSubscriberGetsNothingMore(t *testing.T) {
	h := newHub(t, Options{Shards: 1})
	url := server(t, h)
	closed, open := wstest.Dial(t, url), wstest.Dial(t, url)
	waitLen(t, h, 2)
	sub := h.shards[0].subs[0]
	sub.Close(1001, "bye", 5*time.Second)
	sub.Close(1001, "bye again", 5*time.Second)
	if got := h.Publish("Track", 1, []byte(`{"topic":"Track","id":1}`)); got != 1 {
		t.Fatalf("Publish queued to %d subscribers after one closed, want 1", got)
	}
	if pinged, _ := h.PingAll(time.Hour); pinged != 1 {
		t.Fatalf("PingAll pinged %d, want 1", pinged)
	}
	h.CloseAll(1001, "bye", time.Now().Add(time.Second), time.Now().Add(10*time.Second), 5*time.Second)
	for i, c := range []*wstest.Client{closed, open} {
		if code := c.WaitClose(t); code != 1001 {
			t.Errorf("client %d: close code %d, want 1001", i, code)
		}
	}
}
