package fleet

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

// openSeries is a part's open connections over time, in time order: the
// extension's gauge, or for stock k6 (no gauge) handshakes minus ended
// sessions. readPart computes it once per part.
func openSeries(m *partMetrics) []sample {
	if len(m.open) > 0 {
		open := slices.Clone(m.open)
		sort.SliceStable(open, func(i, j int) bool { return open[i].t.Before(open[j].t) })
		return open
	}
	type ev struct {
		t time.Time
		d float64
	}
	var evs []ev
	for _, s := range m.sessions {
		evs = append(evs, ev{s.t, s.v})
	}
	for _, s := range m.sessionEnds {
		evs = append(evs, ev{s.t, -1})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })
	out := make([]sample, 0, len(evs))
	open := 0.0
	for _, e := range evs {
		open += e.d
		out = append(out, sample{t: e.t, v: open})
	}
	return out
}

func peak(ss []sample) float64 {
	p := 0.0
	for _, s := range ss {
		p = math.Max(p, s.v)
	}
	return p
}

// lastOpen is when the part's connections started closing: the first time
// its open count fell below its peak after reaching it.
func lastOpen(open []sample, fallback time.Time) time.Time {
	pk := peak(open)
	reached := false
	for _, s := range open {
		switch {
		case s.v == pk:
			reached = true
		case reached && s.v < pk:
			return s.t
		}
	}
	return fallback
}

// series buckets the run into seconds.
func series(start, end time.Time, parts []*partInput, clientRSS, serverRSS []RSSRow, lat []wsample) []report.Point {
	n := int(math.Ceil(end.Sub(start).Seconds())) + 1
	if n < 1 || n > 7*24*3600 {
		return nil
	}
	bucket := func(t time.Time) int {
		i := int(t.Sub(start) / time.Second)
		return min(max(i, 0), n-1)
	}
	pts := make([]report.Point, n)
	for i := range pts {
		pts[i].T = float64(i)
	}
	for _, p := range parts {
		vals := carry(p.open, n, bucket)
		for i, v := range vals {
			pts[i].Open += int64(v)
		}
		for _, s := range p.metrics.sessions {
			pts[bucket(s.t)].Opened += int64(s.v)
		}
		for _, s := range p.metrics.received {
			pts[bucket(s.t)].Received += int64(s.v)
		}
	}
	perBucket := make([][]wsample, n)
	for _, s := range lat {
		b := bucket(s.t)
		perBucket[b] = append(perBucket[b], s)
	}
	for i, ws := range perBucket {
		if q := quantiles(ws); q != nil {
			p50, p99 := q.P50, q.P99
			pts[i].LatencyP50, pts[i].LatencyP99 = &p50, &p99
		}
	}
	for i, v := range rssSeries(clientRSS, n, bucket) {
		pts[i].ClientRSSMB = v / 1024
	}
	for i, v := range rssSeries(serverRSS, n, bucket) {
		pts[i].ServerRSSMB = v / 1024
	}
	return pts
}

// carry turns a gauge's samples into one value per bucket: the last value
// seen in or before it.
func carry(ss []sample, n int, bucket func(time.Time) int) []float64 {
	out := make([]float64, n)
	sorted := slices.Clone(ss)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].t.Before(sorted[j].t) })
	have := make([]bool, n)
	for _, s := range sorted {
		b := bucket(s.t)
		out[b], have[b] = s.v, true
	}
	last := 0.0
	for i := range out {
		if have[i] {
			last = out[i]
		} else {
			out[i] = last
		}
	}
	return out
}

// rssSeries sums, per bucket, the last RSS (KiB) of every process alive then.
func rssSeries(rows []RSSRow, n int, bucket func(time.Time) int) []float64 {
	byPID := map[string][]sample{}
	for _, r := range rows {
		key := r.Role + "/" + strconv.Itoa(r.PID)
		byPID[key] = append(byPID[key], sample{t: r.Time, v: float64(r.RSSKB)})
	}
	out := make([]float64, n)
	for _, key := range slices.Sorted(maps.Keys(byPID)) {
		ss := byPID[key]
		first, last := n, -1
		for _, s := range ss {
			first, last = min(first, bucket(s.t)), max(last, bucket(s.t))
		}
		vals := carry(ss, n, bucket)
		for i := first; i <= last; i++ {
			out[i] += vals[i]
		}
	}
	return out
}
