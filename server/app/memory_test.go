package app

import "testing"

func TestBurstMemoryRaisesGCDuringABurstAndReleasesAfter(t *testing.T) {
	var m burstMemory
	quietTicks := int(releaseQuiet / memoryTick)
	step := func(n int64) memoryAction { return m.tick(n) }

	if act := step(burstPerTick); !act.raiseGC {
		t.Fatalf("a tick with %d new connections did not raise GOGC: %+v", burstPerTick, act)
	}
	for n := int64(2 * burstPerTick); n <= 20*burstPerTick; n += burstPerTick {
		if act := step(n); act != (memoryAction{}) {
			t.Fatalf("count %d mid-burst: %+v, want nothing (GOGC raised once)", n, act)
		}
	}
	for i := 1; i < quietTicks; i++ {
		if act := step(20 * burstPerTick); act != (memoryAction{}) {
			t.Fatalf("quiet tick %d of %d: %+v, want nothing yet", i, quietTicks, act)
		}
	}
	if act := step(20 * burstPerTick); !act.restoreGC || !act.release {
		t.Fatalf("after %v quiet: %+v, want GOGC restored and memory released", releaseQuiet, act)
	}
	for range 3 * quietTicks {
		if act := step(20 * burstPerTick); act != (memoryAction{}) {
			t.Fatalf("steady count: %+v, want nothing (one release per burst)", act)
		}
	}
}

func TestBurstMemoryIgnoresSlowAndSmallChanges(t *testing.T) {
	var m burstMemory
	quietTicks := int(releaseQuiet / memoryTick)
	// A connection now and then: never a burst, and less than
	// releaseAfterBurst in all, so no forced GC.
	for n := int64(1); n < releaseAfterBurst; n += 10 {
		if act := m.tick(n); act != (memoryAction{}) {
			t.Fatalf("count %d: %+v, want nothing", n, act)
		}
		for range quietTicks {
			if act := m.tick(n); act != (memoryAction{}) {
				t.Fatalf("count %d, quiet: %+v, want nothing", n, act)
			}
		}
	}
	// A mass disconnect is a burst too.
	if act := m.tick(0); !act.raiseGC {
		t.Fatalf("a drop of %d connections in a tick did not raise GOGC", releaseAfterBurst)
	}
}
