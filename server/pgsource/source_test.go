package pgsource

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/massconn/massconn/internal/pgtest"
)

// slowSink records what it is given and takes its time, as a hub fanning a
// row out to many thousands of clients does.
type slowSink struct {
	mu   sync.Mutex
	got  []Event
	more chan struct{}
}

func (k *slowSink) Lost(int64, int64) {}

func (k *slowSink) Deliver(_ context.Context, ev Event) {
	time.Sleep(time.Millisecond)
	k.mu.Lock()
	k.got = append(k.got, ev)
	k.mu.Unlock()
	select {
	case k.more <- struct{}{}:
	default:
	}
}

func (k *slowSink) waitFor(t *testing.T, n int) []Event {
	t.Helper()
	deadline := time.After(60 * time.Second) // only against hangs
	for {
		k.mu.Lock()
		got := append([]Event(nil), k.got...)
		k.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-k.more:
		case <-deadline:
			t.Fatalf("sink got %d of %d rows", len(got), n)
		}
	}
}

func openDB(t *testing.T) (*sql.DB, string) {
	t.Helper()
	pg := pgtest.Start(t)
	db, err := sql.Open("postgres", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db, pg.URL()
}

// A burst of notifications larger than lib/pq's channel buffer, delivered to
// a slow sink while the listener is pinged all the time: lib/pq reads the
// ping's reply on the goroutine that hands out notifications, so a ping from
// the goroutine that drains them would wait forever.
func TestBurstWhilePingingDeliversEveryRowInOrder(t *testing.T) {
	db, url := openDB(t)
	src := New(url, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	src.pingInterval = time.Millisecond
	sink := &slowSink{more: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second): // only against hangs
			t.Errorf("Run did not return after its context ended")
		}
	})
	for !src.Started() {
		time.Sleep(10 * time.Millisecond)
	}

	const rows = 3000 // one statement, so every notification arrives at commit:
	// far more than lib/pq buffers (2 x 32) or the socket holds
	if err := Insert(ctx, db, "Track", rows); err != nil {
		t.Fatal(err)
	}
	got := sink.waitFor(t, rows)
	if len(got) != rows {
		t.Fatalf("got %d rows, want %d", len(got), rows)
	}
	for i, ev := range got {
		if ev.Table != "Track" || ev.ID != int64(i+1) || ev.Pos != int64(i+1) || ev.TS == 0 || len(ev.Row) == 0 {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
}

// Run returns when its context ends while thousands of notifications are
// queued and pings are in flight: lib/pq's Close waits for a lock that a
// ping holds until its reply, which waits behind the queued notifications.
func TestRunReturnsWithNotificationsQueued(t *testing.T) {
	db, url := openDB(t)
	for round := range 3 {
		src := New(url, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
		src.pingInterval = time.Millisecond
		sink := &slowSink{more: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, sink) }()
		for !src.Started() {
			time.Sleep(10 * time.Millisecond)
		}
		if err := Insert(ctx, db, "Track", 5000); err != nil {
			t.Fatal(err)
		}
		sink.waitFor(t, 10) // the burst is arriving; most of it still queued
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("round %d: Run: %v", round, err)
			}
		case <-time.After(30 * time.Second): // only against hangs
			t.Fatalf("round %d: Run did not return after its context ended (listener deadlock)", round)
		}
	}
}
