// Package pgsource turns rows inserted into PostgreSQL into Events: a
// Chinook-style schema whose deferred insert triggers give every committed
// row a commit-ordered position in a durable log (massconn_log) and a
// pg_notify doorbell, a lib/pq Listener, and reads of the log that make
// delivery survive lost connections and let clients resume. It knows
// nothing about WebSockets.
package pgsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Channel is the LISTEN/NOTIFY channel every trigger notifies on.
const Channel = "massconn_rows"

// Tables are the tables (and so the topics) the schema provides, in the
// order of their foreign keys.
var Tables = []string{"Artist", "Album", "Track"}

// migrateLockKey serialises concurrent migrations (several server nodes
// starting at once would otherwise race on CREATE TABLE IF NOT EXISTS).
const migrateLockKey = 0x6d617373636f6e6e // "massconn"

// commitOrderLockKey is the transaction-level advisory lock every writing
// transaction takes in its commit phase, from the moment its rows get their
// positions until it is visible: so position order is commit order.
const commitOrderLockKey = 0x6d63706f73 // "mcpos"

// The inserted_at default is clock_timestamp() (the moment of the insert,
// not of the transaction start); the log keeps it as ts, so a row has the
// same ts however it is delivered.
//
// Delivery order is commit order: a deferred constraint trigger runs each
// inserted row's logging in the transaction's commit phase (PostgreSQL
// fires deferred triggers before it queues the transaction's
// notifications), under an advisory lock that is released only after the
// commit is visible. The row gets the next position from massconn_pos, a
// copy in massconn_log, and a notification. Hence positions ascend in
// commit order, NOTIFY delivers them in that order, any snapshot that sees
// position N sees every committed position below it, and a rolled-back
// transaction never gets one.
//
// pg_notify payloads are limited to 8000 bytes: a row too large to fit is
// announced by position only and the listener reads it from the log.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS "Artist" (
		id bigserial PRIMARY KEY,
		name text NOT NULL,
		inserted_at timestamptz NOT NULL DEFAULT clock_timestamp()
	)`,
	`CREATE TABLE IF NOT EXISTS "Album" (
		id bigserial PRIMARY KEY,
		title text NOT NULL,
		artist_id bigint REFERENCES "Artist"(id),
		inserted_at timestamptz NOT NULL DEFAULT clock_timestamp()
	)`,
	`CREATE TABLE IF NOT EXISTS "Track" (
		id bigserial PRIMARY KEY,
		name text NOT NULL,
		album_id bigint REFERENCES "Album"(id),
		composer text,
		milliseconds integer NOT NULL DEFAULT 0,
		bytes integer NOT NULL DEFAULT 0,
		unit_price numeric(10,2) NOT NULL DEFAULT 0.99,
		inserted_at timestamptz NOT NULL DEFAULT clock_timestamp()
	)`,
	`CREATE SEQUENCE IF NOT EXISTS massconn_pos`,
	`CREATE TABLE IF NOT EXISTS massconn_log (
		pos bigint PRIMARY KEY,
		topic text NOT NULL,
		row_id bigint NOT NULL,
		ts bigint NOT NULL,
		logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
		row json NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS massconn_log_logged_at ON massconn_log (logged_at)`,
	// The highest position deleted by history pruning: a resume from below
	// it cannot be served.
	`CREATE TABLE IF NOT EXISTS massconn_horizon (
		only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
		pruned_through bigint NOT NULL
	)`,
	`INSERT INTO massconn_horizon (pruned_through) VALUES (0) ON CONFLICT DO NOTHING`,
	// Which version of this schema the database has (schemaVersion).
	`CREATE TABLE IF NOT EXISTS massconn_schema (
		only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
		version int NOT NULL
	)`,
	`CREATE OR REPLACE FUNCTION massconn_log_insert() RETURNS trigger
	LANGUAGE plpgsql AS $$
	DECLARE
		p bigint;
		ts bigint := (extract(epoch FROM NEW.inserted_at) * 1000000)::bigint;
		body json := row_to_json(NEW);
		payload text;
	BEGIN
		PERFORM pg_advisory_xact_lock(` + fmt.Sprint(commitOrderLockKey) + `);
		p := nextval('massconn_pos');
		INSERT INTO massconn_log (pos, topic, row_id, ts, row) VALUES (p, TG_TABLE_NAME, NEW.id, ts, body);
		payload := json_build_object('pos', p, 'table', TG_TABLE_NAME, 'id', NEW.id, 'ts', ts, 'row', body)::text;
		IF octet_length(payload) > 7900 THEN
			payload := json_build_object('pos', p)::text;
		END IF;
		PERFORM pg_notify('` + Channel + `', payload);
		RETURN NULL;
	END
	$$`,
}

func init() {
	for _, t := range Tables {
		schema = append(schema,
			// The trigger of earlier versions notified at insert time, in
			// id order rather than commit order.
			fmt.Sprintf(`DROP TRIGGER IF EXISTS massconn_notify ON %q`, t),
			// Constraint triggers have no CREATE OR REPLACE.
			fmt.Sprintf(`DO $$ BEGIN
				IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'massconn_log' AND tgrelid = '%[1]q'::regclass) THEN
					CREATE CONSTRAINT TRIGGER massconn_log AFTER INSERT ON %[1]q
					DEFERRABLE INITIALLY DEFERRED
					FOR EACH ROW EXECUTE FUNCTION massconn_log_insert();
				END IF;
			END $$`, t))
	}
	schema = append(schema, `DROP FUNCTION IF EXISTS massconn_notify_insert()`)
}

// schemaVersion names the schema that schema creates. Bump it whenever
// schema changes, so databases migrated by an earlier version run it again.
const schemaVersion = 2

// Migrate applies the schema. It is idempotent and safe to run from several
// processes at once, and while rows are written: on a database that already
// has this version it takes no table lock at all. (The DDL itself locks the
// log index, then each table, an order opposite to a writer's and to a
// history prune's; running it on every server start against a busy
// database deadlocked.)
func Migrate(ctx context.Context, db *sql.DB) error {
	const attempts = 5
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		err = migrateOnce(ctx, db)
		if !isDeadlock(err) {
			return err
		}
		// Only an upgrade of an older schema under load gets here: the
		// deadlock victim's transaction is rolled back whole, so trying
		// again is safe.
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w (after %d attempts)", err, attempts)
}

func migrateOnce(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	current, err := appliedVersion(ctx, tx)
	if err != nil {
		return err
	}
	if current == schemaVersion {
		return tx.Commit()
	}
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: %.60s...: %w", stmt, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO massconn_schema (version) VALUES ($1)
		ON CONFLICT (only_row) DO UPDATE SET version = EXCLUDED.version`, schemaVersion); err != nil {
		return fmt.Errorf("migrate: record version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// appliedVersion is the schema version recorded in the database, 0 when
// none is (a new database, or one migrated before versions were recorded).
func appliedVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT to_regclass('massconn_schema') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("migrate: look for massconn_schema: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := tx.QueryRowContext(ctx, `SELECT version FROM massconn_schema`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("migrate: read massconn_schema: %w", err)
	}
	return v, nil
}

// isDeadlock reports whether err is PostgreSQL's deadlock_detected (40P01).
func isDeadlock(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "40P01"
}

// KnownTable reports whether name is one of Tables.
func KnownTable(name string) bool {
	for _, t := range Tables {
		if t == name {
			return true
		}
	}
	return false
}
