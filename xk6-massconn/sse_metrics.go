package massconn

import (
	"fmt"

	"go.k6.io/k6/metrics"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

// Metrics of EventSource (http:// and https://) pools. The ws_* metrics
// stay WebSocket-only: an SSE pool reports its events as sse_event (the
// name phymbert/xk6-sse uses) and its sessions as massconn_* metrics, all
// tagged transport=sse.
const (
	sseEventMetric       = "sse_event"
	sessionsMetric       = "massconn_sessions"
	connectingMetric     = "massconn_connecting"
	sessionDurationMetic = "massconn_session_duration"
	silenceMetric        = "massconn_silence"
	keepalivesMetric     = "massconn_keepalives"
)

type sseMetrics struct {
	events     *metrics.Metric // counter: events counted as messages
	sessions   *metrics.Metric // counter: streams opened (200 text/event-stream)
	connecting *metrics.Metric // trend (time): TCP connect, TLS and the response head
	duration   *metrics.Metric // trend (time): how long each stream lasted
	silence    *metrics.Metric // trend (time): per ended stream, its longest silence
	keepalives *metrics.Metric // counter: comment lines
}

func registerSSEMetrics(registry *metrics.Registry) (sseMetrics, error) {
	var m sseMetrics
	for _, r := range []struct {
		out   **metrics.Metric
		name  string
		typ   metrics.MetricType
		value []metrics.ValueType
	}{
		{&m.events, sseEventMetric, metrics.Counter, nil},
		{&m.sessions, sessionsMetric, metrics.Counter, nil},
		{&m.connecting, connectingMetric, metrics.Trend, []metrics.ValueType{metrics.Time}},
		{&m.duration, sessionDurationMetic, metrics.Trend, []metrics.ValueType{metrics.Time}},
		{&m.silence, silenceMetric, metrics.Trend, []metrics.ValueType{metrics.Time}},
		{&m.keepalives, keepalivesMetric, metrics.Counter, nil},
	} {
		var err error
		if *r.out, err = registry.NewMetric(r.name, r.typ, r.value...); err != nil {
			return m, fmt.Errorf("registering %s: %w", r.name, err)
		}
	}
	return m, nil
}

// sseSamples is reportSamples' part for an EventSource pool: what the ws_*
// metrics carry for a WebSocket one, and the silences, keep-alives and
// drops by reason.
func (b *sampleBuilder) sseSamples(m sseMetrics, drops *metrics.Metric, r engine.Report, opened *metrics.TagSet) {
	b.countTagged(m.sessions, opened, r.Opened)
	b.durationsTagged(m.connecting, opened, r.Connecting)
	b.durations(m.duration, r.Sessions)
	b.count(m.events, r.Received)
	b.durations(m.silence, withMax(r.SSE.Silences, r.SSE.SilenceCount, r.SSE.SilenceMax))
	b.count(m.keepalives, r.SSE.Comments)
	for reason, n := range r.SSE.Drops {
		if n != 0 {
			b.add(drops, b.tags.Tags.With("reason", reason), float64(n))
		}
	}
}
