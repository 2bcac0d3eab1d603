package publish

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "github.com/lib/pq" // the database/sql driver for PostgreSQL
)

// sqlPublisher runs one statement per message in the user's own database,
// whose server turns the new row into the message: the row's id, which
// the statement returns, is the sequence number the message carries.
type sqlPublisher struct {
	db      *sql.DB
	stmt    *sql.Stmt
	display string
}

func newSQL(ctx context.Context, cfg Config) (*sqlPublisher, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("--insert-sql needs --database-url (or DATABASE_URL): the database your server delivers rows from")
	}
	db, err := sql.Open("postgres", cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("--database-url: cannot connect: %w", err)
	}
	// Preparing checks the statement (syntax, table, columns) at start
	// without running it.
	stmt, err := db.PrepareContext(ctx, cfg.InsertSQL)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("--insert-sql %q: %w", cfg.InsertSQL, err)
	}
	return &sqlPublisher{db: db, stmt: stmt, display: "SQL " + oneLine(cfg.InsertSQL)}, nil
}

func (p *sqlPublisher) Target() string { return p.display }

func (p *sqlPublisher) Close() error {
	p.stmt.Close()
	return p.db.Close()
}

// Publish runs the statement and returns the id it returned.
func (p *sqlPublisher) Publish(ctx context.Context, _ int64, _ time.Time) (int64, error) {
	var id int64
	err := p.stmt.QueryRowContext(ctx).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errors.New("--insert-sql returned no row: end it with RETURNING id, the number your server's messages carry")
	}
	if err != nil {
		return 0, fmt.Errorf("--insert-sql: %w", err)
	}
	return id, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
