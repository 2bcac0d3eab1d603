package massconn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/js/common"
	"go.k6.io/k6/lib/types"
	"go.k6.io/k6/metrics"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

// flushInterval is how often a pool's counters become k6 samples: each
// counter is one sample per interval whatever the message rate, and each
// trend at most engine.Config.SampleLimit samples.
const flushInterval = time.Second

// pool is the JS-facing side of one engine.Pool. A background flusher
// drains the engine into k6 samples while the connections live; the pool
// closes itself when the iteration that opened it ends.
type pool struct {
	root    *RootModule
	eng     *engine.Pool
	ctx     context.Context //nolint:containedctx // the iteration's; the pool lives no longer
	samples chan<- metrics.SampleContainer
	metrics *metricSet
	tags    metrics.TagsAndMeta

	flushMu    sync.Mutex
	flushedOut bool // the last flush has been sent; later flushes would only repeat the gauge

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}

	stopOnce    sync.Once
	stop        chan struct{}
	flusherDone chan struct{}
}

func newPool(root *RootModule, eng *engine.Pool, ctx context.Context, samples chan<- metrics.SampleContainer,
	ms *metricSet, tags metrics.TagsAndMeta,
) *pool {
	p := &pool{
		root: root, eng: eng, ctx: ctx, samples: samples, metrics: ms, tags: tags,
		closed:      make(chan struct{}),
		stop:        make(chan struct{}),
		flusherDone: make(chan struct{}),
	}
	root.track(p)
	root.finals.add()
	root.finals.send(samples, zeroSamples(ms, tags, time.Now()))
	if _, on := eng.Sequence(); on {
		root.finals.send(samples, sequenceZeroSamples(ms.seq, tags, time.Now()))
	}
	go p.flushLoop()
	return p
}

func (p *pool) flushLoop() {
	defer close(p.flusherDone)
	tick := time.NewTicker(flushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			p.flush()
		case <-p.stop:
			return
		case <-p.ctx.Done():
			// The iteration ended without close(), or the test is stopping.
			_ = p.close(closeGrace)
			return
		}
	}
}

// flush pushes what happened since the previous flush as one batch. It
// does not look at the iteration's context: what Drain took must reach k6
// even when the iteration has just ended (see final.go for why the send is
// safe then).
func (p *pool) flush() {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.flushLocked()
}

func (p *pool) flushLocked() {
	if p.flushedOut {
		return
	}
	r := p.eng.Drain()
	samples := reportSamples(p.metrics, p.tags, time.Now(), r, p.root.openTotal())
	if len(samples) > 0 {
		p.root.finals.send(p.samples, samples)
	}
}

// close releases every connection and pushes the last deltas. It is safe
// to call from the flusher and from JS, any number of times; every caller
// returns after the last flush has been sent.
func (p *pool) close(grace time.Duration) error {
	p.closeOnce.Do(func() {
		p.closeErr = p.eng.Close(grace)
		p.root.forget(p)
		p.flushMu.Lock()
		p.flushLocked()
		p.flushedOut = true
		p.flushMu.Unlock()
		p.root.finals.done()
		close(p.closed)
	})
	return p.closeErr
}

func (p *pool) stopFlusher() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.flusherDone
}

// hold blocks the VU for d while the connections live, returning early when
// the iteration is stopped or the pool has been closed.
func (p *pool) hold(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.ctx.Done():
	case <-p.closed:
	}
	p.flush()
}

// object is the Pool the script sees.
func (p *pool) object(rt *sobek.Runtime) *sobek.Object {
	obj := rt.NewObject()
	methods := map[string]func(sobek.FunctionCall) sobek.Value{
		"hold": func(call sobek.FunctionCall) sobek.Value {
			d, err := durationArg(call.Argument(0))
			if err != nil {
				common.Throw(rt, fmt.Errorf("pool.hold: %w", err))
			}
			p.hold(d)
			return sobek.Undefined()
		},
		"stats": func(sobek.FunctionCall) sobek.Value {
			return statsObject(rt, p.eng.Stats())
		},
		"sequence": func(sobek.FunctionCall) sobek.Value {
			return sequenceObject(rt, p.eng)
		},
		"close": func(call sobek.FunctionCall) sobek.Value {
			grace := closeGrace
			if !common.IsNullish(call.Argument(0)) {
				var err error
				if grace, err = durationArg(call.Argument(0)); err != nil {
					common.Throw(rt, fmt.Errorf("pool.close: grace %w", err))
				}
			}
			err := p.close(grace)
			p.stopFlusher()
			if err != nil {
				common.Throw(rt, fmt.Errorf("pool.close: %w", err))
			}
			return sobek.Undefined()
		},
	}
	for name, fn := range methods {
		if err := obj.Set(name, fn); err != nil {
			common.Throw(rt, fmt.Errorf("massconn: building the pool object: %w", err))
		}
	}
	return obj
}

// durationArg reads the duration argument of pool.hold and pool.close the
// way k6's sleep() reads its own: a bare number is seconds (fractions
// allowed), a string is a k6 duration ('60s', '1m30s', '250ms'). Duration
// *options* of connect() keep k6's option rule instead (a bare number is
// milliseconds), as k6's own options do.
func durationArg(v sobek.Value) (time.Duration, error) {
	const want = "needs a duration such as '60s' or a number of seconds (as k6's sleep takes)"
	if common.IsNullish(v) {
		return 0, errors.New(want)
	}
	var d time.Duration
	switch x := v.Export().(type) {
	case int64:
		d = time.Duration(x) * time.Second
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%s, got %v", want, x)
		}
		d = time.Duration(x * float64(time.Second))
	case string:
		var err error
		if d, err = types.GetDurationValue(x); err != nil {
			return 0, fmt.Errorf("%s: %w", want, err)
		}
	default:
		return 0, fmt.Errorf("%s, got %s", want, describe(x))
	}
	if d < 0 {
		return 0, fmt.Errorf("needs a duration >= 0, got %v", d)
	}
	return d, nil
}

func statsObject(rt *sobek.Runtime, s engine.Stats) sobek.Value {
	failures := make(map[string]any, len(s.Failures))
	for reason, n := range s.Failures {
		failures[reason] = n
	}
	rejections := make(map[string]any, len(s.Rejections))
	for code, n := range s.Rejections {
		rejections[code] = n
	}
	return rt.ToValue(map[string]any{
		"rejections": rejections,
		"attempted":  s.Attempted,
		"open":       s.Open,
		"failed":     s.Failed,
		"dropped":    s.Dropped,
		"received":   s.Received,
		"sent":       s.Sent,
		"failures":   failures,
		"rtt":        s.RTTCount,
		"churn":      s.Churn,
	})
}
