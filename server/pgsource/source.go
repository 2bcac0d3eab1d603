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

// Event is one committed row.
type Event struct {
	// Pos is the row's position: ascending in commit order across all
	// tables of the database, the same on every node, kept across restarts.
	Pos   int64
	Table string
	ID    int64
	// TS is the insert time in unix microseconds, taken inside PostgreSQL
	// (clock_timestamp()).
	TS  int64
	Row json.RawMessage
}

// Sink receives events in position order, each exactly once. Deliver may
// block to pace the source (it runs on the listener's goroutine); Lost is
// told when rows between two positions can no longer be delivered because
// the history was pruned while the source was disconnected.
type Sink interface {
	Deliver(ctx context.Context, ev Event)
	Lost(after, horizon int64)
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
	Duplicates    uint64 // notifications dropped because the row was already delivered from the log
	Backfilled    uint64 // rows delivered by reading the log instead of from a notification
	Reconnects    uint64
	PingFailures  uint64 // listener pings that failed or timed out
}

// Source listens for row notifications and hands them to a Sink.
//
// pg_notify is not durable: notifications sent while the listener is
// disconnected are lost. Every committed row is also in massconn_log under
// a commit-ordered position, so Source remembers the last position
// delivered and, after every reconnect (or a notification that does not
// follow it), reads the log from there before trusting notifications again;
// notifications for positions it already delivered are dropped. That is
// exactly-once, commit-ordered delivery with any number of writers.
type Source struct {
	url    string
	db     *sql.DB
	log    *slog.Logger
	dialer *Dialer
	// pingInterval is how often the listener connection is checked;
	// pingTimeout is how long a ping may take before the connection is
	// declared dead and dropped.
	pingInterval time.Duration
	pingTimeout  time.Duration

	state      atomic.Value // string
	started    atomic.Bool  // listening, and the starting position is known
	lastNotify atomic.Int64 // unix nanoseconds of the last notification
	last       atomic.Int64 // position of the last row delivered
	// inSink is set while the sink holds the listener goroutine (a paced
	// Deliver): notifications then back up in lib/pq and a ping's reply
	// waits behind them, which says nothing about the connection.
	inSink atomic.Bool
	stats  struct{ notifications, duplicates, backfilled, reconnects, pingFailures atomic.Uint64 }

	logMu         sync.Mutex
	lastFailure   string
	lastFailureAt time.Time
}

// New prepares a Source; Run starts it. db is used to read the log.
func New(url string, db *sql.DB, log *slog.Logger) *Source {
	s := &Source{url: url, db: db, log: log, pingInterval: 5 * time.Second, pingTimeout: 5 * time.Second, dialer: NewDialer()}
	s.state.Store(StateStarting)
	return s
}

// State is the listener's connection state; it stays "starting" until Run
// is listening and knows where to start, so "connected" means every row
// committed from now on will be delivered.
func (s *Source) State() string {
	if !s.started.Load() {
		return StateStarting
	}
	return s.state.Load().(string)
}

// Started reports whether Run is listening and every row committed from
// now on will be delivered.
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
		PingFailures:  s.stats.pingFailures.Load(),
	}
}

// LastPos is the position of the last row delivered to the sink.
func (s *Source) LastPos() int64 { return s.last.Load() }

// Run listens until ctx ends. Rows committed before Run connects are not
// delivered (clients read them with ReadLog); every row after that is,
// exactly once, in commit order. Run returns promptly when ctx ends, even
// with notifications queued and a ping waiting on a dead connection.
func (s *Source) Run(ctx context.Context, sink Sink) error {
	l := pq.NewDialListener(s.dialer, s.url, 100*time.Millisecond, 2*time.Second, s.onListenerEvent)
	defer s.closeListener(l)

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

	// Rows already committed when we start are history, not news.
	for {
		pos, err := s.committedHead(ctx)
		if err == nil {
			s.last.Store(pos)
			break
		}
		s.log.Warn("reading the log's last position, will retry", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	s.started.Store(true)

	// After a reconnect, rows must come from the log until it has been
	// read to its end once; notifications alone might skip missed rows.
	needCatchUp := false
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	// A half-open connection is only noticed when used, so ping it. Not from
	// this goroutine: lib/pq reads the ping's reply on the goroutine that
	// hands us notifications, which blocks while l.Notify is full.
	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	go s.pingEvery(pingCtx, l)
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-l.Notify:
			if n == nil {
				// lib/pq sends nil after reconnecting: notifications may
				// have been missed while the connection was down.
				s.stats.reconnects.Add(1)
				needCatchUp = !s.catchUp(ctx, sink)
				continue
			}
			s.lastNotify.Store(time.Now().UnixNano())
			s.stats.notifications.Add(1)
			if needCatchUp {
				needCatchUp = !s.catchUp(ctx, sink)
				continue
			}
			if err := s.handle(ctx, n.Extra, sink); err != nil {
				s.log.Warn("notification", "err", err)
				needCatchUp = true
			}
		case <-retry.C:
			if needCatchUp {
				needCatchUp = !s.catchUp(ctx, sink)
			}
		}
	}
}

// closeListener shuts the listener down without the deadlock lib/pq invites:
// Close waits for the listener's lock, which a Ping holds until its reply
// arrives, which lib/pq reads only after handing out the notifications
// queued before it. So drain those, and drop the connection so that a ping
// waiting on a dead one returns too.
func (s *Source) closeListener(l *pq.Listener) {
	drained := make(chan struct{})
	go func() {
		for range l.Notify { //nolint:revive // draining until lib/pq closes it
		}
		close(drained)
	}()
	s.dialer.Shutdown()
	if err := l.Close(); err != nil && !errors.Is(err, errClosedNet) {
		s.log.Debug("closing listener", "err", err)
	}
	<-drained
}

func (s *Source) pingEvery(ctx context.Context, l *pq.Listener) {
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		done := make(chan error, 1)
		go func() { done <- l.Ping() }()
		select {
		case err := <-done:
			if err != nil {
				s.stats.pingFailures.Add(1)
				s.log.Debug("listener ping", "err", err)
			}
		case <-time.After(s.pingTimeout):
			if s.inSink.Load() {
				// Our own sink is holding notifications up; wait for the
				// reply instead of blaming the connection (TCP_USER_TIMEOUT
				// still ends a dead one).
				select {
				case err := <-done:
					if err != nil {
						s.stats.pingFailures.Add(1)
					}
				case <-ctx.Done():
					return
				}
				continue
			}
			// No answer: a half-open connection, or one PostgreSQL stopped
			// serving. Dropping it makes lib/pq reconnect, and the ping
			// return with an error.
			s.stats.pingFailures.Add(1)
			s.log.Warn("listener ping got no answer, reconnecting", "timeout", s.pingTimeout)
			s.dialer.DropConnections()
			select {
			case err := <-done:
				s.log.Debug("listener ping after dropping the connection", "err", err)
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
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
		s.logConnectFailure(err)
	}
}

// logConnectFailure reports why the listener cannot connect (the
// database's own reason) at warn, once per distinct reason and then every
// 30 s, since lib/pq retries every 2 s.
func (s *Source) logConnectFailure(err error) {
	msg := fmt.Sprint(err)
	s.logMu.Lock()
	repeat := msg == s.lastFailure && time.Since(s.lastFailureAt) < 30*time.Second
	if !repeat {
		s.lastFailure, s.lastFailureAt = msg, time.Now()
	}
	s.logMu.Unlock()
	if repeat {
		s.log.Debug("listener cannot connect", "err", err)
		return
	}
	s.log.Warn("listener cannot connect to the database, retrying", "err", err)
}

// committedHead is the position of the last row visible in the log (or the
// pruned horizon when the log is empty).
func (s *Source) committedHead(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.QueryRowContext(ctx, `SELECT greatest(
		(SELECT coalesce(max(pos), 0) FROM massconn_log),
		(SELECT pruned_through FROM massconn_horizon))`).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("last position in massconn_log: %w", err)
	}
	return pos, nil
}

// SequenceHead is the highest position ever handed out; a client position
// above it did not come from this database.
func (s *Source) SequenceHead(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.QueryRowContext(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM massconn_pos`).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("read massconn_pos: %w", err)
	}
	return pos, nil
}

type notification struct {
	Pos   int64           `json:"pos"`
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
	if n.Pos <= 0 {
		return fmt.Errorf("payload %.80q has no position", payload)
	}
	last := s.last.Load()
	if n.Pos <= last {
		s.stats.duplicates.Add(1)
		return nil
	}
	if n.Pos != last+1 || len(n.Row) == 0 {
		// A position was skipped (a transaction that took it failed to
		// commit) or the row was too large for the notification: the log
		// has everything up to and including n.Pos.
		if !s.catchUp(ctx, sink) {
			return errors.New("reading the log failed")
		}
		return nil
	}
	if !KnownTable(n.Table) {
		s.last.Store(n.Pos)
		return nil
	}
	s.deliver(ctx, sink, Event(n))
	return nil
}

func (s *Source) deliver(ctx context.Context, sink Sink, ev Event) {
	s.last.Store(ev.Pos)
	s.inSink.Store(true)
	sink.Deliver(ctx, ev)
	s.inSink.Store(false)
}

// LogPage is the most rows one ReadLog call returns.
const LogPage = 1000

// ErrPruned is returned by ReadLog when rows after the asked position were
// deleted by history pruning.
var ErrPruned = errors.New("history pruned")

// ReadLog returns up to limit logged rows after position after, of the
// given topics (all if none), in position order. If the history was pruned
// past after it returns ErrPruned, wrapped with the horizon; rows are read
// in the same snapshot as the horizon, so a concurrent prune cannot open a
// gap.
func (s *Source) ReadLog(ctx context.Context, after int64, topics []string, limit int) ([]Event, error) {
	if topics == nil {
		topics = Tables
	}
	rows, err := s.db.QueryContext(ctx, `SELECT h.pruned_through, l.pos, l.topic, l.row_id, l.ts, l.row
		FROM massconn_horizon h LEFT JOIN LATERAL (
			SELECT pos, topic, row_id, ts, row FROM massconn_log
			WHERE pos > $1 AND topic = ANY($2) ORDER BY pos LIMIT $3) l ON true`,
		after, pq.Array(topics), limit)
	if err != nil {
		return nil, fmt.Errorf("read massconn_log after %d: %w", after, err)
	}
	defer rows.Close()
	var page []Event
	for rows.Next() {
		var horizon int64
		var pos, id, ts sql.NullInt64
		var topic sql.NullString
		var row []byte
		if err := rows.Scan(&horizon, &pos, &topic, &id, &ts, &row); err != nil {
			return nil, fmt.Errorf("read massconn_log: scan: %w", err)
		}
		if horizon > after {
			return nil, fmt.Errorf("%w through position %d", ErrPruned, horizon)
		}
		if !pos.Valid {
			continue // no rows: the LEFT JOIN's single empty row
		}
		page = append(page, Event{Pos: pos.Int64, Table: topic.String, ID: id.Int64, TS: ts.Int64, Row: row})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read massconn_log: %w", err)
	}
	return page, nil
}

// catchUp delivers every logged row after the last delivered one, in
// position order. It reports whether it reached the end; on failure what it
// already delivered stays delivered and the next attempt resumes from there.
func (s *Source) catchUp(ctx context.Context, sink Sink) bool {
	total := 0
	for {
		last := s.last.Load()
		page, err := s.ReadLog(ctx, last, nil, LogPage)
		if errors.Is(err, ErrPruned) {
			// Disconnected for longer than the history is kept: the rows in
			// between are gone. Say so, and go on from the oldest kept.
			horizon, herr := s.horizon(ctx)
			if herr != nil {
				s.log.Warn("reading the log failed, will retry", "err", herr)
				return false
			}
			s.log.Error("rows missed while disconnected were pruned from the history; clients are told to resync", "after", last, "pruned_through", horizon)
			sink.Lost(last, horizon)
			s.last.Store(horizon)
			continue
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn("reading the log failed, will retry", "err", err)
			}
			return false
		}
		for _, ev := range page {
			s.stats.backfilled.Add(1)
			s.deliver(ctx, sink, ev) // ReadLog(nil topics) reads only Tables' rows
		}
		total += len(page)
		if len(page) < LogPage {
			if total > 0 {
				s.log.Info("delivered rows from the log", "rows", total, "through", s.last.Load())
			}
			return true
		}
	}
}

func (s *Source) horizon(ctx context.Context) (int64, error) {
	var h int64
	if err := s.db.QueryRowContext(ctx, `SELECT pruned_through FROM massconn_horizon`).Scan(&h); err != nil {
		return 0, fmt.Errorf("read massconn_horizon: %w", err)
	}
	return h, nil
}

// PruneHistory deletes logged rows older than keep and returns the new
// horizon (the highest position deleted so far). A resume from below the
// horizon is refused.
func (s *Source) PruneHistory(ctx context.Context, keep time.Duration) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune history: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	var horizon int64
	err = tx.QueryRowContext(ctx, `UPDATE massconn_horizon SET pruned_through = greatest(pruned_through,
			(SELECT coalesce(max(pos), 0) FROM massconn_log WHERE logged_at < clock_timestamp() - $1 * interval '1 microsecond'))
		RETURNING pruned_through`, keep.Microseconds()).Scan(&horizon)
	if err != nil {
		return 0, fmt.Errorf("prune history: horizon: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM massconn_log WHERE pos <= $1`, horizon); err != nil {
		return 0, fmt.Errorf("prune history: delete: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune history: commit: %w", err)
	}
	return horizon, nil
}
