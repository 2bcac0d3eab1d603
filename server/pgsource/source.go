package pgsource

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Event is one inserted row.
type Event struct {
	Table string
	ID    int64
	// TS is the insert time in unix microseconds, taken inside PostgreSQL
	// (clock_timestamp()).
	TS  int64
	Row json.RawMessage
}

// Sink receives events in id order per table, each row exactly once.
// Deliver must not block for long: it runs on the listener's goroutine.
type Sink interface {
	Deliver(Event)
}

// Listener states reported by State.
const (
	StateStarting     = "starting"
	StateConnected    = "connected"
	StateDisconnected = "disconnected"
)

// Stats are running totals, for metrics.
type Stats struct {
	Notifications uint64 // notifications received from PostgreSQL
	Duplicates    uint64 // notifications dropped because the row was already delivered
	Backfilled    uint64 // rows delivered by the backfill query instead of a notification
	Reconnects    uint64
}

// Source listens for row notifications and hands them to a Sink.
//
// pg_notify is not durable: notifications sent while the listener is
// disconnected are lost. Source therefore remembers the last id delivered per
// table and, after every reconnect, reads the rows inserted meanwhile
// (id > last, in id order) before trusting notifications again; notifications
// for ids it already delivered are dropped. This gives exactly-once, in-order
// delivery per table provided rows commit in id order (true for one writer,
// such as the insert loop; with concurrent writers a row whose transaction
// commits after a higher id may be skipped).
type Source struct {
	url string
	db  *sql.DB
	log *slog.Logger
	// pingInterval is how often the listener connection is checked.
	pingInterval time.Duration

	state      atomic.Value // string
	started    atomic.Bool  // listening, and the starting ids are known
	lastNotify atomic.Int64 // unix nanoseconds of the last notification
	stats      struct{ notifications, duplicates, backfilled, reconnects atomic.Uint64 }

	mu   sync.Mutex
	last map[string]int64 // id of the last row delivered, per table
}

// New prepares a Source; Run starts it. db is used for backfill queries.
func New(url string, db *sql.DB, log *slog.Logger) *Source {
	s := &Source{url: url, db: db, log: log, last: map[string]int64{}, pingInterval: 5 * time.Second}
	s.state.Store(StateStarting)
	return s
}

// State is the listener's connection state; it stays "starting" until Run
// is listening and knows where to start, so "connected" means every row
// inserted from now on will be delivered.
func (s *Source) State() string {
	if !s.started.Load() {
		return StateStarting
	}
	return s.state.Load().(string)
}

// Started reports whether Run is listening and every row inserted from now
// on will be delivered.
func (s *Source) Started() bool { return s.started.Load() }

// LastNotification is when the last notification arrived (zero if none).
func (s *Source) LastNotification() time.Time {
	ns := s.lastNotify.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Stats returns running totals.
func (s *Source) Stats() Stats {
	return Stats{
		Notifications: s.stats.notifications.Load(),
		Duplicates:    s.stats.duplicates.Load(),
		Backfilled:    s.stats.backfilled.Load(),
		Reconnects:    s.stats.reconnects.Load(),
	}
}

// LastID is the id of the last row of table delivered to the sink.
func (s *Source) LastID(table string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[table]
}

// Run listens until ctx ends. Rows inserted before Run connects are not
// delivered; every row after that is, exactly once.
func (s *Source) Run(ctx context.Context, sink Sink) error {
	l := pq.NewListener(s.url, 100*time.Millisecond, 2*time.Second, s.onListenerEvent)
	defer l.Close()

	listenErr := make(chan error, 1)
	go func() { listenErr <- l.Listen(Channel) }()
	select {
	case err := <-listenErr:
		if err != nil {
			return fmt.Errorf("listen on %s: %w", Channel, err)
		}
	case <-ctx.Done():
		return nil
	}

	// Rows already in the tables when we start are history, not news.
	caughtUp := false
	for !caughtUp {
		if err := s.startAtCurrentMax(ctx); err != nil {
			s.log.Warn("reading current ids, will retry", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		caughtUp = true
	}
	s.started.Store(true)

	// After a reconnect, rows must come from the backfill query until it
	// has succeeded once; notifications alone might skip missed rows.
	needBackfill := false
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	// A half-open connection is only noticed when used, so ping it. Not from
	// this goroutine: lib/pq reads the ping's reply on the goroutine that
	// hands us notifications, which blocks while l.Notify is full, so a
	// ping waiting here while notifications queue up would never return.
	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	go s.pingEvery(pingCtx, l, s.pingInterval)
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-l.Notify:
			if n == nil {
				// lib/pq sends nil after reconnecting: notifications may
				// have been missed while the connection was down.
				s.stats.reconnects.Add(1)
				needBackfill = !s.backfill(ctx, sink)
				continue
			}
			s.lastNotify.Store(time.Now().UnixNano())
			s.stats.notifications.Add(1)
			if needBackfill {
				needBackfill = !s.backfill(ctx, sink)
				continue
			}
			if err := s.handle(ctx, n.Extra, sink); err != nil {
				s.log.Warn("notification", "err", err)
				needBackfill = true
			}
		case <-retry.C:
			if needBackfill {
				needBackfill = !s.backfill(ctx, sink)
			}
		}
	}
}

func (s *Source) pingEvery(ctx context.Context, l *pq.Listener, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.Ping(); err != nil {
				s.log.Debug("listener ping", "err", err)
			}
		}
	}
}

func (s *Source) onListenerEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventConnected, pq.ListenerEventReconnected:
		s.state.Store(StateConnected)
		s.log.Info("listener connected", "event", ev.String())
	case pq.ListenerEventDisconnected:
		s.state.Store(StateDisconnected)
		s.log.Warn("listener disconnected", "err", err)
	case pq.ListenerEventConnectionAttemptFailed:
		s.state.Store(StateDisconnected)
		s.log.Debug("listener connection attempt failed", "err", err)
	}
}

func (s *Source) startAtCurrentMax(ctx context.Context) error {
	for _, t := range Tables {
		var id int64
		q := fmt.Sprintf(`SELECT coalesce(max(id), 0) FROM %q`, t)
		if err := s.db.QueryRowContext(ctx, q).Scan(&id); err != nil {
			return fmt.Errorf("max id of %s: %w", t, err)
		}
		s.mu.Lock()
		s.last[t] = id
		s.mu.Unlock()
	}
	return nil
}

type notification struct {
	Table string          `json:"table"`
	ID    int64           `json:"id"`
	TS    int64           `json:"ts"`
	Row   json.RawMessage `json:"row"`
}

func (s *Source) handle(ctx context.Context, payload string, sink Sink) error {
	var n notification
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		return fmt.Errorf("decode payload %.80q: %w", payload, err)
	}
	if !KnownTable(n.Table) {
		return nil
	}
	if n.ID <= s.LastID(n.Table) {
		s.stats.duplicates.Add(1)
		return nil
	}
	if len(n.Row) == 0 {
		// Announced without its body (too large for pg_notify).
		row, err := s.fetchRow(ctx, n.Table, n.ID)
		if err != nil {
			return err
		}
		n.Row = row
	}
	s.deliver(sink, Event(n))
	return nil
}

func (s *Source) deliver(sink Sink, ev Event) {
	s.mu.Lock()
	s.last[ev.Table] = ev.ID
	s.mu.Unlock()
	sink.Deliver(ev)
}

func (s *Source) fetchRow(ctx context.Context, table string, id int64) (json.RawMessage, error) {
	var row []byte
	q := fmt.Sprintf(`SELECT row_to_json(t) FROM %q t WHERE id = $1`, table)
	if err := s.db.QueryRowContext(ctx, q, id).Scan(&row); err != nil {
		return nil, fmt.Errorf("read %s id %d: %w", table, id, err)
	}
	return row, nil
}

const backfillPage = 1000

// backfill delivers every row newer than the last delivered one, per table,
// in id order. It reports whether it completed; on failure what it already
// delivered stays delivered and the next attempt resumes from there.
func (s *Source) backfill(ctx context.Context, sink Sink) bool {
	for _, t := range Tables {
		for {
			n, err := s.backfillPage(ctx, t, sink)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					s.log.Warn("backfill failed, will retry", "table", t, "err", err)
				}
				return false
			}
			if n < backfillPage {
				break
			}
		}
	}
	return true
}

func (s *Source) backfillPage(ctx context.Context, table string, sink Sink) (int, error) {
	q := fmt.Sprintf(`SELECT id, (extract(epoch FROM inserted_at) * 1000000)::bigint, row_to_json(t)
		FROM %q t WHERE id > $1 ORDER BY id LIMIT %d`, table, backfillPage)
	rows, err := s.db.QueryContext(ctx, q, s.LastID(table))
	if err != nil {
		return 0, fmt.Errorf("backfill %s: %w", table, err)
	}
	defer rows.Close()
	// Read the page fully before delivering so a failed read delivers nothing
	// out of order.
	var page []Event
	for rows.Next() {
		ev := Event{Table: table}
		var row []byte
		if err := rows.Scan(&ev.ID, &ev.TS, &row); err != nil {
			return 0, fmt.Errorf("backfill %s: scan: %w", table, err)
		}
		ev.Row = row
		page = append(page, ev)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("backfill %s: %w", table, err)
	}
	for _, ev := range page {
		s.stats.backfilled.Add(1)
		s.deliver(sink, ev)
	}
	if len(page) > 0 {
		s.log.Info("backfilled rows missed while disconnected", "table", table, "rows", len(page))
	}
	return len(page), nil
}
