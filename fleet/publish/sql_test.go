package publish

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/pgtest"
)

// TestInsertSQLPublishesRowIDs: each tick runs the statement in the user's
// database, and the id it returns is the recorded sequence number; a
// statement that returns nothing is a counted failure naming the fix; a
// statement the database refuses is an error at start.
func TestInsertSQLPublishesRowIDs(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	db, err := sql.Open("postgres", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Ids start at 41: the recorded numbers are the rows', not the attempts'.
	if _, err := db.ExecContext(ctx, `CREATE TABLE news (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 41) PRIMARY KEY, at timestamptz DEFAULT now())`); err != nil {
		t.Fatal(err)
	}

	p, err := Config{InsertSQL: `INSERT INTO news DEFAULT VALUES RETURNING id`, DatabaseURL: pg.URL(), Every: time.Millisecond}.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loop := &Loop{Publisher: p, Every: time.Millisecond, Count: 3}
	loop.Run(ctx)
	p.Close()
	rec := loop.Record()
	if len(rec.Failures) != 0 || len(rec.Published) != 3 {
		t.Fatalf("record %+v", rec)
	}
	for i, st := range rec.Published {
		if st.Seq != int64(41+i) {
			t.Errorf("published %d has seq %d, want row id %d", i, st.Seq, 41+i)
		}
	}
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM news`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("%d rows (%v), want 3", rows, err)
	}

	// No RETURNING: the row goes in, but the number is unknown: a failure.
	p, err = Config{InsertSQL: `INSERT INTO news DEFAULT VALUES`, DatabaseURL: pg.URL(), Every: time.Millisecond}.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loop = &Loop{Publisher: p, Every: time.Millisecond, Count: 2}
	loop.Run(ctx)
	p.Close()
	rec = loop.Record()
	if len(rec.Published) != 0 || len(rec.Failures) != 2 || !strings.Contains(rec.Failures[0].Error, "RETURNING id") {
		t.Fatalf("record %+v", rec)
	}

	for _, bad := range []struct{ sql, url, want string }{
		{`INSERT INTO no_such_table DEFAULT VALUES RETURNING id`, pg.URL(), "--insert-sql"},
		{`INSERT INTO news DEFAULT VALUES RETURNING id`, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5", "--database-url"},
	} {
		p, err := Config{InsertSQL: bad.sql, DatabaseURL: bad.url, Every: time.Second}.New(ctx)
		if err == nil {
			p.Close()
			t.Fatalf("%s on %s accepted", bad.sql, bad.url)
		}
		if !strings.HasPrefix(err.Error(), bad.want) {
			t.Errorf("error %q does not name %s", err, bad.want)
		}
	}
}
