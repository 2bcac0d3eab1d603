package app

import (
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/pgsource"
)

// Message is the JSON text message a client gets for each inserted row.
// k6 scripts read TS (unix microseconds at insert, from PostgreSQL's
// clock_timestamp()) to measure delivery latency: keep name and unit.
type Message struct {
	Topic string          `json:"topic"`
	Op    string          `json:"op"`
	ID    int64           `json:"id"`
	TS    int64           `json:"ts"`
	Row   json.RawMessage `json:"row"`
}

// publisher is the pgsource.Sink that feeds the hub.
type publisher struct {
	hub *hub.Hub
	lag prometheus.Histogram
}

func (p *publisher) Deliver(ev pgsource.Event) {
	payload, err := json.Marshal(Message{Topic: ev.Table, Op: "INSERT", ID: ev.ID, TS: ev.TS, Row: ev.Row})
	if err != nil {
		// Row came from row_to_json; failing here means corrupt input.
		return
	}
	p.hub.Publish(ev.Table, payload)
	lag := time.Since(time.UnixMicro(ev.TS)).Seconds()
	p.lag.Observe(max(lag, 0))
}
