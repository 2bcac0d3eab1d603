package fleet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/floor"
	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/client"
)

// measureFloor measures the machine's floor (internal/floor) before any
// load starts, for a message the size of one delivered row of the insert
// loop's table on the run's transport, with as many socket pairs as the open-file limit allows.
// A floor that cannot be measured is said in the report, not fatal.
func (r *localRun) measureFloor(ctx context.Context) {
	r.floor = &report.Floor{Cores: runtime.NumCPU()}
	if r.cfg.NoFloor {
		r.floor.NotMeasured = "skipped (--floor=false)"
		return
	}
	size, err := r.messageWireSize(ctx)
	if err != nil {
		r.floor.NotMeasured = err.Error()
		r.logf("floor not measured: %v", err)
		return
	}
	start := time.Now()
	res, err := floor.Measure(floor.Options{MessageSize: size})
	took := time.Since(start)
	if err != nil {
		r.floor.NotMeasured = err.Error()
		r.logf("floor not measured: %v", err)
		return
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	f := r.floor
	f.Pairs, f.MessageBytes, f.MeasureSeconds = res.Pairs, res.MessageSize, took.Seconds()
	f.Message = r.transport.messageName()
	f.WriteUS, f.ReadUS, f.ConnectUS, f.UpgradeUS = us(res.Write), us(res.Read), us(res.ConnectAccept), us(res.Upgrade)
	f.WriteConcurrentUS, f.ReadConcurrentUS = us(res.WriteConcurrent), us(res.ReadConcurrent)
	r.logf("floor (measured in %.1fs, --floor=false to skip): %s", took.Seconds(), res)
}

// noteKeepAlive puts the servers' keep-alive period for the run's
// transport, from the first server's /healthz, next to the floor: the
// report reckons what the keep-alive alone takes of the machine.
func (r *localRun) noteKeepAlive(ctx context.Context) {
	if r.floor == nil || len(r.servers) == 0 {
		return
	}
	h, err := client.New(r.servers[0].listen, 0).Health(ctx)
	if err != nil {
		r.logf("keep-alive period not read: %v", err)
		return
	}
	r.floor.KeepAliveEveryS, r.floor.KeepAliveMessages = h.PingIntervalS, 2 // a ping and its pong
	if r.transport == TransportSSE {
		r.floor.KeepAliveEveryS, r.floor.KeepAliveMessages = h.SSEHeartbeatS, 1 // a comment line
	}
	if w := keepAliveWarning(r.floor, r.plan.Total); w != "" {
		r.logf("%s", w)
	}
}

// keepAliveWarning is said before the load, not only in the report, when
// the servers' keep-alive takes keepAliveWarnShare of the machine or more
// at the floor: it leaves little for connecting and delivering, and a run
// that fails for it should not be read as the server's limit. Empty
// otherwise, or without a floor.
func keepAliveWarning(f *report.Floor, total int64) string {
	share := f.KeepAliveShare(total)
	if share < keepAliveWarnShare || f.NotMeasured != "" {
		return ""
	}
	return fmt.Sprintf("warning: at %d connections the servers' keep-alive (every %gs) alone takes %.0f%% of this machine at the floor; "+
		"a longer period (--server-arg=--ping-interval=… or --server-arg=--sse-heartbeat=…; SERVER_ARGS with make bench) leaves the rest for connecting and delivering",
		total, f.KeepAliveEveryS, share)
}

// keepAliveWarnShare is the keep-alive's share of the machine at the floor
// (percent) from which a run warns before the load.
const keepAliveWarnShare = 25

// messageWireSize is the bytes on the wire of one delivered message on the
// run's transport: a row of the insert loop's table, or against a target,
// a published message.
func (r *localRun) messageWireSize(ctx context.Context) (int, error) {
	if r.againstTarget() {
		return r.targetMessageSize()
	}
	return rowWireSize(ctx, r.dbURL, insertTable, r.transport)
}

// rowWireSize is the size of what a server writes on transport t for one
// row of table: the row as PostgreSQL's row_to_json writes it (from an
// insert that is rolled back: no row, no notification, only a sequence
// value spent), in the server's own message encoding, framed as the
// server frames it for t (app.RowWireLen: the WebSocket frame header, or
// the SSE event's id and data lines). Ids and timestamps of the run's rows
// may differ by a digit.
func rowWireSize(ctx context.Context, dbURL, table string, t Transport) (int, error) {
	if table != insertTable {
		return 0, fmt.Errorf("floor: no sample row for table %q", table)
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return 0, fmt.Errorf("floor: sample row: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("floor: sample row: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // the rollback is the point
	// The values the insert loop writes (pgsource's Track insert), mid-range.
	var id, ts int64
	var row string
	err = tx.QueryRowContext(ctx, `INSERT INTO "Track" (name, album_id, composer, milliseconds, bytes)
		SELECT 'Track 1', (SELECT max(id) FROM "Album"), 'massconn', 240000, 6000000
		RETURNING id, (extract(epoch FROM inserted_at) * 1000000)::bigint, row_to_json("Track".*)::text`).Scan(&id, &ts, &row)
	if err != nil {
		return 0, fmt.Errorf("floor: sample row of %s: %w", table, err)
	}
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return 0, fmt.Errorf("floor: roll back the sample row: %w", err)
	}
	size, err := app.RowWireLen(t.hub(), table, id, ts, []byte(row))
	if err != nil {
		return 0, fmt.Errorf("floor: %w", err)
	}
	return size, nil
}
