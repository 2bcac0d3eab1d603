package publish

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Config chooses and sets up a publisher: URL for HTTP, or InsertSQL with
// DatabaseURL.
type Config struct {
	URL     string   // --publish-url
	Method  string   // --publish-method, default POST
	Body    string   // --publish-body, default DefaultBody
	Headers []string // --publish-header, 'Name: value' each

	InsertSQL   string // --insert-sql
	DatabaseURL string // the caller's --database-url

	Every time.Duration // --publish-every, default 1s
	Count int64         // --publish-count, 0 = until the run ends
}

// DefaultEvery is how often a message is published unless told.
const DefaultEvery = time.Second

// RegisterFlags adds the publisher's flags to fs (not --database-url,
// which the caller owns).
func RegisterFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.URL, "publish-url", "", "publish one message per --publish-every with an HTTP request to this URL, e.g. nchan's http://127.0.0.1:8080/pub?id=news")
	fs.StringVar(&c.Method, "publish-method", "POST", "HTTP method of each publish")
	fs.StringVar(&c.Body, "publish-body", DefaultBody, "body of each publish; placeholders "+placeholders)
	fs.Func("publish-header", "header of each publish, 'Name: value' (repeatable)", func(v string) error {
		c.Headers = append(c.Headers, v)
		return nil
	})
	fs.StringVar(&c.InsertSQL, "insert-sql", "", "instead of HTTP: run this statement in --database-url once per --publish-every; it must return the new row's id (RETURNING id), the number the messages carry")
	fs.DurationVar(&c.Every, "publish-every", DefaultEvery, "interval between publishes")
	fs.Int64Var(&c.Count, "publish-count", 0, "stop after this many publishes (0 = until the run ends)")
}

// Enabled says whether a publisher was asked for.
func (c Config) Enabled() bool { return c.URL != "" || c.InsertSQL != "" }

// New checks the configuration and makes its publisher; each error is one
// line naming the flag.
func (c Config) New(ctx context.Context) (Publisher, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if c.InsertSQL != "" {
		return newSQL(ctx, c)
	}
	return newHTTP(c)
}

// Check finds what New would refuse without connecting anywhere (the SQL
// statement is checked by the database, in New).
func (c Config) Check() error {
	switch {
	case c.URL != "" && c.InsertSQL != "":
		return errors.New("--publish-url and --insert-sql both given: choose one publisher")
	case !c.Enabled():
		return errors.New("no publisher: give --publish-url URL (HTTP) or --insert-sql SQL with --database-url")
	case c.Every <= 0:
		return fmt.Errorf("--publish-every %v: must be positive, e.g. 1s", c.Every)
	case c.Count < 0:
		return fmt.Errorf("--publish-count %d: must be 0 (until the run ends) or more", c.Count)
	case c.InsertSQL != "" && strings.TrimSpace(c.InsertSQL) == "":
		return errors.New("--insert-sql is empty")
	case c.InsertSQL != "" && c.DatabaseURL == "":
		return errors.New("--insert-sql needs --database-url (or DATABASE_URL): the database your server delivers rows from")
	case c.InsertSQL != "":
		return nil
	}
	_, err := newHTTP(c)
	return err
}

// SampleSize is the bytes of one message body the HTTP publisher would
// send now (for the floor's message size).
func (c Config) SampleSize() (int, error) {
	text := c.Body
	if text == "" {
		text = DefaultBody
	}
	b, err := parseBody(text)
	if err != nil {
		return 0, err
	}
	body, err := b.render(1000, time.Now())
	return len(body), err
}
