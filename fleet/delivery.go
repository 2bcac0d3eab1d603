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

	"github.com/massconn/massconn/fleet/report"
)

// RowsFile records which rows the run inserted (from the database, after
// the run), next to the servers' logs: what the verdict expects every
// connection to have received.
const RowsFile = "rows.json"

// DefaultP99Bound is the fan-out p99 a run may not exceed to pass.
const DefaultP99Bound = time.Second

// RowsRecord is the rows of the insert loop's table, in id order.
type RowsRecord struct {
	Table string     `json:"table"`
	Rows  []RowStamp `json:"rows"`
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

// sequenceInput is what the parts' sequence checks reported, summed.
type sequenceInput struct {
	reported                    bool
	first, last                 map[int64]int64
	silent                      int64
	gaps, duplicates, reordered int64
}

func sequences(parts []*partInput) sequenceInput {
	in := sequenceInput{first: map[int64]int64{}, last: map[int64]int64{}}
	for _, p := range parts {
		m := p.metrics
		if len(m.seqFirst)+len(m.seqLast)+len(m.seqSilent) > 0 {
			in.reported = true
		}
		hist := func(ss []sample, into map[int64]int64) {
			for _, s := range ss {
				if id, err := strconv.ParseInt(s.tag, 10, 64); err == nil {
					into[id] += int64(s.v)
				}
			}
		}
		hist(m.seqFirst, in.first)
		hist(m.seqLast, in.last)
		in.silent += int64(sum(m.seqSilent))
		in.gaps += int64(sum(m.gaps))
		in.duplicates += int64(sum(m.duplicates))
		in.reordered += int64(sum(m.reordered))
	}
	return in
}

// delivery checks every row of the window against every connection's
// sequence. The window starts when the last part had opened all its
// connections and ends bound before the first part started closing: a row
// inserted later may still be on its way, within the bound, when k6 closes.
func delivery(rows *RowsRecord, seq sequenceInput, windowStart, windowEnd time.Time, opened int64) *report.Delivery {
	d := &report.Delivery{WindowStart: windowStart, WindowEnd: windowEnd,
		Gaps: seq.gaps, Duplicates: seq.duplicates, Reordered: seq.reordered, Silent: seq.silent}
	switch {
	case rows == nil:
		d.NotChecked = "no " + RowsFile + " among the inputs (the rows the run inserted)"
		return d
	case !seq.reported:
		d.NotChecked = "the script reports no sequences (fleet_seq_* from recordSequence)"
		return d
	}
	d.Table = rows.Table
	d.RowsInserted = int64(len(rows.Rows))
	for _, r := range rows.Rows {
		t := time.UnixMicro(r.InsertedUS)
		if t.Before(windowStart) || t.After(windowEnd) {
			continue
		}
		if d.Rows == 0 {
			d.FirstID = r.ID
		}
		d.LastID = r.ID
		d.Rows++
	}
	for id, n := range seq.first {
		d.Sequences += n
		if d.Rows > 0 && id > d.FirstID {
			d.StartedLate += n
		}
	}
	for id, n := range seq.last {
		if d.Rows > 0 && id < d.LastID {
			d.EndedEarly += n
		}
	}
	d.Deliveries = d.Rows * opened
	d.Complete = d.Gaps == 0 && d.Duplicates == 0 && d.Reordered == 0 &&
		(d.Rows == 0 || (d.Silent == 0 && d.StartedLate == 0 && d.EndedEarly == 0))
	return d
}

// deliveryProblems says what the check found, for the verdict.
func deliveryProblems(d *report.Delivery) []string {
	if d == nil || d.NotChecked != "" || d.Complete {
		return nil
	}
	var out []string
	if d.Rows > 0 && (d.Silent > 0 || d.StartedLate > 0 || d.EndedEarly > 0) {
		out = append(out, fmt.Sprintf("not every row reached every connection: of rows %d..%d (%d rows inserted while all were open), "+
			"%d connection(s) received no row, %d sequence(s) started after row %d, %d ended before row %d",
			d.FirstID, d.LastID, d.Rows, d.Silent, d.StartedLate, d.FirstID, d.EndedEarly, d.LastID))
	}
	if d.Gaps > 0 {
		out = append(out, fmt.Sprintf("%d row deliveries skipped inside connections' sequences (gaps)", d.Gaps))
	}
	if d.Duplicates > 0 || d.Reordered > 0 {
		out = append(out, fmt.Sprintf("rows delivered twice (%d) or out of order (%d)", d.Duplicates, d.Reordered))
	}
	return out
}
