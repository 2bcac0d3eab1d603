package massconn

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.k6.io/k6/metrics"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

// Names of the metrics this extension adds to k6's builtin ws_* ones.
const (
	openMetric     = "massconn_open"
	failuresMetric = "massconn_failures"
	dropsMetric    = "massconn_drops"
	latencyMetric  = "massconn_latency"
	rttMetric      = "massconn_rtt"
	churnMetric    = "massconn_churn"
	// connectFailedMetric is a Rate with one sample per connection
	// attempt, true when it failed: what http_req_failed is to requests
	// (k6 has no such metric for WebSocket connections).
	connectFailedMetric = "massconn_connect_failed"
)

// metricSet holds the k6 metrics a pool feeds: k6's own WebSocket and data
// metrics where the meaning is the same, and massconn_* for the rest.
type metricSet struct {
	builtin  *metrics.BuiltinMetrics
	open     *metrics.Metric // gauge: connections open in this k6 process
	failures *metrics.Metric // counter, tag reason
	drops    *metrics.Metric // counter, tag code
	latency  *metrics.Metric // trend (time): now - server timestamp
	rtt      *metrics.Metric // trend (time): a program's send to its expect's answer
	churn    *metrics.Metric // counter: sessions that closed themselves (lifetime) to reopen
	// connectFailed is a rate: one sample per connection attempt.
	connectFailed *metrics.Metric
	seq           sequenceMetrics // counters of the sequence check
	sse           sseMetrics      // EventSource pools (sse_metrics.go)
	// eventStream is set on the copy of an EventSource pool: its samples
	// go to the sse metrics instead of ws_*.
	eventStream bool
	// statusTag is k6's systemTags option allowing the status tag.
	statusTag bool
}

// registerMetrics adds the massconn_* metrics to the registry. It runs in
// the init context, so thresholds on them are accepted; registering again
// (one call per VU) returns the same metrics.
func registerMetrics(registry *metrics.Registry) (*metricSet, error) {
	var ms metricSet
	var err error
	if ms.open, err = registry.NewMetric(openMetric, metrics.Gauge); err != nil {
		return nil, fmt.Errorf("registering %s: %w", openMetric, err)
	}
	if ms.failures, err = registry.NewMetric(failuresMetric, metrics.Counter); err != nil {
		return nil, fmt.Errorf("registering %s: %w", failuresMetric, err)
	}
	if ms.drops, err = registry.NewMetric(dropsMetric, metrics.Counter); err != nil {
		return nil, fmt.Errorf("registering %s: %w", dropsMetric, err)
	}
	if ms.latency, err = registry.NewMetric(latencyMetric, metrics.Trend, metrics.Time); err != nil {
		return nil, fmt.Errorf("registering %s: %w", latencyMetric, err)
	}
	if ms.rtt, err = registry.NewMetric(rttMetric, metrics.Trend, metrics.Time); err != nil {
		return nil, fmt.Errorf("registering %s: %w", rttMetric, err)
	}
	if ms.churn, err = registry.NewMetric(churnMetric, metrics.Counter); err != nil {
		return nil, fmt.Errorf("registering %s: %w", churnMetric, err)
	}
	if ms.connectFailed, err = registry.NewMetric(connectFailedMetric, metrics.Rate); err != nil {
		return nil, fmt.Errorf("registering %s: %w", connectFailedMetric, err)
	}
	if ms.seq, err = registerSequenceMetrics(registry); err != nil {
		return nil, err
	}
	if ms.sse, err = registerSSEMetrics(registry); err != nil {
		return nil, err
	}
	return &ms, nil
}

// sampleBuilder collects one flush worth of samples sharing a time and tags.
type sampleBuilder struct {
	now  time.Time
	tags metrics.TagsAndMeta
	out  metrics.Samples
}

func (b *sampleBuilder) add(m *metrics.Metric, tags *metrics.TagSet, v float64) {
	b.out = append(b.out, metrics.Sample{
		TimeSeries: metrics.TimeSeries{Metric: m, Tags: tags},
		Time:       b.now,
		Metadata:   b.tags.Metadata,
		Value:      v,
	})
}

// count adds one sample carrying a whole interval's delta; a counter with
// nothing new adds nothing.
func (b *sampleBuilder) count(m *metrics.Metric, v int64) {
	if v != 0 {
		b.add(m, b.tags.Tags, float64(v))
	}
}

func (b *sampleBuilder) durations(m *metrics.Metric, ds []time.Duration) {
	b.durationsTagged(m, b.tags.Tags, ds)
}

func (b *sampleBuilder) durationsTagged(m *metrics.Metric, tags *metrics.TagSet, ds []time.Duration) {
	for _, d := range ds {
		b.add(m, tags, metrics.D(d))
	}
}

// countTagged is count with tags of its own.
func (b *sampleBuilder) countTagged(m *metrics.Metric, tags *metrics.TagSet, v int64) {
	if v != 0 {
		b.add(m, tags, float64(v))
	}
}

// withStatus adds k6's status tag (when systemTags allow it).
func (ms *metricSet) withStatus(tags *metrics.TagSet, status string) *metrics.TagSet {
	if !ms.statusTag {
		return tags
	}
	return tags.With("status", status)
}

// openedStatus is the HTTP status of a completed handshake: 101 Switching
// Protocols for WebSocket, 200 for an EventSource stream.
func (ms *metricSet) openedStatus() string {
	if ms.eventStream {
		return "200"
	}
	return "101"
}

// failureStatus is the status tag of a failure: the refusal's HTTP status,
// the handshake's own for failures after a completed handshake, and 0
// (as k6's http module says) when no response came.
func (ms *metricSet) failureStatus(reason string) string {
	if code, ok := strings.CutPrefix(reason, "http_"); ok {
		return code
	}
	if afterHandshake(reason) {
		return ms.openedStatus()
	}
	return "0"
}

// afterHandshake tells the failures of a connection whose handshake was
// answered: with 101 (or 200) and then refused at the protocol level, or
// ended by a protocol error or backpressure once open. The first three are
// not failed connection attempts (massconn_connect_failed); compression and
// content_type are: the answer itself was unusable.
func afterHandshake(reason string) bool {
	switch reason {
	case engine.ReasonProtocol, engine.ReasonBackpressure, engine.ReasonRejected,
		engine.ReasonCompression, engine.ReasonContentType:
		return true
	}
	return false
}

// failedAttempt tells the failures that are failed connection attempts.
func failedAttempt(reason string) bool {
	switch reason {
	case engine.ReasonProtocol, engine.ReasonBackpressure, engine.ReasonRejected:
		return false
	}
	return true
}

// connectSamples adds massconn_connect_failed: false for each handshake
// completed, true for each attempt that failed, tagged with its reason
// and status.
func (b *sampleBuilder) connectSamples(ms *metricSet, r engine.Report) {
	opened := ms.withStatus(b.tags.Tags, ms.openedStatus())
	for range r.Opened {
		b.add(ms.connectFailed, opened, 0)
	}
	for reason, n := range r.Failures {
		if !failedAttempt(reason) {
			continue
		}
		tags := ms.withStatus(b.tags.Tags.With("reason", reason), ms.failureStatus(reason))
		for range n {
			b.add(ms.connectFailed, tags, 1)
		}
	}
}

// reportSamples turns one engine Report into k6 samples: one sample per
// counter (its exact delta), one per failure reason and close code, the
// sampled durations as trend values, and the process-wide open gauge.
func reportSamples(ms *metricSet, tags metrics.TagsAndMeta, now time.Time, r engine.Report, open int64) metrics.Samples {
	b := sampleBuilder{now: now, tags: tags}
	bm := ms.builtin
	opened := ms.withStatus(tags.Tags, ms.openedStatus())
	if ms.eventStream {
		b.sseSamples(ms.sse, ms.drops, r, opened)
	} else {
		b.countTagged(bm.WSSessions, opened, r.Opened)
		b.durationsTagged(bm.WSConnecting, opened, r.Connecting)
		b.durations(bm.WSSessionDuration, r.Sessions)
		b.count(bm.WSMessagesReceived, r.Received)
		b.count(bm.WSMessagesSent, r.Sent)
		b.durations(bm.WSPing, withMax(r.Pings, r.PingCount, r.PingMax))
	}
	b.connectSamples(ms, r)
	b.count(bm.DataReceived, r.BytesReceived)
	b.count(bm.DataSent, r.BytesSent)
	b.durations(ms.latency, withMax(r.Latencies, r.LatencyCount, r.LatencyMax))
	b.durations(ms.rtt, withMax(r.RTTs, r.RTTCount, r.RTTMax))
	b.count(ms.churn, r.Churn)
	b.sequence(ms.seq, r.Sequence)
	for reason, n := range r.Failures {
		if n != 0 && reason != engine.ReasonRejected {
			b.add(ms.failures, ms.withStatus(tags.Tags.With("reason", reason), ms.failureStatus(reason)), float64(n))
		}
	}
	// Protocol-level refusals carry the protocol's code as a second tag,
	// e.g. reason=rejected, code=centrifugo_3500.
	rejected := ms.withStatus(tags.Tags.With("reason", engine.ReasonRejected), ms.failureStatus(engine.ReasonRejected))
	for code, n := range r.Rejections {
		if n != 0 {
			b.add(ms.failures, rejected.With("code", code), float64(n))
		}
	}
	for code, n := range r.Drops {
		if n != 0 {
			b.add(ms.drops, tags.Tags.With("code", strconv.Itoa(code)), float64(n))
		}
	}
	b.add(ms.open, tags.Tags, float64(open))
	return b.out
}

// withMax makes the exact maximum one of the sampled values when the sample
// is smaller than the count, so that max(massconn_latency) in thresholds and
// the summary is exact. The value it replaces is a uniformly drawn one, so
// the sample stays as large as sampleLimit allows.
func withMax(sample []time.Duration, count int64, maxValue time.Duration) []time.Duration {
	if maxValue <= 0 || len(sample) == 0 || int64(len(sample)) >= count || slices.Contains(sample, maxValue) {
		return sample
	}
	sample[0] = maxValue
	return sample
}

// zeroSamples makes the failure and drop counters visible in the summary
// (and their thresholds evaluated against a real value) even when nothing
// failed: k6 leaves metrics without samples out of the summary.
func zeroSamples(ms *metricSet, tags metrics.TagsAndMeta, now time.Time) metrics.Samples {
	b := sampleBuilder{now: now, tags: tags}
	b.add(ms.failures, tags.Tags, 0)
	b.add(ms.drops, tags.Tags, 0)
	return b.out
}
