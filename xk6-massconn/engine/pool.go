package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is one batch of connections opened by Dial.
type Pool struct {
	cfg     Config
	targets []target
	addrs   targetAddrs   // resolved addresses of each target
	tmpl    connTemplates // what differs per connection

	// shards[i] belongs to event loop i; the last one to the portable
	// goroutine-per-connection engine, whose writers share it.
	shards []shard

	slots    chan struct{} // one token per handshake in progress
	pace     *pacer        // Config.Rate, for first attempts and reconnects alike
	pending  atomic.Int64  // connections not yet settled (open, failed or abandoned)
	settled  chan struct{} // closed when pending reaches 0
	live     atomic.Int64  // sockets currently held, in any state
	closing  atomic.Bool
	stopDial context.CancelFunc
	dialDone chan struct{}

	closeOnce sync.Once
	closeErr  error

	drainMu  sync.Mutex
	drained  counters
	drainRng uint64

	portable portable
	msgs     messageLayer
	prog     *poolProgram // Steps and Lifetime; nil = neither
	progPrev progCounters // guarded by drainMu
	seq      *sequencer   // nil without Config.Sequence
	scan     *oneScan     // nil: deliver looks each field up on its own
}

// Dial validates cfg, checks capacity and starts opening cfg.Connections in
// the background. It returns at once; use Wait to learn when every
// connection has been attempted. Cancelling ctx stops further attempts.
func Dial(ctx context.Context, cfg Config) (*Pool, error) {
	prep, err := cfg.prepare()
	if err != nil {
		return nil, err
	}
	cfg = prep.cfg
	if err := checkEngineEnv(); err != nil {
		return nil, err
	}
	if err := checkFiles(cfg.Connections); err != nil {
		return nil, err
	}
	addrs, err := resolveTargets(ctx, cfg, prep.targets)
	if err != nil {
		return nil, err
	}
	if err := checkPorts(cfg, addrs); err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:      cfg,
		addrs:    addrs,
		shards:   make([]shard, numLoops()+1),
		slots:    make(chan struct{}, cfg.MaxInFlight),
		settled:  make(chan struct{}),
		dialDone: make(chan struct{}),
		drained:  counters{failures: map[string]int64{}, rejections: map[string]int64{}, drops: map[int]int64{}},
		drainRng: seed(),
		msgs:     newMessageLayer(cfg, prep.adapterBeat),
		seq:      newSequencer(cfg.Sequence, cfg.Connections),
	}
	p.scan = newOneScan(p.msgs.latency, p.seq)
	p.pace = newPacer(cfg.Rate, paceBurst(cfg.Rate, cfg.MaxInFlight), mono())
	for i := range p.shards {
		p.shards[i].rng = seed()
	}
	p.prog = newPoolProgram(cfg, prep.prog, len(p.shards))
	p.targets = prep.targets
	p.tmpl = prep.tmpl
	p.pending.Store(int64(cfg.Connections))
	dctx, cancel := context.WithCancel(ctx)
	p.stopDial = cancel
	go p.dialAll(dctx)
	return p, nil
}

// Wait returns when every connection has been attempted and is open or has
// failed, or when ctx is done.
func (p *Pool) Wait(ctx context.Context) error {
	select {
	case <-p.settled:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %d connections to settle: %w", p.pending.Load(), ctx.Err())
	}
}

// settle marks n connections as open, failed or abandoned.
func (p *Pool) settle(n int64) {
	if p.pending.Add(-n) == 0 {
		close(p.settled)
	}
}

// dialAll hands out dial attempts at cfg.Rate per second (the pool's token
// bucket, holding a scan period of tokens, so a high rate is served in batches rather
// than one timer per attempt) while keeping at most MaxInFlight handshakes
// in progress. Reconnects draw from the same bucket and slots.
func (p *Pool) dialAll(ctx context.Context) {
	defer close(p.dialDone)
	n := p.cfg.Connections
	batch := make([]int64, 0, 256)
	for i := 0; i < n; {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			p.settle(int64(n - i))
			return
		}
		for p.pace.take(1, mono()) == 0 {
			t := time.NewTimer(max(p.pace.wait(mono()), time.Millisecond))
			select {
			case <-ctx.Done():
				t.Stop()
				p.releaseSlot()
				p.settle(int64(n - i))
				return
			case <-t.C:
			}
		}
		batch = append(batch[:0], int64(i))
		tokens := p.pace.take(min(n-i, cap(batch))-1, mono())
		used := 0
		for used < tokens && p.trySlot() {
			batch = append(batch, int64(i+len(batch)))
			used++
		}
		p.pace.giveBack(tokens - used)
		p.start(batch)
		i += len(batch)
	}
}

// releaseSlot ends one handshake's claim on MaxInFlight.
func (p *Pool) releaseSlot() { <-p.slots }

// Close sends a close frame (1000) on every open connection, waits up to
// grace for the servers to answer, then releases every socket. Attempts not
// yet made are abandoned. Calling it again returns the first result.
func (p *Pool) Close(grace time.Duration) error {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		p.stopDial()
		<-p.dialDone
		p.closeAll(grace)
		if !p.waitLive(grace + time.Second) {
			p.forceClose()
			// The loops release forced sockets one by one; on a machine
			// starved of CPU (50 k6 processes holding 1,000,000
			// connections on 2 cores) that takes longer than any fixed
			// wait. Only a loop that stops releasing them is an error.
			if !p.waitReleasing(10 * time.Second) {
				p.closeErr = fmt.Errorf("close: %d sockets still held after forcing them closed", p.live.Load())
			}
		}
	})
	return p.closeErr
}

func (p *Pool) waitLive(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.live.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// waitReleasing waits until every socket is released, for as long as at
// least one is released every stall. It reports whether all were.
func (p *Pool) waitReleasing(stall time.Duration) bool {
	last := p.live.Load()
	progressAt := time.Now()
	for last > 0 {
		if time.Since(progressAt) > stall {
			return false
		}
		time.Sleep(5 * time.Millisecond)
		if now := p.live.Load(); now < last {
			last, progressAt = now, time.Now()
		}
	}
	return true
}

func seed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}
