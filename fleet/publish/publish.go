// Package publish makes the messages of a run against someone else's
// server: one message per tick, sent over HTTP (--publish-url) or written
// as a row into the user's own database (--insert-sql), with a sequence
// number in each that the subscribers' sequence check and the fleet's
// delivery verdict count, exactly as they count the reference server's
// inserted row ids.
//
// Every attempt is recorded: the sequence numbers published and when they
// were sent (what every connection is expected to receive), and every
// failure with its reason. A failed publish is never retried under the
// same number and never left out silently: the verdict fails on it.
package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// File is the name of the record a publisher writes next to a run's
// server logs.
const File = "published.json"

// Publisher sends one message.
type Publisher interface {
	// Publish sends message number n (1, 2, … for each attempt) at now
	// and returns the sequence number the message carries: n itself for
	// an HTTP body, the new row's id for an insert.
	Publish(ctx context.Context, n int64, now time.Time) (seq int64, err error)
	// Target says where messages go, for the report ("POST http://…").
	Target() string
	Close() error
}

// Record is what a publisher did during a run.
type Record struct {
	Target    string    `json:"target"`
	Every     string    `json:"every"`
	Published []Stamp   `json:"published"`
	Failures  []Failure `json:"failures"`
	// Late counts ticks that passed without a publish because the one
	// before took longer than the interval: fewer messages than the
	// interval promises, said rather than hidden.
	Late int64 `json:"late_ticks"`
}

// Stamp is one message that was published: its sequence number, when its
// publish started (unix microseconds; the body's {{now_us}} is this time)
// and how long the publish took.
type Stamp struct {
	Seq    int64 `json:"seq"`
	SentUS int64 `json:"sent_us"`
	TookUS int64 `json:"took_us"`
}

// Failure is one publish that failed: the attempt's number (the body's
// {{seq}}; an insert that failed has no row id), when, and why.
type Failure struct {
	Attempt int64  `json:"attempt"`
	AtUS    int64  `json:"at_us"`
	Error   string `json:"error"`
}

// Summary is one line on the failures for the verdict ("" without any):
// how many, and each distinct reason with its count.
func (r *Record) Summary() string {
	if len(r.Failures) == 0 {
		return ""
	}
	counts := map[string]int{}
	for _, f := range r.Failures {
		counts[f.Error]++
	}
	reasons := make([]string, 0, len(counts))
	for e := range counts {
		reasons = append(reasons, e)
	}
	sort.Slice(reasons, func(i, j int) bool { return counts[reasons[i]] > counts[reasons[j]] })
	for i, e := range reasons {
		reasons[i] = fmt.Sprintf("%d× %s", counts[e], e)
	}
	return fmt.Sprintf("%d of %d publishes to %s failed: %s", len(r.Failures), len(r.Failures)+len(r.Published),
		r.Target, strings.Join(reasons, "; "))
}

// WriteFile writes the record as JSON.
func (r *Record) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("publish record: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("publish record: %w", err)
	}
	return nil
}

// ReadFile reads a record WriteFile wrote.
func ReadFile(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Loop publishes one message every Every until its context ends or Count
// messages were attempted.
type Loop struct {
	Publisher Publisher
	Every     time.Duration
	Count     int64     // 0 = until the context ends
	Log       io.Writer // one line per failure; nil = none

	mu  sync.Mutex
	rec Record
}

// Run publishes at once and then every l.Every; it returns when ctx ends
// or Count attempts were made. A publish cut short by ctx ending is not
// recorded: the run was over, whatever became of it.
func (l *Loop) Run(ctx context.Context) {
	l.mu.Lock()
	l.rec.Target, l.rec.Every = l.Publisher.Target(), l.Every.String()
	l.mu.Unlock()
	next := time.Now()
	for n := int64(1); l.Count == 0 || n <= l.Count; n++ {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return
		}
		sent := time.Now()
		seq, err := l.Publisher.Publish(ctx, n, sent)
		took := time.Since(sent)
		if err != nil && ctx.Err() != nil {
			return
		}
		l.note(n, seq, sent, took, err)
		next = next.Add(l.Every)
		if behind := time.Since(next); behind > 0 {
			missed := int64(behind / l.Every)
			next = next.Add(time.Duration(missed) * l.Every)
			l.mu.Lock()
			l.rec.Late += missed
			l.mu.Unlock()
		}
	}
}

func (l *Loop) note(n, seq int64, sent time.Time, took time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.rec.Failures = append(l.rec.Failures, Failure{Attempt: n, AtUS: sent.UnixMicro(), Error: err.Error()})
		if l.Log != nil {
			fmt.Fprintf(l.Log, "publish %d failed: %v\n", n, err)
		}
		return
	}
	l.rec.Published = append(l.rec.Published, Stamp{Seq: seq, SentUS: sent.UnixMicro(), TookUS: took.Microseconds()})
}

// Record is a copy of what the loop has done so far.
func (l *Loop) Record() *Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rec
	r.Published = append([]Stamp{}, l.rec.Published...)
	r.Failures = append([]Failure{}, l.rec.Failures...)
	return &r
}
