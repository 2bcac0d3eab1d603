package fleet

import (
	"testing"
	"time"
)

func TestWeightedQuantiles(t *testing.T) {
	t0 := time.Unix(100, 0)
	t1 := time.Unix(101, 0)
	// Flush t0: 1000 deliveries, kept 2 samples (10 ms, 20 ms) -> weight 500
	// each. Flush t1: 2 deliveries, both kept (1000 ms, 2000 ms) -> weight 1.
	// Averaging per-flush percentiles would put p50 near 500 ms; the pooled
	// distribution has p50 and p99 at 20 ms and only its tail above.
	values := []sample{{t: t0, v: 10}, {t: t0, v: 20}, {t: t1, v: 1000}, {t: t1, v: 2000}}
	counts := []sample{{t: t0, v: 1000}, {t: t1, v: 2}}
	q := quantiles(weighted(values, counts))
	if q.Count != 1002 || q.Samples != 4 {
		t.Fatalf("count %d samples %d, want 1002 and 4", q.Count, q.Samples)
	}
	if q.P50 != 20 || q.P99 != 20 || q.Max != 2000 || q.Min != 10 { // cumulative weight: 10 ms 500, 20 ms 1000 of 1002
		t.Fatalf("got %+v, want p50 20 p99 20 max 2000", q)
	}
	// Unsampled (every value kept): exact nearest-rank percentiles.
	var vs []sample
	for i := 1; i <= 100; i++ {
		vs = append(vs, sample{t: time.Unix(int64(i), 0), v: float64(i)})
	}
	q = quantiles(weighted(vs, nil))
	if q.P50 != 50 || q.P95 != 95 || q.P99 != 99 || q.Count != 100 {
		t.Fatalf("1..100: %+v", q)
	}
	if quantiles(nil) != nil {
		t.Fatal("no samples should give no percentiles")
	}
}
