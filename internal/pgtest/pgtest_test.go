package pgtest_test

import (
	"database/sql"
	"testing"

	_ "github.com/lib/pq"

	"github.com/massconn/massconn/internal/pgtest"
)

func TestStartRestartStop(t *testing.T) {
	pg := pgtest.Start(t)
	db, err := sql.Open("postgres", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatalf("create: %v", err)
	}
	pg.Restart(t)
	var v int
	if err := db.QueryRow(`SELECT v FROM kept`).Scan(&v); err != nil {
		t.Fatalf("query after restart: %v", err)
	}
	if v != 42 {
		t.Fatalf("got %d after restart, want 42", v)
	}
	if err := pg.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}
