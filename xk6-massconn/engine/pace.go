package engine

import (
	"sync"
	"time"
)

// pacer is the token bucket behind Config.Rate, shared by a pool's first
// attempts (dialAll) and its reconnects (the event loops), so that the rate
// bounds every attempt the pool makes. Rate 0 means no limit.
type pacer struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   int64 // mono ns of the last refill
}

// paceBurst is the bucket's capacity: one scan period's worth of tokens.
// Reconnects (and lifetime reopens) are granted from the event loops'
// periodic scan, once per scanPeriod: with a smaller bucket the tokens that
// accrue between two scans would be lost and reconnects capped at burst per
// scan (rate/100 gave a tenth of the rate). First dials take tokens as they
// accrue, so for them this is only the size of the opening batch.
func paceBurst(rate float64, maxInFlight int) int {
	if rate <= 0 {
		return 1
	}
	return max(1, min(int(rate*scanPeriod.Seconds()), maxInFlight))
}

// scanPeriod is the event loops' scan interval (scanEvery on Linux).
const scanPeriod = 100 * time.Millisecond

func newPacer(rate float64, burst int, now int64) *pacer {
	return &pacer{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take removes up to n tokens and returns how many it took.
func (pc *pacer) take(n int, now int64) int {
	if pc.rate <= 0 || n <= 0 {
		return max(n, 0)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if now > pc.last {
		pc.tokens = min(pc.burst, pc.tokens+pc.rate*float64(now-pc.last)/float64(time.Second))
		pc.last = now
	}
	got := min(n, int(pc.tokens))
	pc.tokens -= float64(got)
	return got
}

// giveBack returns n tokens taken but not used.
func (pc *pacer) giveBack(n int) {
	if pc.rate <= 0 || n <= 0 {
		return
	}
	pc.mu.Lock()
	pc.tokens = min(pc.burst, pc.tokens+float64(n))
	pc.mu.Unlock()
}

// wait is how long until one token is available, from now.
func (pc *pacer) wait(now int64) time.Duration {
	if pc.rate <= 0 {
		return 0
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	tokens := pc.tokens + pc.rate*float64(now-pc.last)/float64(time.Second)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / pc.rate * float64(time.Second))
}

var monoBase = time.Now()

// mono is the engine's clock, for the pacer and the loops: monotonic
// nanoseconds since the package started.
func mono() int64 { return int64(time.Since(monoBase)) }

// trySlot claims a MaxInFlight slot without blocking.
func (p *Pool) trySlot() bool {
	select {
	case p.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// reconnectBackoff is the wait before reconnect number retries+1 (retries
// counts the attempts already made since the connection was last open):
// 100 ms doubling up to 5 s, plus up to as much again of random jitter
// drawn by the caller, so that a server restart is not met by every
// connection at the same instant. The attempt itself then also waits for a
// MaxInFlight slot and a Rate token.
func reconnectBackoff(retries uint8) time.Duration {
	return min(100*time.Millisecond<<min(retries, 6), 5*time.Second)
}
