// Package pgsource turns rows inserted into PostgreSQL into Events: a
// Chinook-style schema whose AFTER INSERT triggers call pg_notify, a lib/pq
// Listener, and a backfill by id that makes delivery survive a lost
// connection. It knows nothing about WebSockets.
package pgsource

import (
	"context"
	"database/sql"
	"fmt"
)

// Channel is the LISTEN/NOTIFY channel every trigger notifies on.
const Channel = "massconn_rows"

// Tables are the tables (and so the topics) the schema provides, in the
// order of their foreign keys.
var Tables = []string{"Artist", "Album", "Track"}

// migrateLockKey serialises concurrent migrations (several server nodes
// starting at once would otherwise race on CREATE TABLE IF NOT EXISTS).
const migrateLockKey = 0x6d617373636f6e6e // "massconn"

// The inserted_at default is clock_timestamp() (the moment of the insert,
// not of the transaction start); the notification's ts and the backfill
// both read it, so a row has the same ts however it is delivered.
//
// pg_notify payloads are limited to 8000 bytes: a row too large to fit is
// announced without its body and the listener reads it back.
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
	`CREATE OR REPLACE FUNCTION massconn_notify_insert() RETURNS trigger
	LANGUAGE plpgsql AS $$
	DECLARE
		payload text;
		ts bigint := (extract(epoch FROM NEW.inserted_at) * 1000000)::bigint;
	BEGIN
		payload := json_build_object('table', TG_TABLE_NAME, 'id', NEW.id, 'ts', ts,
			'row', row_to_json(NEW))::text;
		IF octet_length(payload) > 7900 THEN
			payload := json_build_object('table', TG_TABLE_NAME, 'id', NEW.id, 'ts', ts)::text;
		END IF;
		PERFORM pg_notify('` + Channel + `', payload);
		RETURN NULL;
	END
	$$`,
}

func init() {
	for _, t := range Tables {
		schema = append(schema, fmt.Sprintf(
			`CREATE OR REPLACE TRIGGER massconn_notify AFTER INSERT ON %q
			FOR EACH ROW EXECUTE FUNCTION massconn_notify_insert()`, t))
	}
}

// Migrate applies the schema. It is idempotent and safe to run from several
// processes at once.
func Migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: %.60s...: %w", stmt, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
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
