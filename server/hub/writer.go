package hub

import (
	"net"
	"sync"
	"time"
)

// The write path. gws would start a goroutine per connection for every
// broadcast (its write queue runs each burst on a fresh goroutine), which at
// tens of thousands of subscribers costs more CPU than the writes. Here every
// frame for a subscriber (data, ping, pong, close) goes on the subscriber's
// own FIFO queue, and a bounded set of writer goroutines, one per group of
// shards, drains the queues of the subscribers that have something to send,
// each with one non-blocking write of everything queued. A subscriber whose
// socket buffer is full (or a TLS connection, which has no raw socket) is
// handed to a goroutine of its own that blocks in its writes, so one stalled
// client never holds a writer up; it goes back to the shared writers once
// its queue is empty. Write deadlines (set by a close) bound that goroutine,
// and the slow-client rule (the socket refuses more and the oldest unsent
// message has waited longer than SlowAfter) closes it.

// writer drains the queues of the subscribers of its shards. Its goroutine
// runs while some subscriber is ready and exits when none is, so an idle
// hub holds none.
type writer struct {
	mu      sync.Mutex
	ready   []*Subscriber
	spare   []*Subscriber
	running bool
	scratch []byte     // only touched by the running goroutine
	op      rawWriteOp // likewise
}

func (w *writer) push(s *Subscriber) {
	w.mu.Lock()
	w.ready = append(w.ready, s)
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		go w.run()
	}
}

func (w *writer) run() {
	for {
		w.mu.Lock()
		batch := w.ready
		if len(batch) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.ready, w.spare = w.spare[:0], nil
		w.mu.Unlock()
		for i, s := range batch {
			s.flush(w)
			batch[i] = nil
		}
		w.mu.Lock()
		w.spare = batch[:0]
		w.mu.Unlock()
		if cap(w.scratch) > 1<<20 {
			w.scratch = nil
		}
	}
}

// writeChunk bounds one write: frames are gathered up to this many bytes
// (at least one frame), so a long queue costs no more copying than it
// writes.
const writeChunk = 64 << 10

// chunkEnd is the end of the chunk of frames that starts at i.
func chunkEnd(frames []outFrame, i int) int {
	size := 0
	j := i
	for j < len(frames) && (j == i || size+len(frames[j].b) <= writeChunk) {
		size += len(frames[j].b)
		j++
	}
	return j
}

// flush writes what is queued for s, a chunk at a time with non-blocking
// writes, until the queue is written or the socket buffer is full.
func (s *Subscriber) flush(w *writer) {
	frames := s.q.take()
	for i := 0; i < len(frames); {
		j := chunkEnd(frames, i)
		buf := frames[i].b
		if j-i > 1 {
			w.scratch = w.scratch[:0]
			for _, f := range frames[i:j] {
				w.scratch = append(w.scratch, f.b...)
			}
			buf = w.scratch
		}
		n, err := w.op.write(s.raw, buf)
		if err != nil {
			s.fail(frames[i:])
			return
		}
		if n < len(buf) {
			// The socket buffer is full: the frames written whole are
			// done, and this subscriber gets a goroutine of its own for
			// the rest until it has caught up.
			k := i
			for k < j && n >= len(frames[k].b) {
				n -= len(frames[k].b)
				k++
			}
			s.complete(frames[i:k])
			s.q.pushedBack(time.Now().UnixNano())
			go s.drainBlocking(frames[k:], n)
			return
		}
		s.complete(frames[i:j])
		i = j
	}
	if s.q.finishTurn(frames) {
		// Still scheduled; the writer takes it again after the others.
		w.mu.Lock()
		w.ready = append(w.ready, s)
		w.mu.Unlock()
	}
}

// drainBlocking writes frames (the first of them from byte off on), then
// everything else queued, one frame at a time and blocking in each write,
// and ends once the queue is empty. Between frames it looks for a close:
// then the frames it holds are dropped and the close frame goes next, as
// after the write in progress on the writers' path.
func (s *Subscriber) drainBlocking(frames []outFrame, off int) {
	conn := s.sock
	for {
		for i := 0; i < len(frames); {
			if i > 0 && s.q.hasCloseQueued() {
				break // the rest of frames is dropped; the close is queued
			}
			j := chunkEnd(frames, i)
			bufs := make(net.Buffers, 0, j-i)
			for _, f := range frames[i:j] {
				bufs = append(bufs, f.b[off:])
				off = 0
			}
			if _, err := bufs.WriteTo(conn); err != nil {
				s.fail(frames[i:])
				return
			}
			s.complete(frames[i:j])
			i = j
		}
		if frames = s.q.next(); frames == nil {
			return // caught up: the shared writers take it again
		}
	}
}

// complete accounts for frames that were written; after a close frame the
// socket is closed for writing, and then for good (closeAfterCloseFrame).
func (s *Subscriber) complete(frames []outFrame) {
	if closed := s.q.complete(frames); closed != nil {
		s.closeAfterCloseFrame()
		close(closed)
	}
}

// fail gives up on s after a write error: its socket is closed (its read
// loop ends and it leaves the hub) and nothing more is written to it.
func (s *Subscriber) fail(frames []outFrame) {
	s.markClosing()
	frames = s.q.fail(frames)
	s.closeSocket()
	for _, f := range frames {
		if f.closed != nil {
			close(f.closed)
		}
	}
}
