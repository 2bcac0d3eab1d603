package fleet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/fleet/verdict"
)

// RowsFile records which rows the run inserted (from the database, after
// the run), next to the servers' logs: what the verdict expects every
// connection to have received.
const RowsFile = "rows.json"

// DefaultP99Bound is the fan-out p99 a run may not exceed to pass.
const DefaultP99Bound = verdict.DefaultP99Bound

// RowsRecord is the rows of the insert loop's table, in id order.
type RowsRecord struct {
	Table string     `json:"table"`
	Rows  []RowStamp `json:"rows"`
	// Unit is what one entry is: "row" (the default) for rows inserted
	// into Table, "message" for messages published to the URL in Table.
	Unit string `json:"unit,omitempty"`
}

// RowStamp is one row: its id and when it was inserted (PostgreSQL's
// clock_timestamp(), unix microseconds).
type RowStamp struct {
	ID         int64 `json:"id"`
	InsertedUS int64 `json:"inserted_us"`
}

// insertTable is the table `massconn-server insert` writes by default and
// the fleet's URLs subscribe to.
const insertTable = "Track"

// RecordRows reads every row of the insert loop's table from the database
// into dir/rows.json.
func RecordRows(ctx context.Context, dbURL, dir string) error {
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return fmt.Errorf("record inserted rows: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT id, (extract(epoch FROM inserted_at) * 1000000)::bigint FROM "`+insertTable+`" ORDER BY id`)
	if err != nil {
		return fmt.Errorf("record inserted rows: %w", err)
	}
	defer rows.Close()
	rec := RowsRecord{Table: insertTable, Rows: []RowStamp{}}
	for rows.Next() {
		var r RowStamp
		if err := rows.Scan(&r.ID, &r.InsertedUS); err != nil {
			return fmt.Errorf("record inserted rows: %w", err)
		}
		rec.Rows = append(rec.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("record inserted rows: %w", err)
	}
	return writeJSON(filepath.Join(dir, RowsFile), rec)
}

// readRows finds rows.json in the server directories; nil when none has one.
func readRows(dirs []string) (*RowsRecord, error) {
	for _, dir := range dirs {
		var rec RowsRecord
		err := readJSON(filepath.Join(dir, RowsFile), &rec)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &rec, nil
	}
	return nil, nil
}

// publishedRecord is a publisher's record (fleet/publish) as the merge
// reads it.
type publishedRecord struct{ *publish.Record }

// readPublished finds the publisher's record in the server directories;
// nil when none has one (a run against our servers).
func readPublished(dirs []string) (*publishedRecord, error) {
	for _, dir := range dirs {
		rec, err := publish.ReadFile(filepath.Join(dir, publish.File))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &publishedRecord{rec}, nil
	}
	return nil, nil
}

// rows are the published messages as the rows the delivery check expects:
// each sequence number sent at its publish time.
func (p *publishedRecord) rows() *RowsRecord {
	rec := &RowsRecord{Table: p.Target, Unit: "message", Rows: make([]RowStamp, len(p.Published))}
	for i, m := range p.Published {
		rec.Rows[i] = RowStamp{ID: m.Seq, InsertedUS: m.SentUS}
	}
	return rec
}

// published is the rows as the messages the verdict expects every
// connection to receive, or why there is no record of them.
func (rec *RowsRecord) published() (*verdict.Published, string) {
	if rec == nil {
		return nil, "no " + RowsFile + " among the inputs (the rows the run inserted)"
	}
	p := &verdict.Published{Source: rec.Table, Unit: rec.Unit, Messages: make([]verdict.Message, len(rec.Rows))}
	for i, r := range rec.Rows {
		p.Messages[i] = verdict.Message{ID: r.ID, At: time.UnixMicro(r.InsertedUS)}
	}
	return p, ""
}

// sequences sums what the parts' sequence checks reported.
func sequences(parts []*partInput) verdict.Sequences {
	in := verdict.Sequences{First: map[int64]int64{}, Last: map[int64]int64{}}
	for _, p := range parts {
		m := p.metrics
		if len(m.seqFirst)+len(m.seqLast)+len(m.seqSilent) > 0 {
			in.Reported = true
		}
		hist := func(ss []sample, into map[int64]int64) {
			for _, s := range ss {
				if id, err := strconv.ParseInt(s.tag, 10, 64); err == nil {
					into[id] += int64(s.v)
				}
			}
		}
		hist(m.seqFirst, in.First)
		hist(m.seqLast, in.Last)
		in.Silent += int64(sum(m.seqSilent))
		in.Gaps += int64(sum(m.gaps))
		in.Duplicates += int64(sum(m.duplicates))
		in.Reordered += int64(sum(m.reordered))
	}
	return in
}
