package fanout

import (
	"fmt"
	"slices"
	"time"
)

// percentile is the nearest-rank percentile (p in 0..100) of sorted:
// the smallest value with at least p% of the values at or below it. With
// 20 samples p99 is the largest, which is what a reader of "p99 of 20
// repetitions" should assume.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// summary is p50, p99 and max of a set of durations.
type summary struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(d []time.Duration) summary {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return summary{}
	}
	return summary{n: len(s), p50: percentile(s, 50), p99: percentile(s, 99), max: s[len(s)-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func (s summary) String() string {
	return fmt.Sprintf("p50 %-9s p99 %-9s max %-9s", ms(s.p50), ms(s.p99), ms(s.max))
}

// kib formats bytes as KiB (the unit of the per-connection goal).
func kib(b float64) string { return fmt.Sprintf("%.2f KB", b/1024) }

// mib formats bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
