package wsapi

import (
	"encoding/json"
	"math"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The status page's chart: the server keeps the last historyLen seconds of
// one-second samples, so a page opened in the middle of a test still shows
// how it got there (the page itself only knows what it saw while open).
const (
	historyEvery = time.Second
	historyLen   = 600
)

// statusSample is one second on the status page's chart.
type statusSample struct {
	UnixMS      int64   `json:"t"`
	Connections int64   `json:"connections"`
	SentPerSec  float64 `json:"messages_per_second"`
	// Insert-to-send lag of the rows delivered in this second, from the
	// Lag histogram's increase: the mean, and the bucket bound holding 99%
	// (-1: above the largest bound). Null when no row was delivered.
	LagMeanMS *float64 `json:"lag_mean_ms"`
	LagP99MS  *float64 `json:"lag_p99_ms_at_most"`
}

type statusHistory struct {
	mu      sync.Mutex
	samples []statusSample // ring, oldest at next once full
	next    int
	full    bool

	prevAt   time.Time
	prevSent uint64
	prevLag  *dto.Histogram

	done chan struct{} // closed when the sampling goroutine has ended
}

// startHistory samples a every historyEvery until a's context ends (it
// starts shutting down, or is closed).
func startHistory(a *API) *statusHistory {
	h := &statusHistory{samples: make([]statusSample, historyLen), done: make(chan struct{})}
	h.sample(a, time.Now())
	go func() {
		defer close(h.done)
		tick := time.NewTicker(historyEvery)
		defer tick.Stop()
		for {
			select {
			case <-a.ctx.Done():
				return
			case now := <-tick.C:
				h.sample(a, now)
			}
		}
	}()
	return h
}

func (h *statusHistory) sample(a *API, now time.Time) {
	st := a.hub.Stats()
	var m dto.Metric
	if a.metrics != nil && a.metrics.Lag != nil {
		_ = a.metrics.Lag.Write(&m)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	first := h.prevAt.IsZero()
	s := statusSample{UnixMS: now.UnixMilli(), Connections: st.Subscribers}
	if !first {
		if dt := now.Sub(h.prevAt).Seconds(); dt > 0 && st.Messages >= h.prevSent {
			s.SentPerSec = float64(st.Messages-h.prevSent) / dt
		}
		s.LagMeanMS, s.LagP99MS = lagDelta(h.prevLag, m.GetHistogram())
	}
	h.prevAt, h.prevSent, h.prevLag = now, st.Messages, m.GetHistogram()
	if first {
		return // a rate needs two readings
	}
	h.add(s)
}

// add appends s, overwriting the oldest sample once the ring is full.
// Callers hold h.mu.
func (h *statusHistory) add(s statusSample) {
	h.samples[h.next] = s
	h.next = (h.next + 1) % len(h.samples)
	h.full = h.full || h.next == 0
}

// lagDelta is the mean and p99 bound of the observations between two
// snapshots of the cumulative Lag histogram.
func lagDelta(prev, cur *dto.Histogram) (mean, p99 *float64) {
	if cur == nil {
		return nil, nil
	}
	count := cur.GetSampleCount() - prev.GetSampleCount()
	if count == 0 || cur.GetSampleCount() < prev.GetSampleCount() {
		return nil, nil
	}
	m := (cur.GetSampleSum() - prev.GetSampleSum()) / float64(count) * 1000
	mean = &m
	want := uint64(math.Ceil(float64(count) * 0.99))
	bound := -1.0
	prevBuckets := prev.GetBucket()
	for i, b := range cur.GetBucket() {
		n := b.GetCumulativeCount()
		if i < len(prevBuckets) {
			n -= prevBuckets[i].GetCumulativeCount()
		}
		if n >= want {
			bound = b.GetUpperBound() * 1000
			break
		}
	}
	return mean, &bound
}

// snapshot is the samples, oldest first.
func (h *statusHistory) snapshot() []statusSample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]statusSample(nil), h.samples[:h.next]...)
	}
	out := make([]statusSample, 0, len(h.samples))
	out = append(out, h.samples[h.next:]...)
	return append(out, h.samples[:h.next]...)
}

// serve answers GET /status/history with the samples, oldest first.
func (h *statusHistory) serve(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		EverySeconds float64        `json:"every_seconds"`
		Samples      []statusSample `json:"samples"`
	}{historyEvery.Seconds(), h.snapshot()})
}
