package pgsource

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// InsertConfig configures InsertLoop.
type InsertConfig struct {
	Table string
	Every time.Duration // one row per Every
	Count int64         // stop after this many rows; 0 means until ctx ends
	// Report, if set, is called about every ReportEvery with the totals so far.
	Report      func(InsertReport)
	ReportEvery time.Duration
}

// InsertReport is what the loop achieved.
type InsertReport struct {
	Rows    int64
	Elapsed time.Duration
}

// Rate is rows per second.
func (r InsertReport) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Rows) / r.Elapsed.Seconds()
}

// maxBatch bounds one INSERT statement when the loop has fallen behind.
const maxBatch = 1000

// The statements insert n rows ($1) in id order with one round trip.
var insertSQL = map[string]string{
	"Artist": `INSERT INTO "Artist" (name) SELECT 'Artist ' || g FROM generate_series(1, $1::int) g`,
	"Album": `INSERT INTO "Album" (title, artist_id)
		SELECT 'Album ' || g, (SELECT max(id) FROM "Artist") FROM generate_series(1, $1::int) g`,
	"Track": `INSERT INTO "Track" (name, album_id, composer, milliseconds, bytes)
		SELECT 'Track ' || g, (SELECT max(id) FROM "Album"), 'massconn',
			180000 + (random() * 120000)::int, 4000000 + (random() * 4000000)::int
		FROM generate_series(1, $1::int) g`,
}

// Insert inserts n rows into table in one statement; their ids ascend.
func Insert(ctx context.Context, db *sql.DB, table string, n int64) error {
	stmt, ok := insertSQL[table]
	if !ok {
		return fmt.Errorf("unknown table %q (known: %v)", table, Tables)
	}
	if _, err := db.ExecContext(ctx, stmt, n); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// InsertLoop inserts rows into cfg.Table at one row per cfg.Every, the way
// the Supabase benchmark's `while true; psql -f insert.sql; sleep 1` did.
// A ticker paces it; when one round trip per tick is too slow (e.g. --every
// 1ms) the rows that fell due since the last insert go in one statement, so
// the achieved rate follows the requested one. Errors other than ctx ending
// stop the loop.
func InsertLoop(ctx context.Context, db *sql.DB, cfg InsertConfig) (InsertReport, error) {
	if !KnownTable(cfg.Table) {
		return InsertReport{}, fmt.Errorf("unknown table %q (known: %v)", cfg.Table, Tables)
	}
	if cfg.Every <= 0 {
		return InsertReport{}, fmt.Errorf("interval must be positive, got %v", cfg.Every)
	}
	start := time.Now()
	var rows int64
	report := func() InsertReport { return InsertReport{Rows: rows, Elapsed: time.Since(start)} }
	ticker := time.NewTicker(cfg.Every)
	defer ticker.Stop()
	lastReport := start
	for {
		due := int64(time.Since(start)/cfg.Every) + 1
		if cfg.Count > 0 && due > cfg.Count {
			due = cfg.Count
		}
		for rows < due {
			n := min(due-rows, maxBatch)
			if err := Insert(ctx, db, cfg.Table, n); err != nil {
				if ctx.Err() != nil {
					return report(), nil
				}
				return report(), err
			}
			rows += n
		}
		if cfg.Count > 0 && rows >= cfg.Count {
			return report(), nil
		}
		if cfg.Report != nil && cfg.ReportEvery > 0 && time.Since(lastReport) >= cfg.ReportEvery {
			lastReport = time.Now()
			cfg.Report(report())
		}
		select {
		case <-ctx.Done():
			return report(), nil
		case <-ticker.C:
		}
	}
}
