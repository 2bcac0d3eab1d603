package engine

import (
	"testing"
	"time"
)

// TestReopenBucketServesRatePerScan: reopens are granted once per scan of
// each loop, so over one second of scans the bucket grants the rate, not
// its burst times the scans.
func TestReopenBucketServesRatePerScan(t *testing.T) {
	var b reopenBucket
	b.init(3000, 1000)
	granted := 0
	now := int64(1)
	for scan := 0; scan < 10; scan++ {
		now += int64(scanPeriod)
		for b.take(now) {
			granted++
		}
	}
	// 10 scans = 1 s of tokens, plus the initial burst.
	if granted < 2900 || granted > 3000+300 {
		t.Fatalf("granted %d reopens in 1 s of scans at rate 3000", granted)
	}
	var unlimited reopenBucket
	unlimited.init(0, 1000)
	for range 10000 {
		if !unlimited.take(int64(time.Second)) {
			t.Fatal("rate 0 must not limit")
		}
	}
}
