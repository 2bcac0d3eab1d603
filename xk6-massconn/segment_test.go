package massconn

import (
	"slices"
	"testing"
	"time"

	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

// The processes of one fleet must split a total exactly, and number their
// connections in adjacent, non-overlapping ranges.
func TestSegmentsTileTheTotal(t *testing.T) {
	for _, seqText := range []string{"0,1", "0,1/2,1", "0,1/3,2/3,1", "0,1/10,3/10,1/2,1", "0,0.125,0.5,0.625,1"} {
		seq, err := lib.NewExecutionSegmentSequenceFromString(seqText)
		if err != nil {
			t.Fatal(err)
		}
		for total := int64(0); total <= 200; total++ {
			next := int64(0)
			for _, seg := range seq {
				if start := segmentStart(seg, total); start != next {
					t.Fatalf("sequence %s, total %d: segment %s starts at %d, want %d", seqText, total, seg, start, next)
				}
				next += seg.Scale(total)
			}
			if next != total {
				t.Fatalf("sequence %s: shares add up to %d, want %d", seqText, next, total)
			}
		}
	}
}

func TestConnOffsetsDoNotOverlap(t *testing.T) {
	seg, err := lib.NewExecutionSegmentFromString("1/2:1")
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	r.shareTotal.Store(1000)
	if got := r.connOffset(seg, 300); got != 500 {
		t.Errorf("first pool of the second half starts at %d, want 500", got)
	}
	if got := r.connOffset(seg, 200); got != 800 {
		t.Errorf("second pool starts at %d, want 800", got)
	}
	if got := New().connOffset(nil, 10); got != 0 {
		t.Errorf("a whole test starts at %d, want 0", got)
	}
}

// However many messages arrive, a flush is one sample per counter: this is
// what keeps k6's pipeline out of the hot path.
func TestReportSamplesAggregates(t *testing.T) {
	registry := metrics.NewRegistry()
	ms, err := registerMetrics(registry)
	if err != nil {
		t.Fatal(err)
	}
	ms.builtin = metrics.RegisterBuiltinMetrics(registry)
	ms.statusTag = true
	tags := metrics.TagsAndMeta{Tags: registry.RootTagSet().With("scenario", "hold")}
	r := engine.Report{
		Opened:        18000,
		Connecting:    []time.Duration{time.Millisecond, 2 * time.Millisecond},
		Failures:      map[string]int64{engine.ReasonRefused: 3, "http_503": 2},
		Drops:         map[int]int64{1006: 4},
		Received:      1_000_000,
		Sent:          10,
		BytesReceived: 40_000_000,
		BytesSent:     200,
		LatencyCount:  1_000_000,
		Latencies:     []time.Duration{3 * time.Millisecond},
	}
	samples := reportSamples(ms, tags, time.Now(), r, 17993)

	type key struct{ metric, tag string }
	got := map[key]float64{}
	count := map[string]int{}
	status := map[key]string{}
	for _, s := range samples {
		tag := ""
		if v, ok := s.Tags.Get("reason"); ok {
			tag = v
		}
		if v, ok := s.Tags.Get("code"); ok {
			tag = v
		}
		got[key{s.Metric.Name, tag}] += s.Value
		count[s.Metric.Name]++
		status[key{s.Metric.Name, tag}], _ = s.Tags.Get("status")
	}
	want := map[key]float64{
		{"ws_sessions", ""}:               18000,
		{"ws_msgs_received", ""}:          1_000_000,
		{"ws_msgs_sent", ""}:              10,
		{"data_received", ""}:             40_000_000,
		{"data_sent", ""}:                 200,
		{"massconn_failures", "refused"}:  3,
		{"massconn_failures", "http_503"}: 2,
		{"massconn_drops", "1006"}:        4,
		{"massconn_open", ""}:             17993,
		{"ws_connecting", ""}:             3, // 1 ms + 2 ms
		{"massconn_latency", ""}:          3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s{%s}: got %v, want %v", k.metric, k.tag, got[k], v)
		}
	}
	if count["ws_msgs_received"] != 1 {
		t.Errorf("a million messages became %d samples, want 1", count["ws_msgs_received"])
	}
	// massconn_connect_failed is a Rate: k6 counts a rate's samples, so it
	// takes one per attempt (18,000 opened, 5 failed); every other metric
	// one per counter.
	if count["massconn_connect_failed"] != 18005 || got[key{"massconn_connect_failed", ""}] != 0 ||
		got[key{"massconn_connect_failed", "refused"}] != 3 || got[key{"massconn_connect_failed", "http_503"}] != 2 {
		t.Errorf("massconn_connect_failed: %d samples, sums %v", count["massconn_connect_failed"], got)
	}
	if n := len(samples) - count["massconn_connect_failed"]; n != 12 {
		t.Errorf("got %d samples besides massconn_connect_failed, want 12", n)
	}
	for k, want := range map[key]string{
		{"ws_connecting", ""}:                   "101",
		{"ws_sessions", ""}:                     "101",
		{"massconn_failures", "http_503"}:       "503",
		{"massconn_failures", "refused"}:        "0",
		{"massconn_connect_failed", ""}:         "101",
		{"massconn_connect_failed", "http_503"}: "503",
	} {
		if status[k] != want {
			t.Errorf("%s{%s} status tag %q, want %q", k.metric, k.tag, status[k], want)
		}
	}
}

func TestWithMaxKeepsTheExactMaximum(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		sample []time.Duration
		count  int64
		max    time.Duration
		want   []time.Duration
	}{
		{"every value kept", []time.Duration{ms, 2 * ms}, 2, 2 * ms, []time.Duration{ms, 2 * ms}},
		{"sampled, max missing", []time.Duration{ms, 2 * ms}, 1000, 9 * ms, []time.Duration{9 * ms, 2 * ms}},
		{"sampled, max present", []time.Duration{ms, 9 * ms}, 1000, 9 * ms, []time.Duration{ms, 9 * ms}},
		{"no maximum known", []time.Duration{ms}, 1000, 0, []time.Duration{ms}},
		{"empty", nil, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withMax(slices.Clone(tt.sample), tt.count, tt.max)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
