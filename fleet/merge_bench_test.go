package fleet

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkMergeQuantiles is the latency summary of a merge: weighted pairs
// each part's latency trend samples with its received-counter deltas per
// flush, quantiles sorts them and reads min/p50/p95/p99/max. It benchmarks
// the two package-level functions (weighted, quantiles) that build and
// series call, on k6's shape: one flush a second, a few hundred samples
// per flush (k6 keeps a sample of each flush's values), across a fleet.
func BenchmarkMergeQuantiles(b *testing.B) {
	for _, n := range []int{10_000, 200_000} {
		values, counts := latencySamples(n, 500)
		b.Run(fmt.Sprintf("samples=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				q := quantiles(weighted(values, counts))
				if q == nil || q.Samples != n {
					b.Fatalf("summary %+v of %d samples", q, n)
				}
			}
		})
	}
}

// latencySamples makes n latency samples in flushes of perFlush, each flush
// standing for four times as many messages as it kept.
func latencySamples(n, perFlush int) (values, counts []sample) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := start.Add(time.Duration(i/perFlush) * time.Second)
		values = append(values, sample{t: at, v: rng.ExpFloat64() * 5})
		if i%perFlush == 0 {
			counts = append(counts, sample{t: at, v: float64(4 * perFlush)})
		}
	}
	return values, counts
}
