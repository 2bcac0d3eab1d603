package fleet

import (
	"context"
	"database/sql"
	"testing"

	"github.com/massconn/massconn/internal/pgtest"
	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/pgsource"
)

// The floor's message is one delivered row's frame: the size of what the
// server sends for a row the insert loop writes, and taking the sample
// leaves no row behind for the delivery check.
func TestRowFrameSizeIsTheServersFrameForOneRow(t *testing.T) {
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
	size, err := rowFrameSize(ctx, pg.URL(), insertTable)
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
	if _, err := rowFrameSize(ctx, pg.URL(), "Album"); err == nil {
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
