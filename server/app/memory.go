package app

import (
	"context"
	"os"
	"runtime/debug"
	"time"
)

// Memory around bursts of connects and disconnects.
//
// A burst of accepts makes garbage (each request's headers, the upgrade)
// while the live heap grows by every new connection, and each GC cycle
// scans every connection's goroutine stack, so the GC takes a large share
// of the CPU per accepted connection. While the connection count moves
// fast, GOGC is raised (fewer cycles; the heap may grow further for the
// length of the burst). Once the count has stood
// still for releaseQuiet, GOGC is restored and the memory the burst left
// behind (its garbage, free pages the runtime returns to the OS only
// slowly) is returned at once: one forced GC per burst, none while the
// count is steady. A GOGC set in the environment is left alone.
const (
	memoryTick        = 100 * time.Millisecond
	burstPerTick      = 100 // connections joined or left in one tick: a burst (1,000/s)
	burstGCPercent    = 400
	releaseAfterBurst = 1000 // smaller changes of the count are not worth a forced GC
	releaseQuiet      = 2 * time.Second
)

// burstMemory decides, one tick at a time, from the connection count.
type burstMemory struct {
	released int64 // the count at the last release
	last     int64
	still    time.Duration // how long the count has not moved
	raised   bool          // GOGC is raised for a burst
}

// memoryAction is what one tick asks for.
type memoryAction struct {
	raiseGC, restoreGC, release bool
}

func (m *burstMemory) tick(n int64) memoryAction {
	var act memoryAction
	if n != m.last {
		if !m.raised && max(n-m.last, m.last-n) >= burstPerTick {
			m.raised, act.raiseGC = true, true
		}
		m.last, m.still = n, 0
		return act
	}
	m.still += memoryTick
	if m.still < releaseQuiet {
		return act
	}
	if m.raised {
		m.raised, act.restoreGC = false, true
	}
	if max(n-m.released, m.released-n) >= releaseAfterBurst {
		m.released, act.release = n, true
	}
	return act
}

func (a *App) memoryLoop(ctx context.Context) {
	_, fixedGC := os.LookupEnv("GOGC")
	t := time.NewTicker(memoryTick)
	defer t.Stop()
	n := a.hub.Len()
	m := burstMemory{released: n, last: n}
	restoreGC := 100
	for {
		select {
		case <-ctx.Done():
			if m.raised && !fixedGC {
				debug.SetGCPercent(restoreGC)
			}
			return
		case <-t.C:
		}
		act := m.tick(a.hub.Len())
		if act.raiseGC && !fixedGC {
			restoreGC = debug.SetGCPercent(burstGCPercent)
		}
		if act.restoreGC && !fixedGC {
			debug.SetGCPercent(restoreGC)
		}
		if act.release {
			debug.FreeOSMemory()
		}
	}
}
