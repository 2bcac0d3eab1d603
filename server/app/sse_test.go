package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/internal/ssetest"
	"github.com/massconn/massconn/server/internal/wstest"
)

func lastEventID(pos string) http.Header {
	return http.Header{"Last-Event-ID": {pos}}
}

// Every committed row reaches every SSE client of its topic once, in
// commit order, as an event whose id is the row's position and whose data
// is the WebSocket message, byte for byte.
func TestSSEEveryRowOnceInOrder(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)
	tracks := ssetest.Dial(t, a.Addr(), "/sse?topic=Track", nil)
	both := ssetest.Dial(t, a.Addr(), "/sse?topic=Track&topic=Album", nil)
	ws := wstest.Dial(t, wsURL(a, "?topic=Track&topic=Album"))
	if got := tracks.Response.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", got)
	}
	if tracks.Response.ProtoMajor != 1 || tracks.Response.ProtoMinor != 1 {
		t.Errorf("response is %s, want HTTP/1.1", tracks.Response.Proto)
	}
	done := make(chan struct{})
	go func() { defer close(done); insertRows(t, db, "Album", 40) }()
	insertRows(t, db, "Track", 60)
	<-done
	got := tracks.WaitMessages(t, 60)
	checkExactly(t, "Track client", got, "Track", logOrder(t, db, "Track"))
	checkPositions(t, "Track client", got)
	if n := countTopic(got, "Album"); n != 0 {
		t.Errorf("Track client got %d Album rows", n)
	}
	gotBoth := both.WaitMessages(t, 100)
	checkExactly(t, "two-topic client", gotBoth, "Track", logOrder(t, db, "Track"))
	checkExactly(t, "two-topic client", gotBoth, "Album", logOrder(t, db, "Album"))
	checkPositions(t, "two-topic client", gotBoth)
	// The same bytes as the WebSocket message.
	wsMsgs := ws.WaitMessages(t, 100)
	events := both.Events()
	for i := range min(len(wsMsgs), len(events)) {
		want, _ := json.Marshal(wsMsgs[i])
		var m wstest.Message
		_ = json.Unmarshal([]byte(events[i].Data), &m)
		again, _ := json.Marshal(m)
		if string(want) != string(again) {
			t.Fatalf("event %d data %s differs from the WebSocket message %s", i, events[i].Data, want)
		}
	}
}

// A client that comes back with Last-Event-ID (what EventSource sends) or
// ?after= gets everything committed since, even while no server ran: no
// gap, no duplicate. The server's shutdown ends the stream cleanly.
func TestSSEResumeAcrossRestart(t *testing.T) {
	for _, how := range []string{"Last-Event-ID", "after"} {
		t.Run(how, func(t *testing.T) {
			url := newDatabase(t, shared)
			db := openDB(t, url)
			a := startApp(t, url, nil)
			c := ssetest.Dial(t, a.Addr(), "/sse?topic=Track", nil)
			insertRows(t, db, "Track", 20)
			first := c.WaitMessages(t, 20)
			if err := a.Shutdown(); err != nil {
				t.Fatal(err)
			}
			c.WaitEnd(t)
			insertRows(t, db, "Track", 15) // while no server runs

			b := startApp(t, url, nil)
			done := make(chan struct{})
			go func() { defer close(done); insertRows(t, db, "Track", 40) }()
			last := first[len(first)-1].Pos
			var resumed *ssetest.Client
			if how == "after" {
				resumed = ssetest.Dial(t, b.Addr(), "/sse?topic=Track&after="+last, nil)
			} else {
				// Last-Event-ID wins over the after= of the URL the
				// stream was first opened with.
				resumed = ssetest.Dial(t, b.Addr(), "/sse?topic=Track&after=0", lastEventID(last))
			}
			<-done
			insertRows(t, db, "Track", 5)
			resumeCheck(t, db, "resumed SSE client", first, resumed.WaitMessages(t, 60), "Track")
		})
	}
}

func TestSSEResumeOnAnotherNode(t *testing.T) {
	url := newDatabase(t, shared)
	db := openDB(t, url)
	nodeA, nodeB := startApp(t, url, nil), startApp(t, url, nil)
	c := ssetest.Dial(t, nodeA.Addr(), "/sse?topic=Track", nil)
	insertRows(t, db, "Track", 30)
	first := c.WaitMessages(t, 30)[:17]
	_ = c.Conn.Close()
	insertRows(t, db, "Track", 10)
	resumed := ssetest.Dial(t, nodeB.Addr(), "/sse?topic=Track", lastEventID(first[len(first)-1].Pos))
	insertRows(t, db, "Track", 10)
	resumeCheck(t, db, "SSE client resumed on node B", first, resumed.WaitMessages(t, 50-17), "Track")
}

// What the WebSocket path closes with 4410 is answered 410 Gone, with a
// one-line reason, before the stream starts.
func TestSSEGoneGets410(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)
	c := ssetest.Dial(t, a.Addr(), "/sse?topic=Track", nil)
	insertRows(t, db, "Track", 10)
	msgs := c.WaitMessages(t, 10)
	if _, err := a.Source().PruneHistory(context.Background(), 0); err != nil {
		t.Fatalf("prune: %v", err)
	}
	for _, tt := range []struct{ name, id, reason string }{
		{"pruned", msgs[2].Pos, "pruned"},
		{"ahead of the log", "999999999999", "ahead"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, _ := ssetest.Request(t, a.Addr(), "/sse?topic=Track", lastEventID(tt.id), nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), tt.reason) || strings.Count(strings.TrimSpace(string(body)), "\n") > 0 {
				t.Errorf("HTTP %d %q; want 410 with a one-line reason saying %q", resp.StatusCode, body, tt.reason)
			}
		})
	}
	// The last position is still a fine place to resume from.
	ok := ssetest.Dial(t, a.Addr(), "/sse?topic=Track", lastEventID(msgs[9].Pos))
	insertRows(t, db, "Track", 1)
	all := append(msgs, ok.WaitMessages(t, 1)...)
	checkExactly(t, "resumed at the horizon", all, "Track", tableIDs(t, db, "Track"))
	wstest.WaitCount(t, "open connections", func() int64 { return a.Hub().Len() }, 2)
}

// /sse has /ws's guards, and --max-conns counts both transports.
func TestSSERefusals(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), func(c *app.Config) {
		c.MaxConns = 2
		c.AuthToken = "s3cret"
		c.AllowedOrigins = []string{"https://app.example"}
	})
	auth := func(h http.Header) http.Header {
		if h == nil {
			h = http.Header{}
		}
		h.Set("Authorization", "Bearer s3cret")
		return h
	}
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		reason string
	}{
		{"unknown topic", "/sse?topic=Invoice", auth(nil), http.StatusBadRequest, `unknown topic "Invoice"`},
		{"bad Last-Event-ID", "/sse?topic=Track", auth(http.Header{"Last-Event-ID": {"x1"}}), http.StatusBadRequest, "Last-Event-ID"},
		{"bad after", "/sse?topic=Track&after=-1", auth(nil), http.StatusBadRequest, "after"},
		{"no token", "/sse?topic=Track", nil, http.StatusUnauthorized, "token"},
		{"wrong token", "/sse?topic=Track&access_token=nope", nil, http.StatusUnauthorized, "token"},
		{"foreign origin", "/sse?topic=Track", auth(http.Header{"Origin": {"https://evil.example"}}), http.StatusForbidden, "--allowed-origins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, _ := ssetest.Request(t, a.Addr(), tt.path, tt.header, nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.reason) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, body, tt.status, tt.reason)
			}
		})
	}
	allowed := ssetest.Dial(t, a.Addr(), "/sse?topic=Track&access_token=s3cret", http.Header{"Origin": {"https://app.example"}})
	if got := allowed.Response.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin %q, want the allowed origin", got)
	}
	outer := t // the connections below outlive the subtest
	t.Run("max conns shared with /ws", func(t *testing.T) {
		ws, _, err := wstest.DialErr(wsURL(a, "?access_token=s3cret"))
		if err != nil {
			t.Fatalf("WebSocket: %v", err)
		}
		_ = ws
		resp, _, _ := ssetest.Request(t, a.Addr(), "/sse?topic=Track", auth(nil), nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "--max-conns=2") {
			t.Errorf("third connection (one SSE, one WebSocket open): HTTP %d %q; want 503 naming --max-conns", resp.StatusCode, body)
		}
		// A freed SSE slot is usable again: the server notices the peer
		// going away although it never reads from it.
		_ = allowed.Conn.Close()
		wstest.WaitCount(t, "open connections", func() int64 { return a.Hub().Len() }, 1)
		ssetest.Dial(outer, a.Addr(), "/sse?topic=Track", auth(nil))
	})
	// A client has its 200 just before the server counts its stream:
	// poll.
	for _, want := range []string{
		`massconn_connections_rejected_total{reason="unknown_topic",transport="sse"} 1`,
		`massconn_connections_rejected_total{reason="bad_after",transport="sse"} 2`,
		`massconn_connections_rejected_total{reason="unauthorized",transport="sse"} 2`,
		`massconn_connections_rejected_total{reason="forbidden_origin",transport="sse"} 1`,
		`massconn_connections_rejected_total{reason="max_conns",transport="sse"} 1`,
		// The same reasons on /ws: none (the series exist from the start).
		`massconn_connections_rejected_total{reason="unauthorized",transport="ws"} 0`,
		`massconn_connections_rejected_total{reason="max_conns",transport="ws"} 0`,
		`massconn_transport_connections{transport="sse"} 1`,
		`massconn_transport_connections{transport="ws"} 1`,
		`massconn_transport_connections_accepted_total{transport="sse"} 2`,
	} {
		waitMetric(t, "http://"+a.Addr(), want)
	}
}

// Every SSE client gets a keep-alive comment each --sse-heartbeat, and
// /healthz and /metrics count SSE apart from WebSocket.
func TestSSEHeartbeatAndHealth(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, func(c *app.Config) { c.SSEHeartbeat = 50 * time.Millisecond })
	c := ssetest.Dial(t, a.Addr(), "/sse", nil)
	ws := wstest.Dial(t, wsURL(a, ""))
	c.WaitFor(t, "3 keep-alive comments", func() bool { return c.Comments() >= 3 })
	insertRows(t, openDB(t, url), "Album", 3)
	c.WaitMessages(t, 3)
	ws.WaitMessages(t, 3)
	_, body := httpGet(t, "http://"+a.Addr()+"/healthz", nil)
	var h struct {
		Connections  int `json:"connections"`
		MessagesSent int `json:"messages_sent"`
		Transports   map[string]struct {
			Connections  int `json:"connections"`
			MessagesSent int `json:"messages_sent"`
		} `json:"transports"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz %q: %v", body, err)
	}
	if h.Connections != 2 || h.MessagesSent != 6 || h.Transports["sse"].Connections != 1 || h.Transports["sse"].MessagesSent != 3 ||
		h.Transports["ws"].Connections != 1 || h.Transports["ws"].MessagesSent != 3 {
		t.Errorf("/healthz = %s", body)
	}
}

// A client that stops reading is closed as slow, by the hub's rule, and
// resumes with Last-Event-ID without a gap.
func TestSSESlowClientResumesWithoutGap(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, func(c *app.Config) { c.SlowAfter = 500 * time.Millisecond })
	db := openDB(t, url)
	stuck := ssetest.Open(t, a.Addr(), "/sse?topic=Track", nil, &net.Dialer{Control: wstest.SmallReceiveBuffer})
	const rows = 3000
	if _, err := db.Exec(`INSERT INTO "Track" (name, composer)
		SELECT 'big', repeat('x', 3000) FROM generate_series(1, $1::int)`, rows); err != nil {
		t.Fatal(err)
	}
	wstest.WaitCount(t, "slow drops", func() int64 { return int64(a.Hub().Stats().SlowDrops) }, 1)
	// Read what got through before the server ended the stream.
	stuck.Start()
	stuck.WaitEnd(t)
	first := ssetest.Decode(t, stuck.Events())
	if len(first) == rows {
		t.Fatalf("stuck client got every row before its close; the test proves nothing")
	}
	last := "0"
	if len(first) > 0 {
		last = first[len(first)-1].Pos
	}
	resumed := ssetest.Dial(t, a.Addr(), "/sse?topic=Track", lastEventID(last))
	resumeCheck(t, db, "slow SSE client", first, resumed.WaitMessages(t, rows-len(first)), "Track")
}

// An idle SSE connection holds no goroutine of its own: the server only
// watches its socket for the peer going away.
func TestIdleSSEConnectionsHoldNoGoroutine(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), nil)
	ssetest.Dial(t, a.Addr(), "/sse", nil) // starts the poller
	before := runtime.NumGoroutine()
	const n = 200
	var clients []*ssetest.Client
	for range n {
		clients = append(clients, ssetest.Dial(t, a.Addr(), "/sse", nil))
	}
	wstest.WaitCount(t, "open connections", func() int64 { return a.Hub().Len() }, n+1)
	// The test's own clients read in a goroutine each.
	if grew := runtime.NumGoroutine() - before - n; grew > n/10 {
		t.Errorf("%d idle SSE connections added %d server goroutines; want none per connection", n, grew)
	}
	for _, c := range clients {
		_ = c.Conn.Close()
	}
	wstest.WaitCount(t, "open connections", func() int64 { return a.Hub().Len() }, 1)
}

// A client has nothing to say on an event stream; bytes it sends anyway
// are read and dropped, and the stream goes on.
func TestSSEClientBytesAreDropped(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	c := ssetest.Dial(t, a.Addr(), "/sse?topic=Track", nil)
	if _, err := c.Conn.Write([]byte(strings.Repeat("chatter\n", 4096))); err != nil {
		t.Fatal(err)
	}
	insertRows(t, openDB(t, url), "Track", 5)
	if got := c.WaitMessages(t, 5); len(got) != 5 {
		t.Fatalf("got %d events after the client's chatter, want 5", len(got))
	}
	_ = c.Conn.Close()
	wstest.WaitCount(t, "open connections", func() int64 { return a.Hub().Len() }, 0)
}

// On shutdown (what SIGTERM runs) an SSE stream gets every event already
// queued for it, then ends: no close frame, the connection closes.
func TestSSEShutdownWritesTheQueueThenEnds(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)
	c := ssetest.Open(t, a.Addr(), "/sse?topic=Track", nil, &net.Dialer{Control: wstest.SmallReceiveBuffer})
	const rows = 2000
	if _, err := db.Exec(`INSERT INTO "Track" (name, composer)
		SELECT 'big', repeat('x', 3000) FROM generate_series(1, $1::int)`, rows); err != nil {
		t.Fatal(err)
	}
	wstest.WaitCount(t, "events queued", func() int64 { return int64(a.Hub().StatsOf(hub.SSE).Messages) }, rows)
	if a.Hub().Stats().Backlog == 0 {
		t.Fatal("nothing left queued for the client that reads nothing: the test proves nothing")
	}
	shut := make(chan error, 1)
	go func() { shut <- a.Shutdown() }()
	c.Start()
	c.WaitEnd(t)
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	got := ssetest.Decode(t, c.Events())
	checkExactly(t, "client at shutdown", got, "Track", logOrder(t, db, "Track"))
}
