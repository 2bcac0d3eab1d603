package hub

import (
	"context"
	"sync/atomic"
	"time"
)

// The pacing policy, in one place: the publisher waits while many
// subscribers are behind at once, or while one is at QueueLimit, so rows
// wait in PostgreSQL rather than in memory. Every subscriber's queue tells
// the pacer when it grows, shrinks or is dropped (queue.go), and only the
// pacer turns that into the hub-wide counters the publisher looks at.

// backlogShare caps one subscriber's part of the paced backlog, so one
// stuck subscriber cannot pace everyone.
const backlogShare = 64

// The publisher waits while the backlog exceeds backlogPerSubscriber per
// subscriber plus backlogSlack. The per-subscriber part keeps a fan-out to
// many thousands within about a second of writes; the slack lets a fan-out
// to a few hundred queue enough that each write drains a batch instead of
// waking per message (BenchmarkPublish compares paced with unpaced).
const (
	backlogPerSubscriber = 16
	backlogSlack         = 32768
)

// pacer keeps the hub-wide counters of queued, unwritten messages.
type pacer struct {
	queueLimit  int32
	subscribers *atomic.Int64 // the hub's subscriber count
	// backlog counts queued, unwritten messages, each subscriber's share
	// capped at backlogShare.
	backlog atomic.Int64
	queued  atomic.Int64 // queued, unwritten messages, uncapped
	full    atomic.Int64 // subscribers at queueLimit
	// ready is signalled when a write may have ended the backlog, so a
	// paced publisher wakes without polling.
	ready chan struct{}
}

func newPacer(queueLimit int, subscribers *atomic.Int64) *pacer {
	return &pacer{queueLimit: int32(queueLimit), subscribers: subscribers, ready: make(chan struct{}, 1)}
}

// added counts one message queued to a subscriber that now has pending
// messages unwritten.
func (p *pacer) added(pending int32) {
	if pending <= backlogShare {
		p.backlog.Add(1)
	}
	if pending == p.queueLimit {
		p.full.Add(1)
	}
	p.queued.Add(1)
}

// written counts one message written by a subscriber that had pending
// messages unwritten before it, and wakes the publisher if that may have
// ended the backlog.
func (p *pacer) written(pending int32) {
	wake := false
	if pending <= backlogShare {
		wake = p.backlog.Add(-1) == p.limit()
	}
	if pending == p.queueLimit {
		wake = p.full.Add(-1) == 0 || wake
	}
	if wake {
		p.wake()
	}
	p.queued.Add(-1)
}

// released drops a closing subscriber's pending messages from the counts,
// so a dying subscriber holds nobody back.
func (p *pacer) released(pending int32) {
	defer p.wake()
	p.backlog.Add(-int64(min(pending, backlogShare)))
	if pending >= p.queueLimit {
		p.full.Add(-1)
	}
	p.queued.Add(-int64(pending))
}

// backlogged reports whether the publisher should wait before the next
// message.
func (p *pacer) backlogged() bool {
	if p.full.Load() > 0 {
		return true
	}
	return p.backlog.Load() > p.limit()
}

// limit is the backlog above which the publisher waits.
func (p *pacer) limit() int64 {
	return backlogPerSubscriber*p.subscribers.Load() + backlogSlack
}

func (p *pacer) wake() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// waitReady returns once the pacer is not backlogged, or ctx ends.
func (p *pacer) waitReady(ctx context.Context) {
	if !p.backlogged() {
		return
	}
	// The signal can be missed (the threshold moves with the number of
	// subscribers), so look again every millisecond regardless.
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for p.backlogged() {
		select {
		case <-ctx.Done():
			return
		case <-p.ready:
		case <-t.C:
		}
	}
}

// Backlogged reports whether the publisher should wait before the next
// message: many subscribers are behind at once, or one is at QueueLimit.
func (h *Hub) Backlogged() bool { return h.pacer.backlogged() }

// WaitReady returns once the hub is not Backlogged, or ctx ends.
func (h *Hub) WaitReady(ctx context.Context) { h.pacer.waitReady(ctx) }
