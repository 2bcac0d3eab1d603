package hub

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/lxzan/gws"
	"golang.org/x/sys/unix"
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

// maxFramePayload is the largest message the hub writes, as gws's default
// WriteMaxPayloadSize.
const maxFramePayload = 16 << 20

// outFrame is one whole frame on the wire, queued for one subscriber.
type outFrame struct {
	b    []byte // shared between subscribers for a broadcast: never written to
	data bool   // a data message, counted in the subscriber's pending
	// closed is non-nil for a close frame: after it is written (or cannot
	// be) the socket is closed and closed is closed.
	closed chan struct{}
}

// encodeFrame builds an unmasked server frame (FIN set, no compression:
// the server does not negotiate permessage-deflate).
func encodeFrame(opcode gws.Opcode, payload []byte) ([]byte, error) {
	if opcode == gws.OpcodeText && !utf8.Valid(payload) {
		return nil, gws.ErrTextEncoding
	}
	n := len(payload)
	if n > maxFramePayload {
		return nil, gws.ErrMessageTooLarge
	}
	hdr := FrameLen(n) - n
	b := make([]byte, hdr, hdr+n)
	switch hdr {
	case 2:
		b[1] = byte(n)
	case 4:
		b[1] = 126
		b[2], b[3] = byte(n>>8), byte(n)
	default:
		b[1] = 127
		for i := range 8 {
			b[9-i] = byte(n >> (8 * i))
		}
	}
	b[0] = 0x80 | byte(opcode)
	return append(b, payload...), nil
}

// FrameLen is the bytes on the wire of the (unmasked, uncompressed) frame
// the hub writes for a payload of n bytes: what benchmarks size the floor's
// write with.
func FrameLen(n int) int {
	switch {
	case n < 126:
		return n + 2
	case n < 1<<16:
		return n + 4
	default:
		return n + 10
	}
}

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

// queueFrame puts f on s's queue and makes sure someone will write it;
// s.mu is held. After a close frame, or once writing failed, nothing more
// is queued (a close frame is reported closed at once).
func (s *Subscriber) queueFrame(f outFrame) bool {
	if s.dead || s.closeQueued {
		if f.closed != nil {
			close(f.closed)
		}
		return false
	}
	if f.closed != nil {
		// A close goes right after the frame being written, if any: what
		// is still queued is dropped, as gws drops a closed connection's
		// queue (a slow client resumes with ?after=POS; a shutdown lets
		// the queues drain before it closes).
		s.closeQueued = true
		s.closeDone = f.closed
		clear(s.out)
		s.out = s.out[:0]
	}
	s.out = append(s.out, f)
	if !s.scheduled {
		s.scheduled = true
		if s.raw != nil {
			s.writer.push(s)
		} else {
			s.pushedBackAt = time.Now().UnixNano()
			go s.drainBlocking(nil, 0)
		}
	}
	return true
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
	s.mu.Lock()
	frames := s.out
	s.out, s.spareOut = s.spareOut, nil
	s.mu.Unlock()
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
			s.mu.Lock()
			s.pushedBackAt = time.Now().UnixNano()
			s.mu.Unlock()
			go s.drainBlocking(frames[k:], n)
			return
		}
		s.complete(frames[i:j])
		i = j
	}
	s.finishTurn(w, frames)
}

// spareOutCap bounds the written queue a subscriber keeps for its next
// turn: reusing it saves an allocation per subscriber per broadcast (the
// garbage made the GC scan every connection's stack more often), and a
// queue that once grew long is not held for life.
const spareOutCap = 4

// finishTurn puts s back in line if more was queued while it was written;
// written is the queue just written, kept for reuse if short.
func (s *Subscriber) finishTurn(w *writer, written []outFrame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cap(written) <= spareOutCap && s.spareOut == nil {
		clear(written) // drop the frames' buffers for the GC
		s.spareOut = written[:0]
	}
	if len(s.out) > 0 && !s.dead {
		// Still scheduled; the writer takes it again after the others.
		w.mu.Lock()
		w.ready = append(w.ready, s)
		w.mu.Unlock()
		return
	}
	s.scheduled = false
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
			if i > 0 {
				s.mu.Lock()
				closing := s.closeQueued
				s.mu.Unlock()
				if closing {
					break // the rest of frames is dropped; the close is queued
				}
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
		s.mu.Lock()
		if len(s.out) == 0 || s.dead {
			s.scheduled = false
			s.pushedBackAt = 0 // caught up: the shared writers take it again
			s.mu.Unlock()
			return
		}
		frames = s.out
		s.out = nil
		s.mu.Unlock()
	}
}

// complete accounts for frames that were written.
func (s *Subscriber) complete(frames []outFrame) {
	var closed chan struct{}
	s.mu.Lock()
	for _, f := range frames {
		if f.data {
			s.writtenLocked()
		}
		if f.closed != nil {
			closed = f.closed
			s.dead = true
			s.closeWritten = true
		}
	}
	s.mu.Unlock()
	if closed != nil {
		s.closeSocket()
		close(closed)
	}
}

// fail gives up on s after a write error: its socket is closed (its read
// loop ends and it leaves the hub) and nothing more is written to it.
func (s *Subscriber) fail(frames []outFrame) {
	s.markClosing()
	s.mu.Lock()
	s.dead = true
	s.scheduled = false
	frames = append(frames, s.out...)
	s.out = nil
	s.mu.Unlock()
	s.closeSocket()
	for _, f := range frames {
		if f.closed != nil {
			close(f.closed)
		}
	}
}

// rawWriteOp makes one non-blocking write of b to the socket at a time:
// it returns how much the kernel took (0 when the socket buffer is full)
// or why it failed (the socket is closed, a write deadline passed, the
// peer reset it). The callback RawConn.Write takes escapes (an interface
// call), so a closure made per write cost three allocations per subscriber
// per broadcast; each writer makes its callback once and reuses it.
type rawWriteOp struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func (op *rawWriteOp) write(raw syscall.RawConn, b []byte) (int, error) {
	if op.fn == nil {
		op.fn = func(fd uintptr) bool {
			for {
				op.n, op.err = rawWrite(fd, op.b)
				if !errors.Is(op.err, unix.EINTR) {
					return true // never wait for the socket: the caller decides
				}
			}
		}
	}
	op.b, op.n, op.err = b, 0, nil
	err := raw.Write(op.fn)
	n, werr := op.n, op.err
	op.b, op.err = nil, nil
	if err != nil {
		return 0, err
	}
	if errors.Is(werr, unix.EAGAIN) {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return max(n, 0), nil
}

// rawWrite is write(2) without the runtime's syscall bookkeeping. The
// socket is non-blocking, so the call never waits; it only runs the
// kernel's send (and, on loopback, receive) path. Through syscall.Syscall
// every write also marked its P as in a syscall, which kept sysmon waking
// every 20 µs to look for Ps to retake during a fan-out (about 5 % of the
// server's CPU per delivered message in a bench-server profile).
func rawWrite(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// rawConn is sock's raw socket for non-blocking writes, or nil (TLS, or
// a connection that is not a socket): those subscribers always write from
// a goroutine of their own. A net.Conn that offers SyscallConn is taken to
// write its bytes to that socket unchanged (as *net.TCPConn does, and
// wsapi's replayConn, which only replays reads).
func rawConn(sock net.Conn) syscall.RawConn {
	sc, ok := sock.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
