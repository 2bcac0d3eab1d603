package engine

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
)

// This file holds the pool's side of per-connection programs (Config.Steps)
// and of churn (Config.Lifetime): compiling the program once and the
// counters it feeds. Self-closed sessions reopen through the event loops'
// reconnect path (stRedial), paced like every reconnect by mayRedial: a
// MaxInFlight slot and a Rate token.

// Lifetime makes every session close itself (1000) at a random time in
// [Min, Max] after it opened; the connection then reopens, so that
// Connections is the number of slots kept busy. Zero = sessions live until
// the pool closes.
type Lifetime struct {
	Min, Max time.Duration
}

// ReasonExpectTimeout counts expect steps that waited past their timeout.
// It is a failure of a step, not of a connection attempt: it appears in
// Failures but not in Stats.Failed.
const ReasonExpectTimeout = "expect_timeout"

// selfCloseGrace is how long a session that closed itself (a close step or
// its lifetime) waits for the server's close frame before letting go.
const selfCloseGrace = 5 * time.Second

// validateProgram checks Steps and Lifetime and returns the compiled
// program (nil without steps or when they are wrong); Validate calls it.
func (c Config) validateProgram(errs *fieldErrors) *program.Program {
	var prog *program.Program
	if len(c.Steps) > 0 {
		var err error
		if prog, err = program.Compile(c.Steps); err == nil {
			err = prog.CheckData(c.Data)
		}
		if err != nil {
			for _, se := range stepErrors(err) {
				*errs = append(*errs, se.FieldError())
			}
		}
		if c.OnOpenSend != "" {
			errs.add("OnOpenSend", nil, "is not used when steps are given", "make it the first step of %s, a send", "Steps")
		}
		c.validateStepQoS(errs)
	}
	lt := c.Lifetime
	switch {
	case lt.Min < 0 || lt.Max < lt.Min:
		errs.add("Lifetime", nil, fmt.Sprintf("needs 0 < min <= max, got min %v max %v", lt.Min, lt.Max), "e.g. 60s to 600s")
	case lt.Max > 0 && lt.Min == 0:
		errs.add("Lifetime.Min", nil, "must be > 0 (a session needs some time to live)", "e.g. 60s")
	case lt.Max > 1000*time.Hour:
		errs.add("Lifetime.Max", lt.Max, "must be at most 1000h", "")
	}
	if (len(c.Steps) > 0 || lt.Max > 0) && runtime.GOOS != "linux" {
		errs.add("Steps", nil, "steps and lifetime run in the epoll event loops, which are Linux only", "")
	}
	return prog
}

// validateStepQoS checks that a send step asks for a delivery level only
// of a protocol that has them, and one it has.
func (c Config) validateStepQoS(errs *fieldErrors) {
	for i, s := range c.Steps {
		if s.Kind != program.Send || s.QoS == 0 {
			continue
		}
		field := fmt.Sprintf("Steps[%d].QoS", i)
		qs, ok := c.Protocol.(protocol.QoSSender)
		switch {
		case s.Binary:
			errs.add(field, s.QoS, "applies to text sends only: a binary step goes out as it is", "")
		case !ok:
			errs.add(field, s.QoS, "applies to a protocol with delivery levels only (mqtt)", "")
		case s.QoS > qs.MaxSendQoS():
			errs.add(field, s.QoS, fmt.Sprintf("must be at most %d", qs.MaxSendQoS()), "")
		}
	}
}

// stepErrors lists the StepErrors Compile joined.
func stepErrors(err error) []*program.StepError {
	var out []*program.StepError
	for _, e := range unjoin(err) {
		var se *program.StepError
		if errors.As(e, &se) {
			out = append(out, se)
		}
	}
	return out
}

// poolProgram is what a pool prepares once for Steps and Lifetime.
type poolProgram struct {
	prog             *program.Program // nil: no steps
	lifeMin, lifeMax time.Duration    // lifeMax == 0: no lifetime
	shards           []progShard      // like Pool.shards: one per event loop, the last for the portable engine
}

// progShard holds one event loop's share of the program counters.
type progShard struct {
	_        [64]byte
	rttCount atomic.Int64
	timeouts atomic.Int64
	churn    atomic.Int64 // sessions that closed themselves and reopen

	mu     sync.Mutex
	rtt    reservoir
	rttMax time.Duration
	rng    uint64
	_      [64]byte
}

func (s *progShard) rttSample(d time.Duration, limit int) {
	s.rttCount.Add(1)
	s.mu.Lock()
	s.rttMax = max(s.rttMax, d)
	s.rtt.add(d, limit, &s.rng)
	s.mu.Unlock()
}

func newPoolProgram(c Config, prog *program.Program, shards int) *poolProgram {
	if prog == nil && c.Lifetime.Max == 0 {
		return nil
	}
	pp := &poolProgram{prog: prog, lifeMin: c.Lifetime.Min, lifeMax: c.Lifetime.Max, shards: make([]progShard, shards)}
	for i := range pp.shards {
		pp.shards[i].rng = seed()
	}
	return pp
}

// churns reports whether sessions close themselves and reopen.
func (pp *poolProgram) churns() bool { return pp != nil && pp.lifeMax > 0 }

// drain adds the program's counters since the previous drain to r.
func (pp *poolProgram) drain(r *Report, prev *progCounters, limit int, rng *uint64) {
	if pp == nil {
		return
	}
	parts := make([]reservoir, len(pp.shards))
	var now progCounters
	for i := range pp.shards {
		s := &pp.shards[i]
		s.mu.Lock()
		parts[i] = s.rtt.take()
		r.RTTMax = max(r.RTTMax, s.rttMax)
		s.rttMax = 0
		s.mu.Unlock()
		now.add(s)
	}
	r.RTTCount = now.rtt - prev.rtt
	r.RTTs = mergeSamples(parts, limit, rng)
	r.Churn = now.churn - prev.churn
	if n := now.timeouts - prev.timeouts; n != 0 {
		if r.Failures == nil {
			r.Failures = map[string]int64{}
		}
		r.Failures[ReasonExpectTimeout] += n
	}
	*prev = now
}

// addStats adds the program's cumulative counters to s.
func (pp *poolProgram) addStats(s *Stats) {
	if pp == nil {
		return
	}
	var c progCounters
	for i := range pp.shards {
		c.add(&pp.shards[i])
	}
	s.RTTCount, s.Churn = c.rtt, c.churn
	if c.timeouts != 0 {
		s.Failures[ReasonExpectTimeout] = c.timeouts
	}
}

type progCounters struct{ rtt, timeouts, churn int64 }

func (c *progCounters) add(s *progShard) {
	c.rtt += s.rttCount.Load()
	c.timeouts += s.timeouts.Load()
	c.churn += s.churn.Load()
}
