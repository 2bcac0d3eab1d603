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
// scans every connection's goroutine stack: in a bench-server profile the
// GC was about a quarter of the CPU per accepted connection. While the
// connection count moves fast, GOGC is raised (fewer cycles; the heap may
// grow further for the length of the burst). Once the count has stood
// still for releaseQuiet, GOGC is restored and the memory the burst left
// behind (its garbage, free pages the runtime returns to the OS only
// slowly: about a kilobyte per connection on an idle server) is returned
// at once: one forced GC per burst, none while the count is steady. A
// GOGC set in the environment is left alone.
const (
	memoryTick        = 100 * time.Millisecond
	burstPerTick      = 100 // connections joined or left in one tick: a burst (1,000/s)
	burstGCPercent    = 400
	releaseAfterBurst = 1000 // smaller changes of the count are not worth a forced GC
	releaseQuiet      = 2 * time.Second
)

func (a *App) memoryLoop(ctx context.Context) {
	_, tuneGC := os.LookupEnv("GOGC")
	tuneGC = !tuneGC
	t := time.NewTicker(memoryTick)
	defer t.Stop()
	released := a.hub.Len() // the count at the last release
	last, still := released, time.Duration(0)
	raised, restoreGC := false, 0 // GOGC is raised for a burst; the value to restore
	for {
		select {
		case <-ctx.Done():
			if raised {
				debug.SetGCPercent(restoreGC)
			}
			return
		case <-t.C:
		}
		n := a.hub.Len()
		if n != last {
			if tuneGC && !raised && max(n-last, last-n) >= burstPerTick {
				raised, restoreGC = true, debug.SetGCPercent(burstGCPercent)
			}
			last, still = n, 0
			continue
		}
		still += memoryTick
		if still < releaseQuiet {
			continue
		}
		if raised {
			debug.SetGCPercent(restoreGC)
			raised = false
		}
		if max(n-released, released-n) >= releaseAfterBurst {
			debug.FreeOSMemory()
			released = n
		}
	}
}
