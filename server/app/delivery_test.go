package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/pgtest"
	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/internal/wstest"
)

// logOrder is the commit order the server promises: the ids of topic's rows
// as massconn_log recorded them, by position.
func logOrder(t *testing.T, db *sql.DB, topic string) []int64 {
	t.Helper()
	return queryIDs(t, db, `SELECT row_id FROM massconn_log WHERE topic = $1 ORDER BY pos`, topic)
}

// checkPositions asserts that positions strictly increase as strings, which
// is how clients are told to compare them.
func checkPositions(t *testing.T, who string, msgs []wstest.Message) {
	t.Helper()
	for i, m := range msgs {
		if m.Pos == "" {
			t.Fatalf("%s: message %d (id %d) has no pos", who, i, m.ID)
		}
		if i > 0 && m.Pos <= msgs[i-1].Pos {
			t.Fatalf("%s: message %d pos %q does not follow %q", who, i, m.Pos, msgs[i-1].Pos)
		}
	}
}

func sortedIDs(msgs []wstest.Message) []int64 {
	var ids []int64
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// Transactions that commit out of id order, long transactions, rollbacks
// and several writers at once: every committed row reaches every client
// exactly once, in commit order, and nothing uncommitted arrives.
func TestConcurrentWritersEveryCommittedRowOnceInCommitOrder(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)
	clients := []*wstest.Client{wstest.Dial(t, wsURL(a, "?topic=Track")), wstest.Dial(t, wsURL(a, "")), wstest.Dial(t, wsURL(a, "?topic=Track"))}
	ctx := context.Background()

	// A inserts first (lower ids) and commits last; C rolls back.
	txA, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txA.Exec(`INSERT INTO "Track" (name) SELECT 'A' FROM generate_series(1, 5)`); err != nil {
		t.Fatal(err)
	}
	txC, _ := db.BeginTx(ctx, nil)
	if _, err := txC.Exec(`INSERT INTO "Track" (name) SELECT 'C' FROM generate_series(1, 3)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO "Track" (name) SELECT 'B' FROM generate_series(1, 5)`); err != nil {
		t.Fatal(err)
	}
	if err := txC.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}

	// Four writers, each transaction 1-4 rows over several statements with
	// pauses inside it; every fourth rolls back.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 40 {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Error(err)
					return
				}
				for range 1 + rng.IntN(4) {
					if _, err := tx.Exec(`INSERT INTO "Track" (name) VALUES ($1)`, fmt.Sprintf("w%d-%d", w, i)); err != nil {
						t.Error(err)
						_ = tx.Rollback()
						return
					}
					time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
				}
				if i%4 == 3 {
					err = tx.Rollback()
				} else {
					err = tx.Commit()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	ids := tableIDs(t, db, "Track")
	order := logOrder(t, db, "Track")
	if fmt.Sprint(slices.Sorted(slices.Values(order))) != fmt.Sprint(ids) {
		t.Fatalf("massconn_log holds %d Track rows, the table %d", len(order), len(ids))
	}
	for i, c := range clients {
		who := fmt.Sprintf("client %d", i)
		msgs := c.WaitMessages(t, len(ids))
		var tracks []wstest.Message
		for _, m := range msgs {
			if m.Topic == "Track" {
				tracks = append(tracks, m)
			}
		}
		checkExactly(t, who, tracks, "Track", order)
		checkPositions(t, who, tracks)
		if fmt.Sprint(sortedIDs(tracks)) != fmt.Sprint(ids) {
			t.Errorf("%s: ids are not the committed rows", who)
		}
		// B committed before A: B's rows come first.
		var names []string
		for _, m := range tracks[:10] {
			var row struct{ Name string }
			_ = json.Unmarshal(m.Row, &row)
			names = append(names, row.Name)
		}
		if got := strings.Join(names, ""); got != "BBBBBAAAAA" {
			t.Errorf("%s: first rows by name %q, want B's five then A's five", who, got)
		}
	}
}

// Ids that go backwards do not blank the feed.
func TestTruncateRestartIdentityMidStream(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)
	c := wstest.Dial(t, wsURL(a, "?topic=Track"))
	insertRows(t, db, "Track", 10)
	c.WaitMessages(t, 10)
	if _, err := db.Exec(`TRUNCATE "Track" RESTART IDENTITY`); err != nil {
		t.Fatal(err)
	}
	insertRows(t, db, "Track", 10)
	msgs := c.WaitMessages(t, 20)
	checkPositions(t, "client", msgs)
	var ids []int64
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	if want := "[1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8 9 10]"; fmt.Sprint(ids) != want {
		t.Errorf("ids %v, want %s", ids, want)
	}
}

// resumeCheck asserts that first and then second, joined, are exactly the
// rows of topic in commit order.
func resumeCheck(t *testing.T, db *sql.DB, who string, first, second []wstest.Message, topic string) {
	t.Helper()
	all := append(append([]wstest.Message(nil), first...), second...)
	checkExactly(t, who, all, topic, logOrder(t, db, topic))
	checkPositions(t, who, all)
}

// A client that reconnects with after=POS of the last message it read gets
// everything committed since, even rows committed while no server ran, and
// then live rows: no gap and no duplicate at either seam.
func TestServerRestartClientsResumeWithAfter(t *testing.T) {
	url := newDatabase(t, shared)
	db := openDB(t, url)
	a := startApp(t, url, nil)
	c := wstest.Dial(t, wsURL(a, "?topic=Track"))
	insertRows(t, db, "Track", 20)
	first := c.WaitMessages(t, 20)
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if code := c.WaitClose(t); code != 1001 {
		t.Errorf("close code %d, want 1001", code)
	}
	insertRows(t, db, "Track", 15) // while no server runs

	b := startApp(t, url, nil)
	// Rows keep coming while the client resumes.
	done := make(chan struct{})
	go func() { defer close(done); insertRows(t, db, "Track", 40) }()
	resumed := wstest.Dial(t, wsURL(b, "?topic=Track&after="+first[len(first)-1].Pos))
	<-done
	insertRows(t, db, "Track", 5)
	second := resumed.WaitMessages(t, 60)
	resumeCheck(t, db, "resumed client", first, second, "Track")
}

// A client closed as slow (1008) resumes with after and misses nothing.
func TestSlowClosedClientResumesWithoutGap(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, func(c *app.Config) {
		c.SlowAfter = 500 * time.Millisecond
	})
	db := openDB(t, url)
	dialer := &net.Dialer{Control: wstest.SmallReceiveBuffer}
	stuck := wstest.RawHandshake(t, a.Addr(), "/ws?topic=Track", dialer)
	const rows = 3000
	if _, err := db.Exec(`INSERT INTO "Track" (name, composer)
		SELECT 'big', repeat('x', 3000) FROM generate_series(1, $1::int)`, rows); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wstest.Timeout)
	for a.Hub().Stats().SlowDrops == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if a.Hub().Stats().SlowDrops != 1 {
		t.Fatalf("stuck client not closed as slow")
	}
	// Read what got through before the close.
	var first []wstest.Message
	_ = stuck.SetReadDeadline(time.Now().Add(wstest.Timeout))
	for {
		f, err := stuck.ReadFrame()
		if err != nil || f.Opcode == 0x8 {
			break
		}
		if f.Opcode == 0x1 {
			var m wstest.Message
			if err := json.Unmarshal(f.Payload, &m); err != nil {
				t.Fatalf("bad message: %v", err)
			}
			first = append(first, m)
		}
	}
	if len(first) == rows {
		t.Fatalf("stuck client got every row before its close; the test proves nothing")
	}
	url2 := wsURL(a, "?topic=Track")
	if len(first) > 0 {
		url2 += "&after=" + first[len(first)-1].Pos
	} else {
		url2 += "&after=0"
	}
	resumed := wstest.Dial(t, url2)
	second := resumed.WaitMessages(t, rows-len(first))
	resumeCheck(t, db, "slow client", first, second, "Track")
}

// A position older than the kept history gets close 4410 with a reason,
// never a silent gap.
func TestPrunedPositionGets4410(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)
	c := wstest.Dial(t, wsURL(a, "?topic=Track"))
	insertRows(t, db, "Track", 10)
	msgs := c.WaitMessages(t, 10)
	if _, err := a.Source().PruneHistory(context.Background(), 0); err != nil {
		t.Fatalf("prune: %v", err)
	}
	old := wstest.Dial(t, wsURL(a, "?topic=Track&after="+msgs[2].Pos))
	if code := old.WaitClose(t); code != 4410 {
		t.Errorf("close code %d for a pruned position, want 4410", code)
	}
	if err := old.CloseErr(); err == nil || !strings.Contains(err.Error(), "pruned") {
		t.Errorf("close reason %v does not say the history was pruned", err)
	}
	// The last position is still a fine place to resume from.
	ok := wstest.Dial(t, wsURL(a, "?topic=Track&after="+msgs[9].Pos))
	insertRows(t, db, "Track", 1)
	// (The log is pruned, so the table is the reference here.)
	all := append(msgs, ok.WaitMessages(t, 1)...)
	checkExactly(t, "resumed at the horizon", all, "Track", tableIDs(t, db, "Track"))
	checkPositions(t, "resumed at the horizon", all)
}

// The server as a whole behind (a burst to many clients far larger than
// --queue-limit) is not a reason to close healthy clients.
func TestBurstToManyClientsClosesNoHealthyClient(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, func(c *app.Config) { c.QueueLimit = 50 })
	db := openDB(t, url)
	var clients []*wstest.Client
	for range 200 {
		clients = append(clients, wstest.Dial(t, wsURL(a, "?topic=Track")))
	}
	const rows = 2000
	if _, err := db.Exec(`INSERT INTO "Track" (name, composer)
		SELECT 'burst', repeat('z', 1000) FROM generate_series(1, $1::int)`, rows); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		msgs := c.WaitMessages(t, rows)
		if len(msgs) != rows {
			t.Fatalf("client %d got %d of %d", i, len(msgs), rows)
		}
	}
	if n := a.Hub().Stats().SlowDrops; n != 0 {
		t.Errorf("%d healthy clients closed as slow", n)
	}
}

// PostgreSQL restarts while several writers commit: every committed row
// reaches every client exactly once in commit order.
func TestPostgresRestartWithConcurrentWriters(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.URL()
	a := startApp(t, url, nil)
	db := openDB(t, url)
	clients := []*wstest.Client{wstest.Dial(t, wsURL(a, "?topic=Track")), wstest.Dial(t, wsURL(a, ""))}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				// Errors during the outage are expected: the row did not
				// commit, so it must not arrive.
				_, _ = db.Exec(`INSERT INTO "Track" (name) VALUES ($1)`, fmt.Sprintf("w%d-%d", w, i))
				time.Sleep(time.Millisecond)
			}
		})
	}
	waitRows := func(n int) {
		deadline := time.Now().Add(wstest.Timeout)
		for len(clients[0].Messages()) < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitRows(50)
	pg.Restart(t)
	waitRows(len(clients[0].Messages()) + 50)
	stop()
	wg.Wait()

	order := logOrder(t, db, "Track")
	if len(order) != len(tableIDs(t, db, "Track")) {
		t.Fatalf("log and table disagree")
	}
	for i, c := range clients {
		msgs := c.WaitMessages(t, len(order))
		checkExactly(t, fmt.Sprintf("client %d", i), msgs, "Track", order)
		checkPositions(t, fmt.Sprintf("client %d", i), msgs)
	}
}

// A row too large for a WebSocket frame is not sent, but it is logged and
// counted by reason, and the rows after it still arrive.
func TestRowOverFrameLimitIsCounted(t *testing.T) {
	url := newDatabase(t, shared)
	a := startApp(t, url, nil)
	db := openDB(t, url)
	c := wstest.Dial(t, wsURL(a, "?topic=Track"))
	if _, err := db.Exec(`INSERT INTO "Track" (name, composer) VALUES ('huge', repeat('h', 17 << 20))`); err != nil {
		t.Fatal(err)
	}
	insertRows(t, db, "Track", 1)
	msgs := c.WaitMessages(t, 1)
	if len(msgs) != 1 || msgs[0].ID != 2 {
		t.Errorf("got %d messages, first id %d; want only row 2", len(msgs), msgs[0].ID)
	}
	waitMetric(t, "http://"+a.Addr(), `massconn_broadcast_errors_total{reason="too_large"} 1`)
}

func TestDefaultMaxConnsFitsTheOpenFileLimit(t *testing.T) {
	limit := app.OpenFileLimit()
	if limit <= 0 {
		t.Skip("no open-file limit readable")
	}
	if got := app.DefaultMaxConns(); got >= limit || got < 1 {
		t.Errorf("default --max-conns %d with an open-file limit of %d: want fewer, leaving headroom", got, limit)
	}
}

// Positions are the database's, so a client can resume on another node.
func TestResumeOnAnotherNode(t *testing.T) {
	url := newDatabase(t, shared)
	db := openDB(t, url)
	nodeA, nodeB := startApp(t, url, nil), startApp(t, url, nil)
	c := wstest.Dial(t, wsURL(nodeA, "?topic=Track"))
	insertRows(t, db, "Track", 30)
	first := c.WaitMessages(t, 30)[:17] // as if it went away after 17
	_ = c.Conn.NetConn().Close()
	insertRows(t, db, "Track", 10)
	resumed := wstest.Dial(t, wsURL(nodeB, "?topic=Track&after="+first[len(first)-1].Pos))
	insertRows(t, db, "Track", 10)
	resumeCheck(t, db, "client resumed on node B", first, resumed.WaitMessages(t, 50-17), "Track")
}
