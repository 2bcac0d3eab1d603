package engine

import (
	"testing"
	"time"
)

// The bucket is driven by the clock values it is given: no real time.
func TestPacerTokenBucket(t *testing.T) {
	const sec = int64(time.Second)
	pc := newPacer(100, 10, 0)
	if got := pc.take(50, 0); got != 10 {
		t.Fatalf("first take = %d, want the burst of 10", got)
	}
	if got := pc.take(5, 0); got != 0 {
		t.Fatalf("empty bucket gave %d", got)
	}
	if w := pc.wait(0); w != 10*time.Millisecond {
		t.Fatalf("wait = %v, want 10ms at 100/s", w)
	}
	if got := pc.take(50, sec/20); got != 5 {
		t.Fatalf("after 50ms at 100/s took %d, want 5", got)
	}
	if got := pc.take(50, 10*sec); got != 10 {
		t.Fatalf("after a long pause took %d, want the burst cap of 10", got)
	}
	pc.giveBack(3)
	if got := pc.take(50, 10*sec); got != 3 {
		t.Fatalf("after giving back 3 took %d", got)
	}
	unlimited := newPacer(0, 1, 0)
	if got := unlimited.take(1000, 0); got != 1000 {
		t.Fatalf("rate 0 took %d of 1000", got)
	}
}

func TestReconnectBackoffDoublesToACap(t *testing.T) {
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for i, w := range want {
		if got := reconnectBackoff(uint8(i)); got != w*time.Millisecond {
			t.Errorf("backoff after %d retries = %v, want %v", i, got, w*time.Millisecond)
		}
	}
}

// TestPacerServesTheRateToScans: reconnects take tokens once per scan of
// the loops; over a second of scans they must get the rate, not the
// burst times the scans.
func TestPacerServesTheRateToScans(t *testing.T) {
	const rate = 3000
	pc := newPacer(rate, paceBurst(rate, 1000), 0)
	granted := 0
	now := int64(0)
	for range 10 {
		now += int64(scanPeriod)
		granted += pc.take(1_000_000, now)
	}
	// 1 s of tokens plus the initial burst.
	if granted < rate*9/10 || granted > rate+rate/10 {
		t.Fatalf("granted %d in 1 s of scans at rate %d", granted, rate)
	}
}
