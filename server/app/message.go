package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/metrics"
	"github.com/massconn/massconn/server/pgsource"
	"github.com/massconn/massconn/server/wsapi"
)

// Message is the JSON text message a client gets for each committed row.
// k6 scripts read TS (unix microseconds at insert, from PostgreSQL's
// clock_timestamp()) to measure delivery latency: keep name and unit. Pos
// is opaque to clients: they compare positions as strings and send the
// last one back as ?after=POS to resume.
type Message struct {
	Topic string          `json:"topic"`
	Op    string          `json:"op"`
	ID    int64           `json:"id"`
	Pos   string          `json:"pos"`
	TS    int64           `json:"ts"`
	Row   json.RawMessage `json:"row"`
}

// RowWireLen is the bytes on the wire of the message for one row of table
// (its id, its insert time in unix microseconds and its row_to_json),
// delivered at position id over transport t (hub.Transport.MessageLen: a
// WebSocket frame or an SSE event): for callers that size a benchmark by
// a real row without depending on pgsource.
func RowWireLen(t hub.Transport, table string, id, ts int64, row json.RawMessage) (int, error) {
	payload, err := Encode(pgsource.Event{Table: table, Pos: id, ID: id, TS: ts, Row: row})
	if err != nil {
		return 0, err
	}
	return t.MessageLen(len(payload)), nil
}

// Encode is the message for ev.
func Encode(ev pgsource.Event) ([]byte, error) {
	payload, err := json.Marshal(Message{Topic: ev.Table, Op: "INSERT", ID: ev.ID, Pos: pgsource.FormatPos(ev.Pos), TS: ev.TS, Row: ev.Row})
	if err != nil {
		return nil, fmt.Errorf("encode %s row %d at position %d: %w", ev.Table, ev.ID, ev.Pos, err)
	}
	return payload, nil
}

// publisher is the pgsource.Sink that feeds the hub.
type publisher struct {
	hub     *hub.Hub
	lag     prometheus.Histogram
	errored func(reason string, err error)
	// closeAll closes every client, for a gap the source cannot fill.
	closeAll func(code uint16, reason string)
}

// Deliver waits while the hub is backlogged, so that when the server as a
// whole is behind the rows wait in PostgreSQL rather than in every
// client's queue, then publishes.
func (p *publisher) Deliver(ctx context.Context, ev pgsource.Event) {
	p.hub.WaitReady(ctx)
	payload, err := Encode(ev)
	if err != nil {
		p.errored(metrics.BroadcastErrorEncode, err)
		return
	}
	p.hub.Publish(ev.Table, ev.Pos, payload)
	lag := time.Since(time.UnixMicro(ev.TS)).Seconds()
	p.lag.Observe(max(lag, 0))
}

// Lost closes every client: rows they were owed were pruned from the
// history while the source was disconnected, and they must reload.
func (p *publisher) Lost(after, horizon int64) {
	p.closeAll(wsapi.CloseHistoryPruned, fmt.Sprintf("rows after position %s were pruned before this server read them; reload and reconnect without after", pgsource.FormatPos(after)))
	_ = horizon
}

// broadcastErrorReason names why the hub could not encode a frame (it
// returns gws's errors for the same limits).
func broadcastErrorReason(err error) string {
	switch {
	case errors.Is(err, gws.ErrTextEncoding):
		return metrics.BroadcastErrorInvalidUTF8
	case errors.Is(err, gws.ErrMessageTooLarge):
		return metrics.BroadcastErrorTooLarge
	default:
		return metrics.BroadcastErrorEncode
	}
}
