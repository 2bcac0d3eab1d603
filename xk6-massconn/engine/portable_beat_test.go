package engine

import (
	"testing"
	"time"
)

// The portable engine's connections opened in the same instant beat spread
// over the period, each once per period: stepping a fake clock through
// one period, no tenth of it holds much more than a tenth of the beats.
func TestPortableBeatsSpreadOverThePeriod(t *testing.T) {
	const n, every = 2000, 30 * time.Second
	opened := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	pt := &portable{conns: map[*portConn]struct{}{}}
	for range n {
		pt.conns[&portConn{nextBeat: firstPortableBeat(opened, every)}] = struct{}{}
	}
	var tenths [10]int
	total := 0
	for at := opened.Add(beatScan); !at.After(opened.Add(every)); at = at.Add(beatScan) {
		due := len(pt.due(at, every))
		tenths[(at.Sub(opened)-1)*10/every] += due
		total += due
	}
	if total != n {
		t.Fatalf("%d beats in one period, want each of the %d connections once (per tenth: %v)", total, n, tenths)
	}
	// Each tenth is binomial(2000, 0.1): mean 200, deviation 13.4.
	for i, c := range tenths {
		if c > 2*n/10*3/2 {
			t.Errorf("tenth %d of the period holds %d of %d beats (per tenth: %v)", i, c, n, tenths)
		}
	}
	// A period later everyone beats again, once.
	if due := len(pt.due(opened.Add(2*every), every)); due != n {
		t.Errorf("the second period's beats: %d, want %d", due, n)
	}
}
