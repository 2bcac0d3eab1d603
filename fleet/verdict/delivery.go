package verdict

import (
	"fmt"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

// DeliveryInput is what the delivery check compares: the messages the run
// published and what every connection's sequence check reported.
type DeliveryInput struct {
	// Published is every message the run published, in id order; nil
	// when there is no record of them (NoRecord says why).
	Published *Published `json:"published,omitempty"`
	// NoRecord says why Published is nil, e.g. "no rows.json among the
	// inputs".
	NoRecord string `json:"no_record,omitempty"`
	// Sequences are the connections' sequence checks, summed.
	Sequences Sequences `json:"sequences"`
	// AllOpen is when the last connection had opened: the window starts.
	AllOpen time.Time `json:"all_open"`
	// HoldEnd is when the first connection started closing; the window
	// ends the p99 bound before it (a message published later may still
	// be on its way when k6 closes).
	HoldEnd time.Time `json:"hold_end"`
}

// Published is the messages a run published, which every connection
// should receive: the rows the insert loop inserted into Source.
type Published struct {
	Source string `json:"source"` // the table rows were inserted into, or the URL messages were published to
	// Unit names one message in the verdict's words: "row" (the
	// default) or "message".
	Unit     string    `json:"unit,omitempty"`
	Messages []Message `json:"messages"`
}

// Message is one published message: its id (the row id, which clients
// see as their sequence) and when it was published.
type Message struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
}

// Sequences are the connections' sequence checks (fleet_seq_* from the
// scripts' recordSequence), summed over the parts.
type Sequences struct {
	// Reported is false when no script reported sequences: nothing to check.
	Reported bool `json:"reported"`
	// First and Last count the sequences by their first and last id.
	First      map[int64]int64 `json:"first,omitempty"`
	Last       map[int64]int64 `json:"last,omitempty"`
	Silent     int64           `json:"silent,omitempty"` // connections that received nothing
	Gaps       int64           `json:"gaps,omitempty"`
	Duplicates int64           `json:"duplicates,omitempty"`
	Reordered  int64           `json:"reordered,omitempty"`
}

// Check compares every message published in the window with every
// connection's sequence. The window starts when every connection was open
// and ends bound before the first one started closing.
func Check(in DeliveryInput, bound time.Duration, opened int64) *report.Delivery {
	seq := in.Sequences
	windowEnd := in.HoldEnd.Add(-bound)
	d := &report.Delivery{WindowStart: in.AllOpen, WindowEnd: windowEnd,
		Gaps: seq.Gaps, Duplicates: seq.Duplicates, Reordered: seq.Reordered, Silent: seq.Silent}
	switch {
	case in.Published == nil:
		d.NotChecked = in.NoRecord
		if d.NotChecked == "" {
			d.NotChecked = "no record of the messages the run published"
		}
		return d
	case !seq.Reported:
		d.NotChecked = "the script reports no sequences (fleet_seq_* from recordSequence)"
		return d
	}
	d.Table, d.Unit = in.Published.Source, in.Published.Unit
	d.RowsInserted = int64(len(in.Published.Messages))
	for _, m := range in.Published.Messages {
		if m.At.Before(in.AllOpen) || m.At.After(windowEnd) {
			continue
		}
		if d.Rows == 0 {
			d.FirstID = m.ID
		}
		d.LastID = m.ID
		d.Rows++
	}
	for id, n := range seq.First {
		d.Sequences += n
		if d.Rows > 0 && id > d.FirstID {
			d.StartedLate += n
		}
	}
	for id, n := range seq.Last {
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
		n := d.Noun()
		out = append(out, fmt.Sprintf("not every %[1]s reached every connection: of %[1]ss %[2]d..%[3]d (%[4]d %[1]ss %[5]s while all were open), "+
			"%[6]d connection(s) received no %[1]s, %[7]d sequence(s) started after %[1]s %[2]d, %[8]d ended before %[1]s %[3]d",
			n, d.FirstID, d.LastID, d.Rows, published(d), d.Silent, d.StartedLate, d.EndedEarly))
	}
	if d.Gaps > 0 {
		out = append(out, fmt.Sprintf("%d %s deliveries skipped inside connections' sequences (gaps)", d.Gaps, d.Noun()))
	}
	if d.Duplicates > 0 || d.Reordered > 0 {
		out = append(out, fmt.Sprintf("%ss delivered twice (%d) or out of order (%d)", d.Noun(), d.Duplicates, d.Reordered))
	}
	return out
}
