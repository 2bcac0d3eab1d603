package fleet

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/pgtest"
	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/pgsource"
)

// The floor's message is one delivered row's frame: the size of what the
// server sends for a row the insert loop writes, and taking the sample
// leaves no row behind for the delivery check.
func TestRowWireSizeIsTheServersFrameForOneRow(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	db, err := sql.Open("postgres", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pgsource.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	size, err := rowWireSize(ctx, pg.URL(), insertTable, TransportWS)
	if err != nil {
		t.Fatal(err)
	}
	var rows, logged int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM "Track"), (SELECT count(*) FROM massconn_log)`).Scan(&rows, &logged); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || logged != 0 {
		t.Fatalf("the sample left %d rows and %d log entries", rows, logged)
	}
	// A row the insert loop really writes, as the server encodes it from
	// the log: same size but for the digits of random values and of the
	// timestamp's fraction (PostgreSQL drops trailing zeros).
	if err := pgsource.Insert(ctx, db, insertTable, 1); err != nil {
		t.Fatal(err)
	}
	var ev pgsource.Event
	var row string
	if err := db.QueryRowContext(ctx, `SELECT pos, row_id, ts, row::text FROM massconn_log`).Scan(&ev.Pos, &ev.ID, &ev.TS, &row); err != nil {
		t.Fatal(err)
	}
	ev.Table, ev.Row = insertTable, []byte(row)
	payload, err := app.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if real := hub.FrameLen(len(payload)); real < size-8 || real > size+8 {
		t.Errorf("sample frame %d bytes, a real row's frame %d (%s)", size, real, payload)
	}
	if _, err := rowWireSize(ctx, pg.URL(), "Album", TransportWS); err == nil {
		t.Error("a table without a sample row was accepted")
	}
}

func TestWSFrameLenCountsTheHeader(t *testing.T) {
	for n, want := range map[int]int{0: 2, 125: 127, 126: 130, 65535: 65539, 65536: 65546} {
		if got := hub.FrameLen(n); got != want {
			t.Errorf("hub.FrameLen(%d) = %d, want %d", n, got, want)
		}
	}
}

// The floor's message is what the server writes for one row on the run's
// transport: a WebSocket frame, or for SSE an event ("id: POS\ndata:
// JSON\n\n"), about a dozen bytes longer than the frame.
func TestFloorMessageIsTheTransportsWireSize(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	db, err := sql.Open("postgres", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pgsource.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	// The payload of a row the insert loop writes, as the server encodes it.
	if err := pgsource.Insert(ctx, db, insertTable, 1); err != nil {
		t.Fatal(err)
	}
	var ev pgsource.Event
	var row string
	if err := db.QueryRowContext(ctx, `SELECT pos, row_id, ts, row::text FROM massconn_log`).Scan(&ev.Pos, &ev.ID, &ev.TS, &row); err != nil {
		t.Fatal(err)
	}
	ev.Table, ev.Row = insertTable, []byte(row)
	payload, err := app.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		transport Transport
		real      int
	}{
		{TransportWS, hub.FrameLen(len(payload))},
		{TransportSSE, hub.SSELen(len(payload))},
	} {
		r := &localRun{transport: tc.transport, dbURL: pg.URL()}
		size, err := r.messageWireSize(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.transport, err)
		}
		// Same size but for the digits of ids, random values and the
		// timestamp's fraction.
		if size < tc.real-8 || size > tc.real+8 {
			t.Errorf("%s: floor message %d bytes, the server writes %d for a real row", tc.transport, size, tc.real)
		}
	}
	if d := hub.SSELen(len(payload)) - hub.FrameLen(len(payload)); d < 20 {
		t.Fatalf("an SSE event only %d bytes longer than the frame: the check above cannot tell them apart", d)
	}
}

// Against a target, the floor's message is the publisher's body in a
// WebSocket frame, or for SSE at least in an event's data line.
func TestTargetMessageSizeByTransport(t *testing.T) {
	r := &localRun{cfg: RunConfig{Publish: publish.Config{URL: "http://127.0.0.1:1/pub", Body: `{"n":1}`}}}
	body, err := r.cfg.Publish.SampleSize()
	if err != nil {
		t.Fatal(err)
	}
	for tr, want := range map[Transport]int{TransportWS: 2 + body, TransportSSE: len("data: \n\n") + body} {
		r.transport = tr
		if got, err := r.targetMessageSize(); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", tr, got, err, want)
		}
	}
}

// A keep-alive that takes a quarter of the machine at the floor is said
// before the load: the million with 30 s pings, not the default 19,000.
func TestKeepAliveWarning(t *testing.T) {
	f := &report.Floor{WriteUS: 14.5, ReadUS: 3.8, Cores: 2, KeepAliveEveryS: 30, KeepAliveMessages: 2}
	if w := keepAliveWarning(f, 1_000_000); !strings.Contains(w, "alone takes 61% of this machine") || !strings.Contains(w, "--ping-interval") {
		t.Errorf("1,000,000 at 30 s: %q", w)
	}
	if w := keepAliveWarning(f, 19_000); w != "" {
		t.Errorf("19,000 at 30 s: %q, want no warning", w)
	}
	f.NotMeasured = "skipped (--floor=false)"
	if w := keepAliveWarning(f, 1_000_000); w != "" {
		t.Errorf("without a floor: %q", w)
	}
}
