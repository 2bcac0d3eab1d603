package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/massconn/massconn/internal/pgtest"
	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/internal/wstest"
	"github.com/massconn/massconn/server/pgsource"
)

// shared is one PostgreSQL cluster for the tests that do not restart it;
// each test gets its own database in it.
var shared *pgtest.Server

// TestMain starts the shared cluster, runs the tests, stops the cluster and
// then fails the run if any goroutine is still running: an app's loops,
// the API's sampler and poller, or a subscriber's read loop that outlives
// its test is a leak.
func TestMain(m *testing.M) {
	var err error
	shared, err = pgtest.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(withSharedCluster{m})
}

// withSharedCluster runs the tests, then stops the shared cluster, before
// goleak looks for goroutines left behind.
type withSharedCluster struct{ m *testing.M }

func (w withSharedCluster) Run() int {
	code := w.m.Run()
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	return code
}

var dbSeq atomic.Int32

// newDatabase creates an empty database in pg and returns its URL.
func newDatabase(t testing.TB, pg *pgtest.Server) string {
	t.Helper()
	admin := openDB(t, pg.URL())
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return strings.Replace(pg.URL(), "/postgres?", "/"+name+"?", 1)
}

func openDB(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func startApp(t *testing.T, url string, tweak func(*app.Config)) *app.App {
	t.Helper()
	cfg := app.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DatabaseURL = url
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if tweak != nil {
		tweak(&cfg)
	}
	a, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	waitListening(t, a)
	return a
}

// waitListening waits until the source is listening, so rows inserted next
// are news to it rather than history.
func waitListening(t *testing.T, a *app.App) {
	t.Helper()
	deadline := time.Now().Add(wstest.Timeout)
	for a.Source().State() != pgsource.StateConnected || !a.Source().Started() {
		if time.Now().After(deadline) {
			t.Fatalf("listener state %q after %v", a.Source().State(), wstest.Timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func wsURL(a *app.App, query string) string { return "ws://" + a.Addr() + "/ws" + query }

func insertRows(t *testing.T, db *sql.DB, table string, n int) {
	t.Helper()
	_, err := pgsource.InsertLoop(context.Background(), db, pgsource.InsertConfig{Table: table, Every: time.Millisecond, Count: int64(n)})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func tableIDs(t *testing.T, db *sql.DB, table string) []int64 {
	t.Helper()
	return queryIDs(t, db, fmt.Sprintf(`SELECT id FROM %q ORDER BY id`, table))
}

// queryIDs runs query and returns its one int64 column.
func queryIDs(t *testing.T, db *sql.DB, query string, args ...any) []int64 {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return ids
}

// checkExactly asserts that msgs of topic are exactly ids, in order, and
// well formed.
func checkExactly(t *testing.T, who string, msgs []wstest.Message, topic string, ids []int64) {
	t.Helper()
	var got []int64
	for _, m := range msgs {
		if m.Topic != topic {
			continue
		}
		got = append(got, m.ID)
		var row struct {
			ID         int64  `json:"id"`
			InsertedAt string `json:"inserted_at"`
		}
		if err := json.Unmarshal(m.Row, &row); err != nil || row.ID != m.ID || row.InsertedAt == "" {
			t.Errorf("%s: message %d: bad row %s (%v)", who, m.ID, m.Row, err)
		}
		if m.Op != "INSERT" || m.TS < 1_600_000_000_000_000 || m.TS > time.Now().Add(time.Minute).UnixMicro() {
			t.Errorf("%s: message %d: op %q ts %d; want INSERT and unix microseconds", who, m.ID, m.Op, m.TS)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("%s: %s ids\n got %v\nwant %v", who, topic, got, ids)
	}
}

func countTopic(msgs []wstest.Message, topic string) int {
	n := 0
	for _, m := range msgs {
		if m.Topic == topic {
			n++
		}
	}
	return n
}

func TestEveryClientGetsEveryRowOnceInOrder(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)

	tracks := []*wstest.Client{wstest.Dial(t, wsURL(a, "?topic=Track")), wstest.Dial(t, wsURL(a, "?topic=Track&topic=Album"))}
	artists := wstest.Dial(t, wsURL(a, "?topic=Artist"))
	all := wstest.Dial(t, wsURL(a, ""))

	insertRows(t, db, "Artist", 5)
	insertRows(t, db, "Track", 200)
	insertRows(t, db, "Artist", 5)
	trackIDs, artistIDs := tableIDs(t, db, "Track"), tableIDs(t, db, "Artist")

	for i, c := range tracks {
		msgs := c.WaitMessages(t, len(trackIDs))
		checkExactly(t, fmt.Sprintf("track client %d", i), msgs, "Track", trackIDs)
		if n := countTopic(msgs, "Artist"); n != 0 {
			t.Errorf("track client %d got %d Artist messages it did not subscribe to", i, n)
		}
	}
	checkExactly(t, "artist client", artists.WaitMessages(t, len(artistIDs)), "Artist", artistIDs)
	msgs := all.WaitMessages(t, len(trackIDs)+len(artistIDs))
	checkExactly(t, "all-topics client", msgs, "Track", trackIDs)
	checkExactly(t, "all-topics client", msgs, "Artist", artistIDs)

	// Nothing more may trickle in: one more row must be the next message.
	insertRows(t, db, "Artist", 1)
	msgs = artists.WaitMessages(t, len(artistIDs)+1)
	checkExactly(t, "artist client", msgs, "Artist", tableIDs(t, db, "Artist"))
	for _, c := range append(tracks, artists, all) {
		if bad := c.Undecodable(); len(bad) > 0 {
			t.Errorf("undecodable messages: %q", bad)
		}
	}
}

// A row too large for pg_notify's 8000-byte payload is announced without
// its body; the server reads it back.
func TestLargeRowIsDelivered(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)
	c := wstest.Dial(t, wsURL(a, "?topic=Track"))
	if _, err := db.Exec(`INSERT INTO "Track" (name, composer) VALUES ('big', repeat('y', 20000))`); err != nil {
		t.Fatal(err)
	}
	msgs := c.WaitMessages(t, 1)
	checkExactly(t, "client", msgs, "Track", tableIDs(t, db, "Track"))
	if !strings.Contains(string(msgs[0].Row), strings.Repeat("y", 20000)) {
		t.Errorf("large row arrived without its composer column: %.200s", msgs[0].Row)
	}
}

func TestPostgresRestartLosesNoRowAndNoClient(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.URL()
	a := startApp(t, url, nil)
	db := openDB(t, url)
	clients := []*wstest.Client{
		wstest.Dial(t, wsURL(a, "?topic=Track")),
		wstest.Dial(t, wsURL(a, "?topic=Track")),
		wstest.Dial(t, wsURL(a, "")),
	}

	// Insert one row at a time, retrying through the outage: every row
	// that committed must reach every client.
	insert := func(n int) {
		for i := 0; i < n; {
			if _, err := db.Exec(`INSERT INTO "Track" (name) VALUES ('r')`); err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			i++
		}
	}
	insert(30)
	if err := pg.StopKeepData(); err != nil {
		t.Fatal(err)
	}
	if err := pg.StartAgain(); err != nil {
		t.Fatal(err)
	}
	// Rows inserted right after the restart, before the listener is back,
	// exist only in the table: the backfill must find them.
	insert(30)
	// Let the listener come back before the second outage, so that it is a
	// separate one.
	deadline := time.Now().Add(wstest.Timeout)
	for a.Source().Stats().Reconnects < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	pg.Restart(t)
	insert(30)

	ids := tableIDs(t, db, "Track")
	if len(ids) != 90 {
		t.Fatalf("table has %d rows, want 90", len(ids))
	}
	for i, c := range clients {
		checkExactly(t, fmt.Sprintf("client %d", i), c.WaitMessages(t, len(ids)), "Track", ids)
		if c.Closed() {
			t.Errorf("client %d was disconnected: %v", i, c.CloseErr())
		}
	}
	if n := a.Hub().Len(); n != int64(len(clients)) {
		t.Errorf("hub holds %d clients after the restarts, want %d", n, len(clients))
	}
	st := a.Source().Stats()
	t.Logf("source: %+v", st)
	if st.Reconnects < 2 {
		t.Errorf("listener reconnected %d times, want 2 (one per restart)", st.Reconnects)
	}
}

func TestTwoNodesEachDeliverEveryRow(t *testing.T) {
	url := newDatabase(t, shared)
	nodes := []*app.App{startApp(t, url, nil), startApp(t, url, nil)}
	db := openDB(t, url)
	var clients []*wstest.Client
	for _, n := range nodes {
		clients = append(clients, wstest.Dial(t, wsURL(n, "?topic=Track")), wstest.Dial(t, wsURL(n, "?topic=Track")))
	}
	insertRows(t, db, "Track", 100)
	ids := tableIDs(t, db, "Track")
	for i, c := range clients {
		checkExactly(t, fmt.Sprintf("node %d client %d", i/2, i%2), c.WaitMessages(t, len(ids)), "Track", ids)
	}
}

func waitMetric(t *testing.T, base, want string) {
	t.Helper()
	deadline := time.Now().Add(wstest.Timeout)
	for {
		status, body := httpGet(t, base+"/metrics", nil)
		if status == http.StatusOK && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics (HTTP %d) never showed %s", status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{Timeout: wstest.Timeout}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func wsHeaders(key string) http.Header {
	h := http.Header{}
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Version", "13")
	if key != "" {
		h.Set("Sec-WebSocket-Key", key)
	}
	return h
}

func TestRefusedRequestsGetAReason(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), func(c *app.Config) { c.MaxConns = 2 })
	base := "http://" + a.Addr()
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		reason string
	}{
		{"plain GET", "/ws", nil, http.StatusUpgradeRequired, "WebSocket endpoint"},
		{"unknown topic", "/ws?topic=Invoice", wsHeaders("dGhlIHNhbXBsZSBub25jZQ=="), http.StatusBadRequest, `unknown topic "Invoice"; known topics: Artist, Album, Track`},
		{"unknown among known", "/ws?topic=Track&topic=x", wsHeaders("dGhlIHNhbXBsZSBub25jZQ=="), http.StatusBadRequest, `unknown topic "x"`},
		{"no key", "/ws?topic=Track", wsHeaders(""), http.StatusBadRequest, "handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := httpGet(t, base+tt.path, tt.header)
			if status != tt.status || !strings.Contains(body, tt.reason) {
				t.Errorf("got %d %q, want %d containing %q", status, body, tt.status, tt.reason)
			}
			if strings.Count(strings.TrimSpace(body), "\n") > 0 {
				t.Errorf("reason is not one line: %q", body)
			}
		})
	}

	// gws writes a failed handshake's 400 before Upgrade returns, so the
	// handler may still hold that request's slot when the client has the
	// answer; the rejection is counted right after the slot is freed.
	waitMetric(t, base, `massconn_connections_rejected_total{reason="bad_handshake",transport="ws"} 1`)

	t.Run("max conns", func(t *testing.T) {
		first, second := wstest.Dial(t, wsURL(a, "")), wstest.Dial(t, wsURL(a, ""))
		_, resp, err := wstest.DialErr(wsURL(a, ""))
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("third connection: err %v, HTTP %d; want 503", err, status)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "--max-conns=2") {
			t.Errorf("503 body %q does not name --max-conns", body)
		}
		// A freed slot is usable again.
		_ = first.Conn.WriteClose(1000, nil)
		first.WaitClose(t)
		deadline := time.Now().Add(wstest.Timeout)
		for a.Hub().Len() > 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		wstest.Dial(t, wsURL(a, ""))
		_ = second
	})

	status, body := httpGet(t, base+"/metrics", nil)
	for _, want := range []string{
		`massconn_connections_rejected_total{reason="not_websocket",transport="ws"} 1`,
		`massconn_connections_rejected_total{reason="unknown_topic",transport="ws"} 2`,
		`massconn_connections_rejected_total{reason="bad_handshake",transport="ws"} 1`,
		`massconn_connections_rejected_total{reason="max_conns",transport="ws"} 1`,
	} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (HTTP %d) lacks %s", status, want)
		}
	}
}

func TestOversizeFrameGets1009(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), func(c *app.Config) { c.ReadLimit = 1024 })
	raw := wstest.RawHandshake(t, a.Addr(), "/ws?topic=Track", nil)
	small := wstest.MaskedFrame(true, 0x1, []byte(strings.Repeat("a", 1024)))
	big := wstest.MaskedFrame(true, 0x1, []byte(strings.Repeat("a", 1025)))
	if _, err := raw.Write(append(small, big...)); err != nil {
		t.Fatal(err)
	}
	code, err := raw.ReadUntilClose()
	if err != nil || code != 1009 {
		t.Fatalf("close code %d (err %v), want 1009", code, err)
	}
}

func TestMalformedFrameGets1002(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), nil)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"unmasked client frame", []byte{0x81, 0x02, 'h', 'i'}},
		{"reserved opcode", wstest.MaskedFrame(true, 0x3, []byte("x"))},
		{"RSV bit without extension", append([]byte{0xC1}, wstest.MaskedFrame(true, 0x1, []byte("x"))[1:]...)},
		{"fragmented ping", wstest.MaskedFrame(false, 0x9, nil)},
		{"continuation without start", wstest.MaskedFrame(true, 0x0, []byte("x"))},
		{"control frame over 125 bytes", wstest.MaskedFrame(true, 0x9, make([]byte, 126))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := wstest.RawHandshake(t, a.Addr(), "/ws", nil)
			if _, err := raw.Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			code, err := raw.ReadUntilClose()
			if err != nil || code != 1002 {
				t.Fatalf("close code %d (err %v), want 1002", code, err)
			}
		})
	}
	t.Run("invalid UTF-8 text", func(t *testing.T) {
		raw := wstest.RawHandshake(t, a.Addr(), "/ws", nil)
		if _, err := raw.Write(wstest.MaskedFrame(true, 0x1, []byte{0xff, 0xfe})); err != nil {
			t.Fatal(err)
		}
		code, err := raw.ReadUntilClose()
		if err != nil || code != 1007 {
			t.Fatalf("close code %d (err %v), want 1007", code, err)
		}
	})
}

func TestShutdownSends1001(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), nil)
	clients := []*wstest.Client{wstest.Dial(t, wsURL(a, "")), wstest.Dial(t, wsURL(a, "?topic=Album"))}
	if err := a.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for i, c := range clients {
		if code := c.WaitClose(t); code != 1001 {
			t.Errorf("client %d: close code %d, want 1001", i, code)
		}
	}
}

func TestSlowClientIsClosedAndCounted(t *testing.T) {
	url := newDatabase(t, shared)
	// The limit is far above what a client reading at memory speed falls
	// behind by, and far below what the stuck client's socket absorbs.
	a := startApp(t, url, func(c *app.Config) { c.QueueLimit = 1000 })
	db := openDB(t, url)
	// This client never reads; its small receive buffer fills fast.
	dialer := &net.Dialer{Control: wstest.SmallReceiveBuffer}
	stuck := wstest.RawHandshake(t, a.Addr(), "/ws?topic=Track", dialer)
	healthy := wstest.Dial(t, wsURL(a, "?topic=Track"))

	const rows = 4000
	if _, err := db.Exec(`INSERT INTO "Track" (name, composer)
		SELECT 'big', repeat('x', 7000) FROM generate_series(1, $1::int)`, rows); err != nil {
		t.Fatal(err)
	}
	// The healthy client is not held back by the stuck one.
	checkExactly(t, "healthy client", healthy.WaitMessages(t, rows), "Track", tableIDs(t, db, "Track"))

	deadline := time.Now().Add(wstest.Timeout)
	for a.Hub().Stats().SlowDrops == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := a.Hub().Stats().SlowDrops; got != 1 {
		t.Fatalf("slow client drops = %d, want 1", got)
	}
	// Drained now, the stuck client finds its connection closed: with close
	// 1008 if the frame got through before the write deadline, or bare.
	code, err := stuck.ReadUntilClose()
	if err != nil || (code != 1008 && code != 0) {
		t.Errorf("stuck client: close code %d (err %v), want 1008 or a closed socket", code, err)
	}
	_, body := httpGet(t, "http://"+a.Addr()+"/metrics", nil)
	if !strings.Contains(body, "massconn_slow_client_drops_total 1") {
		t.Errorf("/metrics does not count the slow client drop")
	}
}

func TestSilentPeerIsDroppedByPing(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), func(c *app.Config) {
		c.PingInterval = 200 * time.Millisecond
		c.PingTimeout = 3 * time.Second
	})
	silent := wstest.RawHandshake(t, a.Addr(), "/ws", nil)
	answering := wstest.Dial(t, wsURL(a, ""))
	// The silent peer reads pings but never answers them.
	pings := 0
	_ = silent.SetReadDeadline(time.Now().Add(wstest.Timeout))
	for {
		f, err := silent.ReadFrame()
		if err != nil {
			break // dropped
		}
		if f.Opcode == 0x9 {
			pings++
		}
	}
	if pings == 0 {
		t.Errorf("silent peer saw no ping before being dropped")
	}
	if got := a.Hub().Stats().PingTimeouts; got != 1 {
		t.Errorf("ping timeouts = %d, want 1", got)
	}
	if answering.Closed() {
		t.Errorf("the client answering pings was dropped too: %v", answering.CloseErr())
	}
}

func TestHealthzAndStatusPage(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, func(c *app.Config) {
		c.PingInterval, c.PingTimeout, c.SSEHeartbeat = 7*time.Second, 20*time.Second, 11*time.Second
	})
	c := wstest.Dial(t, wsURL(a, ""))
	insertRows(t, openDB(t, url), "Album", 3)
	c.WaitMessages(t, 3)

	status, body := httpGet(t, "http://"+a.Addr()+"/healthz", nil)
	var h struct {
		Status       string   `json:"status"`
		Connections  int      `json:"connections"`
		Listener     string   `json:"listener"`
		Age          *float64 `json:"last_notification_age_seconds"`
		MessagesSent int      `json:"messages_sent"`
		// The keep-alive periods, for a benchmark's keep-alive floor.
		PingIntervalS float64 `json:"ping_interval_seconds"`
		SSEHeartbeatS float64 `json:"sse_heartbeat_seconds"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || status != http.StatusOK {
		t.Fatalf("/healthz: HTTP %d %q (%v)", status, body, err)
	}
	if h.Status != "ok" || h.Connections != 1 || h.Listener != "connected" || h.Age == nil || h.MessagesSent != 3 ||
		h.PingIntervalS != 7 || h.SSEHeartbeatS != 11 {
		t.Errorf("/healthz = %s", body)
	}
	status, body = httpGet(t, "http://"+a.Addr()+"/", nil)
	if status != http.StatusOK || !strings.Contains(body, "/healthz") || !strings.Contains(body, "setInterval") {
		t.Errorf("status page: HTTP %d, does not poll /healthz", status)
	}
	_, body = httpGet(t, "http://"+a.Addr()+"/metrics", nil)
	for _, want := range []string{"massconn_connections 1", "massconn_notifications_total 3", "massconn_messages_sent_total 3", "massconn_insert_to_send_seconds_count 3"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// A peer that connects and never sends its request costs the server
// nothing for long: the kernel holds it until data arrives or about a
// second passes (TCP_DEFER_ACCEPT), then --handshake-timeout closes it.
// Its connection still counts as accepted, and the server goes on
// serving others meanwhile.
func TestConnectionThatSendsNothingIsClosed(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), func(c *app.Config) {
		c.HandshakeTimeout = 300 * time.Millisecond
	})
	mute, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	ws := wstest.Dial(t, wsURL(a, ""))
	_ = mute.SetReadDeadline(time.Now().Add(wstest.Timeout))
	n, err := mute.Read(make([]byte, 1))
	if n != 0 || (!errors.Is(err, io.EOF) && !strings.Contains(fmt.Sprint(err), "reset")) {
		t.Fatalf("mute connection: read %d bytes, err %v; want it closed by the server", n, err)
	}
	if ws.Closed() {
		t.Errorf("the WebSocket client connected meanwhile was closed: %v", ws.CloseErr())
	}
}
