package hub

import (
	"sync"
	"time"
)

// sendQueue is one subscriber's FIFO of whole frames not yet handed to the
// kernel (data, ping, pong, close), with what the slow-client rule and the
// close handshake need to know about it. It has its own lock, taken last:
// a caller may hold the subscriber's catch-up lock while it calls in, never
// the other way round. It reports every data message queued, written or
// dropped to the hub's pacer, and calls start (outside its lock) when it
// goes from idle to having something to write, so whoever writes it (the
// shared writers or a goroutine of its own, writer.go) is told exactly once.
type sendQueue struct {
	pacer     *pacer
	slowAfter int64 // ns; see tooSlowLocked
	// blocking queues (TLS, or a connection that is not a socket) are
	// always written from a goroutine of their own and count as pushed
	// back from its start.
	blocking bool
	start    func()

	mu      sync.Mutex
	closing bool // nothing more is queued; the pending count is released
	pending int32
	// queuedAt holds the enqueue time (unix ns) of every unsent data
	// message, oldest at head.
	queuedAt []int64
	head     int
	// pushedBackAt is when (unix ns) the socket last refused part of a
	// write and the queue went to a goroutine of its own; 0 once that
	// goroutine caught up.
	pushedBackAt int64
	lastPos      int64 // position of the last data message queued
	out          []outFrame
	spare        []outFrame // a written queue's array, reused for out
	scheduled    bool       // someone will write out
	closeQueued  bool       // a close frame is queued: nothing after it
	// closeDone is the queued close frame's closed channel; closeWritten
	// says the close frame went out whole.
	closeDone    chan struct{}
	closeWritten bool
	dead         bool // the socket is closed or failed: nothing is written
}

// outFrame is one whole frame on the wire, queued for one subscriber.
type outFrame struct {
	b    []byte // shared between subscribers for a broadcast: never written to
	data bool   // a data message, counted in pending
	// closed is non-nil for a close frame: after it is written (or cannot
	// be) the socket is closed and closed is closed.
	closed chan struct{}
}

// pushResult is what became of a data message offered to a queue.
type pushResult uint8

const (
	pushed        pushResult = iota
	refusedClosed            // the queue is closing
	refusedStale             // at or before the last position queued
	refusedSlow              // the slow-client rule says close it
)

// pushMessage queues a data message at position pos, enqueued at now. It
// refuses it if the queue is closing, if slowRule is set and the queue is
// too slow, or if pos is not after the last position queued; a nil frame
// (one that could not be encoded) is refused as stale, after those checks.
func (q *sendQueue) pushMessage(frame []byte, pos, now int64, slowRule bool) pushResult {
	q.mu.Lock()
	r := q.pushMessageLocked(frame, pos, now, slowRule)
	start := r == pushed && q.putLocked(outFrame{b: frame, data: true}, now)
	q.mu.Unlock()
	if start {
		q.start()
	}
	return r
}

func (q *sendQueue) pushMessageLocked(frame []byte, pos, now int64, slowRule bool) pushResult {
	switch {
	case q.closing:
		return refusedClosed
	case slowRule && q.tooSlowLocked(now):
		return refusedSlow
	case pos <= q.lastPos || frame == nil:
		return refusedStale
	}
	// Under q.mu the queue order is the order of positions.
	q.enqueueLocked(now)
	q.lastPos = pos
	return pushed
}

// push queues a control frame (ping, pong, a frame gws wrote, a close). It
// reports false, and closes a close frame's channel at once, if a close
// frame is queued already or the socket failed.
func (q *sendQueue) push(f outFrame) bool {
	q.mu.Lock()
	if q.dead || q.closeQueued {
		q.mu.Unlock()
		if f.closed != nil {
			close(f.closed)
		}
		return false
	}
	start := q.putLocked(f, time.Now().UnixNano())
	q.mu.Unlock()
	if start {
		q.start()
	}
	return true
}

// putLocked appends f and reports whether the queue must be started.
func (q *sendQueue) putLocked(f outFrame, now int64) bool {
	if f.closed != nil {
		// A close goes right after the frame being written, if any: what
		// is still queued is dropped, as gws drops a closed connection's
		// queue (a slow client resumes with ?after=POS; a shutdown lets
		// the queues drain before it closes).
		q.closeQueued = true
		q.closeDone = f.closed
		clear(q.out)
		q.out = q.out[:0]
	}
	q.out = append(q.out, f)
	if q.scheduled {
		return false
	}
	q.scheduled = true
	if q.blocking {
		q.pushedBackAt = now
	}
	return true
}

// enqueueLocked counts one data message queued at now.
func (q *sendQueue) enqueueLocked(now int64) {
	q.pending++
	q.pacer.added(q.pending)
	if q.head > 0 && q.head == len(q.queuedAt) {
		q.queuedAt, q.head = q.queuedAt[:0], 0
	}
	q.queuedAt = append(q.queuedAt, now)
}

// writtenLocked counts one data message written.
func (q *sendQueue) writtenLocked() {
	if q.pending == 0 {
		return // already released by close
	}
	q.pacer.written(q.pending)
	q.pending--
	q.head++
	if q.head == len(q.queuedAt) {
		q.head = 0
		if cap(q.queuedAt) > 256 {
			q.queuedAt = nil
		} else {
			q.queuedAt = q.queuedAt[:0]
		}
	}
}

// tooSlowLocked is the slow-client rule: the socket refuses more and the
// oldest unsent message has waited longer than slowAfter since both were
// so. A long queue alone is not slow: when the server itself is behind,
// every queue grows together and the publisher is paced instead.
func (q *sendQueue) tooSlowLocked(now int64) bool {
	if q.pending == 0 || q.head >= len(q.queuedAt) || q.pushedBackAt == 0 {
		return false
	}
	return now-max(q.queuedAt[q.head], q.pushedBackAt) > q.slowAfter
}

// admit reports whether a message offered at now would be refused because
// the queue is closing or too slow, without queueing anything.
func (q *sendQueue) admit(now int64) pushResult {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closing:
		return refusedClosed
	case q.tooSlowLocked(now):
		return refusedSlow
	}
	return pushed
}

// tooSlow reports whether an open queue breaks the slow-client rule at now.
func (q *sendQueue) tooSlow(now int64) bool { return q.admit(now) == refusedSlow }

// accepts reports whether pos is after the last position queued, and
// whether the queue is still open.
func (q *sendQueue) accepts(pos int64) (fresh, open bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return pos > q.lastPos, !q.closing
}

// skip moves the last position to pos without queueing anything (a
// message that could not be encoded).
func (q *sendQueue) skip(pos int64) {
	q.mu.Lock()
	q.lastPos = max(q.lastPos, pos)
	q.mu.Unlock()
}

// close stops queueing data and releases the pending count from the
// pacer; it reports whether this call made the change.
func (q *sendQueue) close() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return false
	}
	q.closing = true
	q.pacer.released(q.pending)
	q.pending = 0
	q.queuedAt, q.head = nil, 0
	return true
}

// take hands the frames queued so far to the writer, leaving a spare
// array, if any, for those queued meanwhile.
func (q *sendQueue) take() []outFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	frames := q.out
	q.out, q.spare = q.spare, nil
	return frames
}

// spareCap bounds the written queue kept for the next turn: reusing it
// saves an allocation per subscriber per broadcast (less garbage, fewer GC
// cycles that scan every connection's stack), and a queue that once grew
// long is not held for life.
const spareCap = 4

// finishTurn ends a shared writer's turn: written is the queue just
// written, kept for reuse if short. It reports whether more was queued
// meanwhile: then the queue stays scheduled and the writer takes it again.
func (q *sendQueue) finishTurn(written []outFrame) (more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if cap(written) <= spareCap && q.spare == nil {
		clear(written) // drop the frames' buffers for the GC
		q.spare = written[:0]
	}
	if len(q.out) > 0 && !q.dead {
		return true
	}
	q.scheduled = false
	return false
}

// pushedBack records that the socket refused part of a write at now.
func (q *sendQueue) pushedBack(now int64) {
	q.mu.Lock()
	q.pushedBackAt = now
	q.mu.Unlock()
}

// next is for a goroutine writing the queue by itself: it hands over the
// frames queued meanwhile, or, when there are none (or the socket failed),
// ends the turn and marks the queue caught up, so that the shared writers
// take it again.
func (q *sendQueue) next() []outFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.out) == 0 || q.dead {
		q.scheduled = false
		q.pushedBackAt = 0
		return nil
	}
	frames := q.out
	q.out = nil
	return frames
}

// isClosing reports whether nothing more is queued to the subscriber.
func (q *sendQueue) isClosing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closing
}

// hasCloseQueued reports whether a close frame is queued.
func (q *sendQueue) hasCloseQueued() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closeQueued
}

// refusesClose reports whether a close frame would be refused: one is
// queued already, or the socket failed.
func (q *sendQueue) refusesClose() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dead || q.closeQueued
}

// complete accounts for frames that were written whole; it returns the
// close frame's channel if one of them was the close frame (the caller
// closes the socket, then the channel).
func (q *sendQueue) complete(frames []outFrame) (closed chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range frames {
		if f.data {
			q.writtenLocked()
		}
		if f.closed != nil {
			closed = f.closed
			q.dead = true
			q.closeWritten = true
		}
	}
	return closed
}

// fail marks the socket failed after a write error: nothing more is
// written. It returns frames and everything still queued, whose close
// channels the caller closes once the socket is.
func (q *sendQueue) fail(frames []outFrame) []outFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead = true
	q.scheduled = false
	frames = append(frames, q.out...)
	q.out = nil
	return frames
}

// closeWrittenWhole reports whether the queued close frame went out whole.
func (q *sendQueue) closeWrittenWhole() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closeWritten
}

// closeFrameDone is the queued close frame's channel, nil if none is queued.
func (q *sendQueue) closeFrameDone() chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closeDone
}

// len is the number of data messages queued and not yet written.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.pending)
}

// position is the position of the last data message queued.
func (q *sendQueue) position() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lastPos
}

// setPosition starts the queue after position pos (a resume).
func (q *sendQueue) setPosition(pos int64) { q.lastPos = pos }
