package massconn

import (
	"fmt"
	"slices"
	"strconv"
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
	seq      sequenceMetrics // counters of the sequence check
	sse      sseMetrics      // EventSource pools (sse_metrics.go)
	// eventStream is set on the copy of an EventSource pool: its samples
	// go to the sse metrics instead of ws_*.
	eventStream bool
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
	for _, d := range ds {
		b.add(m, b.tags.Tags, metrics.D(d))
	}
}

// reportSamples turns one engine Report into k6 samples: one sample per
// counter (its exact delta), one per failure reason and close code, the
// sampled durations as trend values, and the process-wide open gauge.
func reportSamples(ms *metricSet, tags metrics.TagsAndMeta, now time.Time, r engine.Report, open int64) metrics.Samples {
	b := sampleBuilder{now: now, tags: tags}
	bm := ms.builtin
	if ms.eventStream {
		b.sseSamples(ms.sse, ms.drops, r)
	} else {
		b.count(bm.WSSessions, r.Opened)
		b.durations(bm.WSConnecting, r.Connecting)
		b.durations(bm.WSSessionDuration, r.Sessions)
		b.count(bm.WSMessagesReceived, r.Received)
		b.count(bm.WSMessagesSent, r.Sent)
	}
	b.count(bm.DataReceived, r.BytesReceived)
	b.count(bm.DataSent, r.BytesSent)
	b.durations(ms.latency, withMax(r.Latencies, r.LatencyCount, r.LatencyMax))
	b.durations(ms.rtt, withMax(r.RTTs, r.RTTCount, r.RTTMax))
	b.count(ms.churn, r.Churn)
	b.sequence(ms.seq, r.Sequence)
	for reason, n := range r.Failures {
		if n != 0 && reason != engine.ReasonRejected {
			b.add(ms.failures, tags.Tags.With("reason", reason), float64(n))
		}
	}
	// Protocol-level refusals carry the protocol's code as a second tag,
	// e.g. reason=rejected, code=centrifugo_3500.
	rejected := tags.Tags.With("reason", engine.ReasonRejected)
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
