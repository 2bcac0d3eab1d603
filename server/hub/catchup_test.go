package hub

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/server/internal/wstest"
)

func msg(pos int64) []byte {
	return []byte(fmt.Sprintf(`{"topic":"Track","id":%d,"pos":"%019d"}`, pos, pos))
}

// catchUpServer joins every connection catching up from position after
// (the query's after) and hands the subscriber to the test.
func catchUpServer(t *testing.T, h *Hub, after int64, subs chan<- *Subscriber) string {
	t.Helper()
	up := gws.NewUpgrader(events{h}, &gws.ServerOption{NewSession: func() gws.SessionStorage { return &session{} }})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		s := h.JoinCatchingUp(conn, h.allTopics(), after)
		conn.Session().(*session).sub = s
		subs <- s
		go conn.ReadLoop()
	}))
	t.Cleanup(srv.Close)
	return "ws://" + strings.TrimPrefix(srv.URL, "http://")
}

func ids(msgs []wstest.Message) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// The seam between backlog and live: held live messages that the backlog
// also sent go out once, and an overflowing hold buffer makes the reader go
// back to the log instead of losing messages.
func TestCatchUpSeamHasNoGapAndNoDuplicate(t *testing.T) {
	h := newHub(t, Options{CatchUpBuffer: 3})
	subs := make(chan *Subscriber, 1)
	c := wstest.Dial(t, catchUpServer(t, h, 2, subs))
	s := <-subs

	// The "log" holds 1..6; live publishing of 5..8 happens meanwhile.
	for p := int64(5); p <= 6; p++ {
		h.Publish("Track", p, msg(p))
	}
	for p := int64(1); p <= 6; p++ { // 1 and 2 are at or before after
		if !s.Send(p, msg(p)) {
			t.Fatal("Send refused")
		}
	}
	for p := int64(7); p <= 8; p++ {
		h.Publish("Track", p, msg(p))
	}
	// Held: 5, 6, 7; 8 overflowed the buffer of 3.
	if s.FinishCatchUp() {
		t.Fatal("FinishCatchUp succeeded after the hold buffer overflowed")
	}
	// Read on from the log (LastPos is 6): 7, 8; live 9 is held meanwhile.
	h.Publish("Track", 9, msg(9))
	if got := s.LastPos(); got != 6 {
		t.Fatalf("LastPos %d, want 6", got)
	}
	for p := int64(7); p <= 9; p++ {
		s.Send(p, msg(p))
	}
	if !s.FinishCatchUp() {
		t.Fatal("second FinishCatchUp failed")
	}
	h.Publish("Track", 10, msg(10))
	got := ids(c.WaitMessages(t, 8))
	if fmt.Sprint(got) != "[3 4 5 6 7 8 9 10]" {
		t.Errorf("got %v, want 3..10 once each", got)
	}
}

// A subscriber whose oldest unsent message waited longer than SlowAfter is
// closed, however short its queue.
func TestSlowByAgeNotLength(t *testing.T) {
	h := newHub(t, Options{SlowAfter: time.Millisecond, QueueLimit: 1 << 20})
	url := server(t, h)
	c := wstest.Dial(t, url)
	waitLen(t, h, 1)
	var s *Subscriber
	for k := range h.shards {
		if len(h.shards[k].subs) > 0 {
			s = h.shards[k].subs[0]
		}
	}
	// Fake a message queued long ago that was never written, because the
	// client's socket refused it.
	s.q.mu.Lock()
	s.q.enqueueLocked(time.Now().Add(-time.Hour).UnixNano())
	s.q.pushedBackAt = time.Now().Add(-time.Hour).UnixNano()
	s.q.mu.Unlock()
	if n := h.SweepSlow(); n != 1 {
		t.Fatalf("SweepSlow closed %d, want 1", n)
	}
	if code := c.WaitClose(t); code != SlowClientCloseCode {
		t.Errorf("close code %d, want %d", code, SlowClientCloseCode)
	}
	if st := h.Stats(); st.SlowDrops != 1 || st.Backlog != 0 {
		t.Errorf("stats %+v: want 1 slow drop and the backlog released", st)
	}
	if h.Backlogged() {
		t.Errorf("hub still backlogged by a closed subscriber")
	}
}

// A message that waited long only because the server was behind (its
// writers had not reached the subscriber; the socket never refused a
// write) does not make the client slow: large runs once closed thousands of
// healthy clients as slow that had only a few small messages to read.
// A server that is behind paces its publisher instead (Backlogged).
func TestNotSlowWhenOnlyTheServerIsBehind(t *testing.T) {
	h := newHub(t, Options{SlowAfter: time.Millisecond, QueueLimit: 1 << 20})
	url := server(t, h)
	wstest.Dial(t, url)
	waitLen(t, h, 1)
	s := only(t, h)[0]
	s.q.mu.Lock()
	s.q.enqueueLocked(time.Now().Add(-time.Hour).UnixNano())
	s.q.mu.Unlock()
	if n := h.SweepSlow(); n != 0 {
		t.Fatalf("SweepSlow closed %d subscribers whose sockets took every write, want 0", n)
	}
	if st := h.Stats(); st.SlowDrops != 0 {
		t.Errorf("stats %+v: want no slow drop", st)
	}
}

type discard struct{}

func (discard) OnOpen(*gws.Conn)                      {}
func (discard) OnClose(*gws.Conn, error)              {}
func (discard) OnPing(c *gws.Conn, p []byte)          { _ = c.WritePong(p) }
func (discard) OnPong(*gws.Conn, []byte)              {}
func (discard) OnMessage(_ *gws.Conn, m *gws.Message) { _ = m.Close() }

// Shutdown's close frame goes after the frames already queued, not ahead
// of them: a client that reads gets every queued message, then 1001.
func TestCloseAllFlushesQueuedFramesFirst(t *testing.T) {
	h := newHub(t, Options{})
	url := server(t, h)
	var clients []*wstest.Client
	for range 20 {
		clients = append(clients, wstest.Dial(t, url+"?topic=Track"))
	}
	waitLen(t, h, 20)
	const n = 2000
	big := strings.Repeat("x", 4000)
	for i := 1; i <= n; i++ {
		h.Publish("Track", int64(i), []byte(fmt.Sprintf(`{"topic":"Track","id":%d,"row":{"c":%q}}`, i, big)))
	}
	now := time.Now()
	h.CloseAll(1001, "bye", now.Add(wstest.Timeout), now.Add(2*wstest.Timeout), 5*time.Second)
	for i, c := range clients {
		if code := c.WaitClose(t); code != 1001 {
			t.Errorf("client %d: close code %d, want 1001", i, code)
		}
		if got := len(c.Messages()); got != n {
			t.Errorf("client %d got %d of the %d queued messages before its close frame", i, got, n)
		}
	}
}
