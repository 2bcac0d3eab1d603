package hub

import (
	"sync/atomic"
	"testing"
	"time"
)

// newTestQueue is a queue on a pacer of its own that counts the times it
// is started instead of handing itself to a writer.
func newTestQueue(queueLimit int, slowAfter time.Duration) (*sendQueue, *pacer, *int) {
	var subscribers atomic.Int64
	subscribers.Store(1)
	p := newPacer(queueLimit, &subscribers)
	starts := new(int)
	q := &sendQueue{pacer: p, slowAfter: int64(slowAfter), start: func() { *starts++ }}
	return q, p, starts
}

func frameOf(s string) []byte { return []byte(s) }

func TestSendQueueKeepsOrderAndStartsOncePerTurn(t *testing.T) {
	q, p, starts := newTestQueue(100, time.Hour)
	now := time.Now().UnixNano()
	for pos, b := range []string{"a", "b", "c"} {
		if r := q.pushMessage(frameOf(b), int64(pos+1), now, true); r != pushed {
			t.Fatalf("push %q: %v", b, r)
		}
	}
	q.push(outFrame{b: frameOf("ping")})
	if *starts != 1 {
		t.Fatalf("started %d times for one turn, want 1", *starts)
	}
	frames := q.take()
	var got string
	for _, f := range frames {
		got += string(f.b)
	}
	if got != "abcping" {
		t.Fatalf("frames %q, want abcping", got)
	}
	if q.len() != 3 || p.queued.Load() != 3 || p.backlog.Load() != 3 {
		t.Fatalf("before the write: len %d, pacer queued %d backlog %d; want 3 each", q.len(), p.queued.Load(), p.backlog.Load())
	}
	if closed := q.complete(frames); closed != nil {
		t.Fatal("complete reported a close frame")
	}
	if q.finishTurn(frames) {
		t.Fatal("finishTurn: more to write with nothing queued")
	}
	if q.len() != 0 || p.queued.Load() != 0 || p.backlog.Load() != 0 {
		t.Fatalf("after the write: len %d, pacer queued %d backlog %d; want 0 each", q.len(), p.queued.Load(), p.backlog.Load())
	}
	q.pushMessage(frameOf("d"), 4, now, true)
	if *starts != 2 {
		t.Fatalf("a push after the turn ended started the queue %d times in all, want 2", *starts)
	}
}

func TestSendQueueRefusals(t *testing.T) {
	now := time.Now().UnixNano()
	tests := []struct {
		name  string
		setup func(q *sendQueue)
		frame []byte
		pos   int64
		want  pushResult
	}{
		{"fresh", func(*sendQueue) {}, frameOf("x"), 2, pushed},
		{"stale position", func(*sendQueue) {}, frameOf("x"), 1, refusedStale},
		{"unencodable frame", func(*sendQueue) {}, nil, 2, refusedStale},
		{"closing", func(q *sendQueue) { q.close() }, frameOf("x"), 2, refusedClosed},
		{"skipped past", func(q *sendQueue) { q.skip(5) }, frameOf("x"), 4, refusedStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, p, _ := newTestQueue(100, time.Hour)
			q.setPosition(1)
			tt.setup(q)
			if got := q.pushMessage(tt.frame, tt.pos, now, true); got != tt.want {
				t.Fatalf("pushMessage: %v, want %v", got, tt.want)
			}
			wantQueued := int64(0)
			if tt.want == pushed {
				wantQueued = 1
			}
			if p.queued.Load() != wantQueued {
				t.Errorf("pacer counts %d queued, want %d", p.queued.Load(), wantQueued)
			}
		})
	}
}

// The slow-client rule: a message waiting long is slow only once the
// socket has refused more, and not from the moment it last did.
func TestSendQueueSlowRule(t *testing.T) {
	q, _, _ := newTestQueue(100, time.Second)
	long := time.Now().Add(-time.Hour).UnixNano()
	now := time.Now().UnixNano()
	q.pushMessage(frameOf("old"), 1, long, true)
	if q.tooSlow(now) {
		t.Fatal("slow with a socket that took every write (the server was behind)")
	}
	q.pushedBack(now)
	if q.tooSlow(now) {
		t.Fatal("slow at the moment the socket first refused a write")
	}
	later := now + int64(2*time.Second)
	if !q.tooSlow(later) {
		t.Fatal("not slow with the oldest message unsent a while after the socket refused more")
	}
	if r := q.pushMessage(frameOf("new"), 2, later, true); r != refusedSlow {
		t.Fatalf("push to a slow queue: %v, want refusedSlow", r)
	}
	if r := q.pushMessage(frameOf("backlog"), 2, later, false); r != pushed {
		t.Fatalf("push without the rule (a backlog send): %v, want pushed", r)
	}
	// The goroutine of its own catches up: shared writers again, not slow.
	q.complete(q.take())
	if q.next() != nil {
		t.Fatal("next handed frames over with none queued")
	}
	if q.tooSlow(later) {
		t.Fatal("slow after catching up")
	}
}

// A close frame goes right behind the frame being written: what is queued
// is dropped, and nothing is queued after it.
func TestSendQueueCloseFrame(t *testing.T) {
	q, _, _ := newTestQueue(100, time.Hour)
	q.push(outFrame{b: frameOf("dropped")})
	closed := make(chan struct{})
	if !q.push(outFrame{b: frameOf("close"), closed: closed}) {
		t.Fatal("close frame refused")
	}
	if q.push(outFrame{b: frameOf("after")}) {
		t.Fatal("frame queued after the close frame")
	}
	second := make(chan struct{})
	if q.push(outFrame{b: frameOf("close2"), closed: second}) {
		t.Fatal("second close frame queued")
	}
	select {
	case <-second:
	default:
		t.Fatal("a refused close frame's channel was left open")
	}
	frames := q.take()
	if len(frames) != 1 || string(frames[0].b) != "close" {
		t.Fatalf("queue of %d frames, want only the close frame", len(frames))
	}
	if q.complete(frames) != closed || !q.closeWrittenWhole() || !q.refusesClose() {
		t.Fatal("the close frame written whole was not reported")
	}
}

// close releases everything pending from the pacer, including a queue at
// the limit that held the publisher back.
func TestSendQueueCloseReleasesPacing(t *testing.T) {
	q, p, _ := newTestQueue(3, time.Hour)
	now := time.Now().UnixNano()
	for pos := int64(1); pos <= 3; pos++ {
		q.pushMessage(frameOf("m"), pos, now, true)
	}
	if !p.backlogged() || p.full.Load() != 1 {
		t.Fatalf("a queue at its limit: backlogged %v, full %d; want true, 1", p.backlogged(), p.full.Load())
	}
	if !q.close() || q.close() {
		t.Fatal("close did not report the first call only")
	}
	if p.backlogged() || p.queued.Load() != 0 || p.backlog.Load() != 0 || p.full.Load() != 0 {
		t.Fatalf("after close: backlogged %v, queued %d, backlog %d, full %d; want all clear",
			p.backlogged(), p.queued.Load(), p.backlog.Load(), p.full.Load())
	}
	// Frames written after the release are not counted twice.
	q.complete(q.take())
	if p.queued.Load() != 0 {
		t.Fatalf("pacer queued %d after writing released frames, want 0", p.queued.Load())
	}
}

// A failed socket takes everything queued with it and ends the turn.
func TestSendQueueFail(t *testing.T) {
	q, _, starts := newTestQueue(100, time.Hour)
	q.push(outFrame{b: frameOf("a")})
	writing := q.take()
	closed := make(chan struct{})
	q.push(outFrame{b: frameOf("close"), closed: closed})
	left := q.fail(writing)
	if len(left) != 2 || left[1].closed != closed {
		t.Fatalf("fail returned %d frames, want the one written and the close frame", len(left))
	}
	if q.push(outFrame{b: frameOf("b")}) || *starts != 1 {
		t.Fatalf("queued after a failure (started %d times)", *starts)
	}
}

// BenchmarkSendQueue is one subscriber's share of a broadcast: a data
// message queued, taken by the writer, written and the turn ended.
func BenchmarkSendQueue(b *testing.B) {
	q, _, _ := newTestQueue(DefaultQueueLimit, time.Hour)
	frame := frameOf("0123456789abcdef0123456789")
	b.ReportAllocs()
	now := time.Now().UnixNano()
	pos := int64(0)
	for b.Loop() {
		pos++
		q.pushMessage(frame, pos, now, true)
		frames := q.take()
		q.complete(frames)
		q.finishTurn(frames)
	}
}
