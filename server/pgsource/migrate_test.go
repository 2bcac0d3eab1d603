package pgsource

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
)

// A server that starts (or restarts) while rows are being written must not
// fail its migration: every server of a fleet migrates at start-up, and at a
// million connections 53 of them did so while the insert loop was writing.
// The schema's DDL takes table locks in an order opposite to a writer's
// (a writer holds its table and wants massconn_log at commit) and to a
// history prune's (horizon row, then massconn_log).
func TestMigrateWhileWritersInsert(t *testing.T) {
	db, url := openDB(t)
	ctx := context.Background()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(16)

	writeCtx, stopWriting := context.WithCancel(ctx)
	var writers sync.WaitGroup
	writeErrs := make(chan error, 8)
	for _, table := range []string{"Artist", "Album", "Track", "Track"} {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for writeCtx.Err() == nil {
				if err := Insert(writeCtx, db, table, 500); err != nil {
					if !errors.Is(writeCtx.Err(), context.Canceled) {
						writeErrs <- err
					}
					return
				}
			}
		}()
	}

	// Every server prunes its history on a timer: a prune holds the horizon
	// row and then wants massconn_log.
	src := New(url, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	writers.Add(1)
	go func() {
		defer writers.Done()
		for writeCtx.Err() == nil {
			if _, err := src.PruneHistory(writeCtx, 0); err != nil {
				if !errors.Is(writeCtx.Err(), context.Canceled) {
					writeErrs <- err
				}
				return
			}
		}
	}()

	var failed error
	for i := 0; i < 100 && failed == nil; i++ {
		failed = Migrate(ctx, db)
	}
	stopWriting()
	writers.Wait()
	close(writeErrs)
	if failed != nil {
		t.Fatalf("migration while writers insert: %v", failed)
	}
	for err := range writeErrs {
		t.Errorf("insert while migrations ran: %v", err)
	}
}
