package engine

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// reasons lists the fixed failure reasons so they can be counted in an array
// of atomics; HTTP statuses go to a map because their set is open.
var reasons = [...]string{
	ReasonTimeout, ReasonRefused, ReasonReset, ReasonAddrNotAvail,
	ReasonTooManyFiles, ReasonHandshake, ReasonProtocol, ReasonTLS, ReasonOther,
	ReasonRejected, ReasonBackpressure, ReasonCompression, ReasonContentType,
}

type reasonID uint8

const (
	rTimeout reasonID = iota
	rRefused
	rReset
	rAddrNotAvail
	rTooManyFiles
	rHandshake
	rProtocol
	rTLS
	rOther
	rRejected // also counted by code in shard.rejections
	rBackpressure
	rCompression
	rContentType // EventSource (sse_config.go)
	rHTTP        // not in reasons: counted by status in shard.httpStatus
)

// shard holds one event loop's share of a pool's counters. Only that loop
// writes them, so the atomic adds never contend; readers (Stats, Drain) sum
// the shards. The padding keeps two loops' shards off one cache line.
type shard struct {
	_         [64]byte
	attempted atomic.Int64
	opened    atomic.Int64
	failed    atomic.Int64
	ended     atomic.Int64 // sessions that were open and ended, for any cause
	dropped   atomic.Int64
	received  atomic.Int64
	sent      atomic.Int64
	bytesIn   atomic.Int64
	bytesOut  atomic.Int64
	latCount  atomic.Int64
	pingCount atomic.Int64 // heartbeat pings answered (ping.go)
	// the sequence check's counters (sequence.go)
	seqGaps, seqDuplicates, seqReordered, seqUnreadable atomic.Int64
	reasons                                             [len(reasons)]atomic.Int64
	sse                                                 sseShard // EventSource counters (sse_config.go)

	mu         sync.Mutex // guards everything below
	httpStatus map[int]int64
	rejections map[string]int64
	drops      map[int]int64
	connecting reservoir
	sessions   reservoir
	latency    reservoir
	latMax     time.Duration
	ping       reservoir
	pingMax    time.Duration
	rng        uint64
	_          [64]byte
}

func (s *shard) fail(r reasonID, status int) {
	s.failed.Add(1)
	if r == rHTTP {
		s.mu.Lock()
		if s.httpStatus == nil {
			s.httpStatus = map[int]int64{}
		}
		s.httpStatus[status]++
		s.mu.Unlock()
		return
	}
	s.reasons[r].Add(1)
}

// reject counts a refusal at the protocol level under the protocol's code.
func (s *shard) reject(code string) {
	s.failed.Add(1)
	s.reasons[rRejected].Add(1)
	s.mu.Lock()
	if s.rejections == nil {
		s.rejections = map[string]int64{}
	}
	s.rejections[code]++
	s.mu.Unlock()
}

func (s *shard) drop(code int, session time.Duration, limit int) {
	s.dropped.Add(1)
	s.mu.Lock()
	if s.drops == nil {
		s.drops = map[int]int64{}
	}
	s.drops[code]++
	s.mu.Unlock()
	s.endSession(session, limit)
}

func (s *shard) endSession(d time.Duration, limit int) {
	s.ended.Add(1)
	s.mu.Lock()
	s.sessions.add(d, limit, &s.rng)
	s.mu.Unlock()
}

func (s *shard) opening(d time.Duration, limit int) {
	s.opened.Add(1)
	s.mu.Lock()
	s.connecting.add(d, limit, &s.rng)
	s.mu.Unlock()
}

func (s *shard) latencySample(d time.Duration, limit int) {
	s.latCount.Add(1)
	s.mu.Lock()
	if d > s.latMax {
		s.latMax = d
	}
	s.latency.add(d, limit, &s.rng)
	s.mu.Unlock()
}

// reservoir is a uniform sample (Vitter's algorithm R) of the values added
// since it was last taken.
type reservoir struct {
	seen    int64
	samples []time.Duration
}

func (r *reservoir) add(d time.Duration, limit int, rng *uint64) {
	r.seen++
	if len(r.samples) < limit {
		r.samples = append(r.samples, d)
		return
	}
	if j := int64(nextRand(rng) % uint64(r.seen)); j < int64(limit) {
		r.samples[j] = d
	}
}

func (r *reservoir) take() reservoir {
	out := *r
	*r = reservoir{}
	return out
}

// mergeSamples combines per-shard uniform samples into one of at most limit
// values. Each pick takes from a shard with probability proportional to how
// many values that shard saw and has not yet had picked, which keeps the
// result (approximately) uniform over all values seen.
func mergeSamples(parts []reservoir, limit int, rng *uint64) []time.Duration {
	var total int64
	n := 0
	for _, p := range parts {
		total += p.seen
		n += len(p.samples)
	}
	if n == 0 {
		return nil
	}
	if n <= limit {
		out := make([]time.Duration, 0, n)
		for _, p := range parts {
			out = append(out, p.samples...)
		}
		return out
	}
	weight := make([]int64, len(parts))
	for i, p := range parts {
		weight[i] = p.seen
	}
	out := make([]time.Duration, 0, limit)
	for len(out) < limit && total > 0 {
		pick := int64(nextRand(rng) % uint64(total))
		i := 0
		for ; pick >= weight[i]; i++ {
			pick -= weight[i]
		}
		p := &parts[i]
		j := int(nextRand(rng) % uint64(len(p.samples)))
		out = append(out, p.samples[j])
		p.samples[j] = p.samples[len(p.samples)-1]
		p.samples = p.samples[:len(p.samples)-1]
		// Each sample stands for seen/len(samples) values of its shard.
		share := weight[i] / int64(len(p.samples)+1)
		if len(p.samples) == 0 {
			share = weight[i]
		}
		weight[i] -= share
		total -= share
	}
	return out
}

// nextRand is splitmix64: fast, good enough for sampling and WebSocket
// masking keys (see maskKey), and needs no lock as each state has one owner.
func nextRand(s *uint64) uint64 {
	*s += 0x9E3779B97F4A7C15
	z := *s
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// counters is a plain snapshot of the cumulative counters of all shards.
type counters struct {
	attempted, opened, failed, ended, dropped  int64
	received, sent, bytesIn, bytesOut, latency int64
	pings                                      int64
	failures                                   map[string]int64
	rejections                                 map[string]int64
	drops                                      map[int]int64
}

func (p *Pool) sum() counters {
	c := counters{failures: map[string]int64{}, rejections: map[string]int64{}, drops: map[int]int64{}}
	for i := range p.shards {
		s := &p.shards[i]
		c.attempted += s.attempted.Load()
		c.opened += s.opened.Load()
		c.failed += s.failed.Load()
		c.ended += s.ended.Load()
		c.dropped += s.dropped.Load()
		c.received += s.received.Load()
		c.sent += s.sent.Load()
		c.bytesIn += s.bytesIn.Load()
		c.bytesOut += s.bytesOut.Load()
		c.latency += s.latCount.Load()
		c.pings += s.pingCount.Load()
		for r := range s.reasons {
			if v := s.reasons[r].Load(); v != 0 {
				c.failures[reasons[r]] += v
			}
		}
		s.mu.Lock()
		for code, v := range s.httpStatus {
			c.failures[httpReason(code)] += v
		}
		for code, v := range s.drops {
			c.drops[code] += v
		}
		for code, v := range s.rejections {
			c.rejections[code] += v
		}
		s.mu.Unlock()
	}
	return c
}

// Stats returns the pool's exact counters. Open counts connections whose
// handshake completed and whose session has not ended yet.
func (p *Pool) Stats() Stats {
	c := p.sum()
	s := Stats{
		Attempted: c.attempted,
		Open:      c.opened - c.ended,
		Failed:    c.failed,
		Dropped:   c.dropped,
		Received:  c.received,
		Sent:      c.sent,
		Failures:  c.failures,

		Rejections: c.rejections,
	}
	p.prog.addStats(&s)
	return s
}

// Drain reports what happened since the previous Drain. Counts are exact
// differences of cumulative counters; durations are sampled.
func (p *Pool) Drain() Report {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	var conn, sess, lat, ping []reservoir
	var latMax, pingMax time.Duration
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		conn = append(conn, s.connecting.take())
		sess = append(sess, s.sessions.take())
		lat = append(lat, s.latency.take())
		latMax = max(latMax, s.latMax)
		s.latMax = 0
		ping = append(ping, s.ping.take())
		pingMax = max(pingMax, s.pingMax)
		s.pingMax = 0
		s.mu.Unlock()
	}
	c := p.sum()
	prev := p.drained
	p.drained = c
	limit := p.cfg.SampleLimit
	r := Report{
		Opened:        c.opened - prev.opened,
		Connecting:    mergeSamples(conn, limit, &p.drainRng),
		Failures:      diffMap(c.failures, prev.failures),
		Rejections:    diffMap(c.rejections, prev.rejections),
		Drops:         diffMap(c.drops, prev.drops),
		SessionsEnded: c.ended - prev.ended,
		Sessions:      mergeSamples(sess, limit, &p.drainRng),
		Received:      c.received - prev.received,
		Sent:          c.sent - prev.sent,
		BytesReceived: c.bytesIn - prev.bytesIn,
		BytesSent:     c.bytesOut - prev.bytesOut,
		LatencyCount:  c.latency - prev.latency,
		Latencies:     mergeSamples(lat, limit, &p.drainRng),
		LatencyMax:    latMax,
		Attempted:     c.attempted - prev.attempted,
		PingCount:     c.pings - prev.pings,
		Pings:         mergeSamples(ping, limit, &p.drainRng),
		PingMax:       pingMax,
	}
	p.prog.drain(&r, &p.progPrev, limit, &p.drainRng)
	r.Sequence = p.sequenceDelta()
	p.drainSSE(&r)
	return r
}

func diffMap[K comparable](now, before map[K]int64) map[K]int64 {
	out := maps.Clone(now)
	for k, v := range before {
		out[k] -= v
	}
	maps.DeleteFunc(out, func(_ K, v int64) bool { return v == 0 })
	return out
}
