// Package metrics registers the server's Prometheus metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/pgsource"
)

// Rejection reasons, the values of the `reason` label.
const (
	RejectNotWebSocket = "not_websocket"
	RejectUnknownTopic = "unknown_topic"
	RejectMaxConns     = "max_conns"
	RejectHandshake    = "bad_handshake"
	RejectShutdown     = "shutting_down"
	RejectBadAfter     = "bad_after"
	RejectOrigin       = "forbidden_origin"
	RejectUnauthorized = "unauthorized"
	RejectMethod       = "method_not_allowed"
)

// Broadcast error reasons, the values of the `reason` label of
// massconn_broadcast_errors_total.
const (
	BroadcastErrorEncode      = "encode"
	BroadcastErrorInvalidUTF8 = "invalid_utf8"
	BroadcastErrorTooLarge    = "too_large"
)

// Resume results, the values of the `result` label of massconn_resumes_total.
const (
	ResumeOK     = "ok"
	ResumePruned = "pruned"
	ResumeAhead  = "ahead"
)

// Metrics are the instruments code updates directly; totals kept elsewhere
// (hub, source) are read at scrape time.
type Metrics struct {
	Registry *prometheus.Registry
	// Accepted counts connections of every transport; TransportAccepted
	// splits them by the transport label ("ws", "sse").
	Accepted          prometheus.Counter
	TransportAccepted *prometheus.CounterVec
	// Rejected counts refusals by transport and reason: count one with
	// Reject.
	Rejected *prometheus.CounterVec
	// Lag is insert (ts from PostgreSQL) to the moment the message was
	// queued to every subscriber.
	Lag prometheus.Histogram
	// BroadcastErrors counts rows that could not be sent, by reason.
	BroadcastErrors *prometheus.CounterVec
	// AcceptErrors counts failed accept(2) calls (e.g. out of file
	// descriptors).
	AcceptErrors prometheus.Counter
	// Resumes counts ?after= connections by result.
	Resumes *prometheus.CounterVec
	// Parked is massconn_connections_parked, once RegisterParked ran.
	Parked prometheus.GaugeFunc
}

// New registers everything on a fresh registry.
func New(h *hub.Hub, src *pgsource.Source) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "massconn_connections_accepted_total",
			Help: "Connections accepted: WebSocket upgrades and SSE streams started (by transport: massconn_transport_connections_accepted_total).",
		}),
		TransportAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "massconn_transport_connections_accepted_total",
			Help: "Connections accepted, by transport (ws, sse).",
		}, []string{"transport"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "massconn_connections_rejected_total",
			Help: "Requests to /ws or /sse refused before the upgrade or the stream started, by transport (ws, sse) and reason.",
		}, []string{"transport", "reason"}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "massconn_insert_to_send_seconds",
			Help:    "From the row's insert inside PostgreSQL to its message being queued to every subscriber.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10},
		}),
	}
	m.BroadcastErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "massconn_broadcast_errors_total",
		Help: "Rows that could not be sent to clients, by reason (encode, invalid_utf8, too_large).",
	}, []string{"reason"})
	for _, r := range []string{BroadcastErrorEncode, BroadcastErrorInvalidUTF8, BroadcastErrorTooLarge} {
		m.BroadcastErrors.WithLabelValues(r)
	}
	m.AcceptErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "massconn_accept_errors_total",
		Help: "Failed accepts of TCP connections (e.g. out of file descriptors: lower --max-conns or raise ulimit -n).",
	})
	m.Resumes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "massconn_resumes_total",
		Help: "Connections with ?after=POS, by result: ok, pruned (closed 4410: history gone), ahead (closed 4410: position not from this database).",
	}, []string{"result"})
	for _, r := range []string{ResumeOK, ResumePruned, ResumeAhead} {
		m.Resumes.WithLabelValues(r)
	}
	reg.MustRegister(m.BroadcastErrors, m.AcceptErrors, m.Resumes)
	for _, t := range hub.Transports {
		// Every series from the start, 0 until counted, as the other
		// per-transport metrics: a rate over a series that appears at its
		// first refusal misses that refusal.
		for _, r := range []string{RejectNotWebSocket, RejectUnknownTopic, RejectMaxConns, RejectHandshake, RejectShutdown, RejectBadAfter, RejectOrigin, RejectUnauthorized, RejectMethod} {
			m.Rejected.WithLabelValues(t.String(), r)
		}
	}
	for _, t := range hub.Transports {
		labels := prometheus.Labels{"transport": t.String()}
		m.TransportAccepted.WithLabelValues(t.String())
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "massconn_transport_connections",
				Help:        "Open connections, by transport (ws, sse); massconn_connections is their sum.",
				ConstLabels: labels,
			}, func() float64 { return float64(h.StatsOf(t).Subscribers) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "massconn_transport_messages_sent_total",
				Help:        "Data messages queued to clients, by transport (ws, sse); massconn_messages_sent_total is their sum.",
				ConstLabels: labels,
			}, func() float64 { return float64(h.StatsOf(t).Messages) }),
		)
	}
	reg.MustRegister(m.TransportAccepted)
	reg.MustRegister(m.Accepted, m.Rejected, m.Lag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "massconn_connections",
			Help: "Open connections, WebSocket and SSE (by transport: massconn_transport_connections).",
		}, func() float64 { return float64(h.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "massconn_messages_sent_total",
			Help: "Data messages queued to clients, WebSocket and SSE.",
		}, func() float64 { return float64(h.Stats().Messages) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "massconn_slow_client_drops_total",
			Help: "Clients closed (1008) because their socket refused more and their oldest unsent message waited longer than --slow-after.",
		}, func() float64 { return float64(h.Stats().SlowDrops) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "massconn_ping_timeouts_total",
			Help: "Clients dropped because they stopped answering pings.",
		}, func() float64 { return float64(h.Stats().PingTimeouts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "massconn_notifications_total",
			Help: "Row notifications received from PostgreSQL.",
		}, func() float64 { return float64(src.Stats().Notifications) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "massconn_notifications_duplicate_total",
			Help: "Notifications dropped because their row had already been delivered from the log.",
		}, func() float64 { return float64(src.Stats().Duplicates) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "massconn_rows_backfilled_total",
			Help: "Rows delivered by reading massconn_log instead of from a notification (after a listener reconnect, a skipped position or a row too large to notify).",
		}, func() float64 { return float64(src.Stats().Backfilled) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "massconn_send_backlog",
			Help: "Messages queued to clients and not yet written.",
		}, func() float64 { return float64(h.Stats().Backlog) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "massconn_listener_ping_failures_total",
			Help: "Pings of the PostgreSQL listener connection that failed or got no answer in time (the connection is then dropped and re-made).",
		}, func() float64 { return float64(src.Stats().PingFailures) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "massconn_listener_connected",
			Help: "1 while the PostgreSQL listener is connected.",
		}, func() float64 {
			if src.State() == pgsource.StateConnected {
				return 1
			}
			return 0
		}),
	)
	return m
}

// Reject counts a request refused on transport t for reason (one of the
// Reject constants).
func (m *Metrics) Reject(t hub.Transport, reason string) {
	m.Rejected.WithLabelValues(t.String(), reason).Inc()
}

// RegisterParked adds massconn_connections_parked, read from count: the
// connections served without a read goroutine (server/wsapi/park.go).
func (m *Metrics) RegisterParked(count func() int) {
	m.Parked = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "massconn_connections_parked",
		Help: "Open connections read by the server's one poller instead of a goroutine each: WebSocket clients that have sent nothing but pongs so far, and SSE streams.",
	}, func() float64 { return float64(count()) })
	m.Registry.MustRegister(m.Parked)
}
