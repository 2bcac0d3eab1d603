package fleet

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq" // the database/sql driver the server uses too

	"github.com/massconn/massconn/internal/pgtest"
	"github.com/massconn/massconn/server/client"
)

// TestVerdictFailsWhenRowsAreMissing: a real run (PostgreSQL, server, insert
// loop, k6) in which one row of the table never reaches any client: it is
// inserted with triggers off (session_replication_role = replica), so it is
// in the table but not in the log. Every connection still receives about as
// many rows as expected on average, so a check of averages passes; the
// verdict must not.
func TestVerdictFailsWhenRowsAreMissing(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	server := binary(t, "MASSCONN_SERVER")
	pg := pgtest.Start(t)
	const total = 30
	base := freePorts(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	db, err := sql.Open("postgres", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	silent := make(chan error, 1)
	go func() { silent <- insertSilentRowOnceHeld(ctx, db, fmt.Sprintf("127.0.0.1:%d", base), total) }()

	r, err := Run(ctx, RunConfig{
		Scenario: "capacity", ScriptDir: scriptDir(t), Connections: total, Duration: "8s", Out: t.TempDir(),
		DatabaseURL: pg.URL(), Parts: 1, Servers: 1, BasePort: base, K6: k6, Server: server,
		InsertEvery: 250 * time.Millisecond, InsertAfter: true, Env: []string{"MIN_PER_CONN=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-silent; err != nil {
		t.Fatal(err)
	}
	if r.Pass {
		t.Fatalf("verdict PASS although one row reached no connection; problems %v", r.Problems)
	}
	t.Logf("problems: %v; delivery %+v", r.Problems, *r.Delivery)
	if d := r.Delivery; d.Gaps != total && d.StartedLate != total {
		t.Errorf("delivery %+v: want the missing row seen by all %d connections (as a gap, or every sequence starting after it)", d, total)
	}
	if !strings.Contains(strings.Join(r.Problems, "; "), "row") {
		t.Errorf("problems %v do not say rows were missing", r.Problems)
	}
}

// insertSilentRowOnceHeld waits until the server holds every connection and
// the insert loop has added two rows, then inserts one row no client is told
// about.
func insertSilentRowOnceHeld(ctx context.Context, db *sql.DB, listen string, total int64) error {
	for {
		h, err := client.New(listen, 0).Health(ctx)
		var rows int64
		if err == nil && h.Connections >= total {
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "Track"`).Scan(&rows); err != nil {
				return fmt.Errorf("count rows: %w", err)
			}
		}
		if rows >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the run to hold its connections: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		return fmt.Errorf("triggers off: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO "Track" (name) VALUES ('never announced')`); err != nil {
		return fmt.Errorf("silent insert: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
