package fleet

import (
	"math"
	"slices"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

// wsample is a value with the count it stands for.
type wsample struct {
	t    time.Time // when its flush happened
	v, w float64
}

// weighted pairs each trend sample with the count it represents: samples
// of one flush share its timestamp with the flush's exact counter delta.
func weighted(values, counts []sample) []wsample {
	countAt := map[time.Time]float64{}
	for _, c := range counts {
		countAt[c.t] += c.v
	}
	kept := map[time.Time]float64{}
	for _, s := range values {
		kept[s.t]++
	}
	out := make([]wsample, len(values))
	for i, s := range values {
		w := 1.0
		if c := countAt[s.t]; c > kept[s.t] {
			w = c / kept[s.t]
		}
		out[i] = wsample{t: s.t, v: s.v, w: w}
	}
	return out
}

// quantiles summarises a weighted sample: the p-quantile is the smallest
// value whose cumulative weight reaches p of the total.
func quantiles(ws []wsample) *report.Percentiles {
	if len(ws) == 0 {
		return nil
	}
	sorted := slices.Clone(ws)
	slices.SortFunc(sorted, func(a, b wsample) int { return cmpFloat(a.v, b.v) })
	total := 0.0
	for _, s := range sorted {
		total += s.w
	}
	q := func(p float64) float64 {
		target := p * total
		acc := 0.0
		for _, s := range sorted {
			acc += s.w
			if acc >= target-1e-9 {
				return s.v
			}
		}
		return sorted[len(sorted)-1].v
	}
	return &report.Percentiles{
		Count:   int64(math.Round(total)),
		Samples: len(sorted),
		Min:     sorted[0].v,
		P50:     q(0.50),
		P95:     q(0.95),
		P99:     q(0.99),
		Max:     sorted[len(sorted)-1].v,
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sum(ss []sample) float64 {
	t := 0.0
	for _, s := range ss {
		t += s.v
	}
	return t
}

func byTag(ss []sample, into map[string]int64) {
	for _, s := range ss {
		if s.tag != "" && s.v != 0 {
			into[s.tag] += int64(s.v)
		}
	}
}
