package wsapi

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func histogramSnapshot(t *testing.T, h prometheus.Histogram) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}

// The chart's lag for one second is what was observed in that second, not
// since the server started.
func TestLagDeltaCoversOnlyTheNewObservations(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lag", Buckets: []float64{.001, .01, .1, 1}})
	for range 100 {
		h.Observe(0.5) // an old, slow second
	}
	before := histogramSnapshot(t, h)
	for range 99 {
		h.Observe(0.002)
	}
	h.Observe(0.05)
	mean, p99 := lagDelta(before, histogramSnapshot(t, h))
	if mean == nil || p99 == nil {
		t.Fatal("no lag for a second with 100 observations")
	}
	if want := (99*0.002 + 0.05) / 100 * 1000; *mean < want-1e-9 || *mean > want+1e-9 {
		t.Errorf("mean %v ms, want %v", *mean, want)
	}
	if *p99 != 10 {
		t.Errorf("p99 bound %v ms, want 10 (99 of 100 are at most 10 ms)", *p99)
	}

	same := histogramSnapshot(t, h)
	if mean, p99 := lagDelta(same, same); mean != nil || p99 != nil {
		t.Errorf("a second without rows has lag %v/%v, want none", mean, p99)
	}
	h.Observe(30) // above every bound
	if _, p99 := lagDelta(same, histogramSnapshot(t, h)); p99 == nil || *p99 != -1 {
		t.Errorf("p99 above the largest bound = %v, want -1", p99)
	}
}

// The ring keeps the newest historyLen samples, oldest first.
func TestStatusHistoryKeepsTheNewestSamplesInOrder(t *testing.T) {
	h := &statusHistory{samples: make([]statusSample, 3)}
	for i := range 5 {
		h.add(statusSample{UnixMS: int64(i)})
	}
	got := h.snapshot()
	if len(got) != 3 || got[0].UnixMS != 2 || got[2].UnixMS != 4 {
		t.Errorf("snapshot %+v, want samples 2, 3, 4", got)
	}
}
