package hub

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/server/internal/wstest"
)

// queuedServerReading is server with gws given each hijacked socket
// wrapped in QueuedConn, as the real API does; with read false no read
// loop starts, so what the client sends stays unread in the server's
// socket (a server too busy to read its pongs in time).
func queuedServerReading(t *testing.T, h *Hub, read bool) string {
	t.Helper()
	up := gws.NewUpgrader(events{h}, &gws.ServerOption{
		NewSession: func() gws.SessionStorage { return &session{} },
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(wrappingHijacker{w}, r)
		if err != nil {
			return
		}
		conn.Session().(*session).sub = h.Join(conn, h.allTopics())
		if read {
			go conn.ReadLoop()
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

type wrappingHijacker struct{ http.ResponseWriter }

func (w wrappingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return NewQueuedConn(c, wstest.Timeout), rw, nil
}

// stalledSubscriber connects a client that reads nothing yet and fills its
// socket with n messages of 64 KB, so that the subscriber's writes block
// part-way through a frame.
func stalledSubscriber(t *testing.T, n int) (*Hub, *Subscriber, *wstest.RawConn) {
	t.Helper()
	return stalledSubscriberReading(t, n, true)
}

// stalledSubscriberReading is stalledSubscriber, with the server's read
// loop running or not (queuedServerReading).
func stalledSubscriberReading(t *testing.T, n int, read bool) (*Hub, *Subscriber, *wstest.RawConn) {
	t.Helper()
	h := newHub(t, Options{Shards: 1, QueueLimit: 1 << 20, SlowAfter: time.Hour})
	addr := queuedServerReading(t, h, read)
	raw := wstest.RawHandshake(t, addr, "/ws", &net.Dialer{Control: wstest.SmallReceiveBuffer})
	waitLen(t, h, 1)
	sub := only(t, h)[0]
	for i := 1; i <= n; i++ {
		h.Publish("Track", int64(i), bigMsg(int64(i), 64<<10))
	}
	waitPushedBack(t, sub)
	return h, sub, raw
}

// waitPushedBack waits until the socket has refused part of a write to
// sub: a frame is in progress, blocked on the client.
func waitPushedBack(t *testing.T, sub *Subscriber) {
	t.Helper()
	deadline := time.Now().Add(wstest.Timeout)
	for {
		sub.q.mu.Lock()
		pushedBack := sub.q.pushedBackAt != 0
		sub.q.mu.Unlock()
		if pushedBack {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the socket took every write: the client's buffers did not fill")
		}
		time.Sleep(time.Millisecond)
	}
}

// readMessages reads whole messages, in order and without a gap, up to
// the first frame that is not a message, which it returns.
func readMessages(t *testing.T, raw *wstest.RawConn) (last int64, other wstest.Frame) {
	t.Helper()
	_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
	for {
		f, err := raw.ReadFrame()
		if err != nil {
			t.Fatalf("after message %d: %v", last, err)
		}
		if f.Opcode != 0x1 {
			return last, f
		}
		var m struct {
			Topic string `json:"topic"`
			ID    int64  `json:"id"`
		}
		if err := json.Unmarshal(f.Payload, &m); err != nil || m.Topic != "Track" {
			t.Fatalf("after message %d: not a whole message (%v): %.80q", last, err, f.Payload)
		}
		if last > 0 && m.ID != last+1 {
			t.Fatalf("message %d after message %d", m.ID, last)
		}
		last = m.ID
	}
}

// Frames gws writes itself once the connection joined go through the
// subscriber's queue: a ping behind everything queued before it, a close
// frame right after the frame being written (dropping the rest), and
// WriteClose returns once the close frame is written.
func TestGwsWritesGoThroughTheQueue(t *testing.T) {
	const n = 200
	_, sub, raw := stalledSubscriber(t, n)
	if sub.raw == nil {
		t.Fatal("a plain TCP connection under QueuedConn has no raw socket: it lost the shared writers' fast path")
	}
	// Queued, so it returns although the client reads nothing yet.
	pinged := make(chan error, 1)
	go func() { pinged <- sub.Conn().WritePing([]byte("gws")) }()
	select {
	case err := <-pinged:
		if err != nil {
			t.Fatalf("WritePing: %v", err)
		}
	case <-time.After(wstest.Timeout):
		t.Fatal("WritePing waits for a client that reads nothing: it did not go to the queue")
	}
	last, f := readMessages(t, raw)
	if last != n || f.Opcode != 0x9 || string(f.Payload) != "gws" {
		t.Fatalf("after message %d got opcode %#x %q, want gws's ping right after message %d", last, f.Opcode, f.Payload, n)
	}

	h := sub.hub
	for i := n + 1; i <= 2*n; i++ {
		h.Publish("Track", int64(i), bigMsg(int64(i), 64<<10))
	}
	waitPushedBack(t, sub)
	closed := make(chan error, 1)
	go func() { closed <- sub.Conn().WriteClose(4000, []byte("gws closes")) }()
	// The close frame is queued once the subscriber is closing; then the
	// client reads.
	for !sub.Closing() {
		time.Sleep(time.Millisecond)
	}
	got, f := readMessages(t, raw)
	if f.Opcode != 0x8 || f.CloseCode() != 4000 {
		t.Fatalf("after message %d got opcode %#x code %d, want close 4000", got, f.Opcode, f.CloseCode())
	}
	if got <= n {
		t.Fatalf("close after message %d: the frame in progress (a message after %d) was not finished", got, n)
	}
	if err := <-closed; err != nil {
		t.Fatalf("WriteClose: %v", err)
	}
	if f, err := raw.ReadFrame(); err == nil {
		t.Fatalf("frame %#x after the close frame", f.Opcode)
	}
	waitLen(t, h, 0)
}

// gws closes its socket after a write, also after a refused one: when the
// hub had queued its own close frame (a shutdown, a slow client) and the
// client's close crossed it, gws's Close must wait for the hub's close
// frame instead of cutting it off.
func TestQueuedConnCloseWaitsForTheQueuedCloseFrame(t *testing.T) {
	h, sub, raw := stalledSubscriber(t, 200)
	closed := make(chan struct{})
	go func() {
		sub.Close(1001, "bye", wstest.Timeout)
		close(closed)
	}()
	for {
		sub.q.mu.Lock()
		queued := sub.q.closeQueued
		sub.q.mu.Unlock()
		if queued {
			break
		}
		time.Sleep(time.Millisecond)
	}
	gwsClosed := make(chan error, 1)
	go func() { gwsClosed <- sub.Conn().NetConn().Close() }()
	if _, f := readMessages(t, raw); f.Opcode != 0x8 || f.CloseCode() != 1001 {
		t.Fatalf("got opcode %#x code %d, want the hub's close 1001", f.Opcode, f.CloseCode())
	}
	<-closed
	if err := <-gwsClosed; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Close: %v", err)
	}
	waitLen(t, h, 0)
}

// Before the connection joins, QueuedConn is the socket: gws writes its upgrade
// response (or refusal) straight through it.
func TestQueuedConnWritesStraightThroughBeforeJoin(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := NewQueuedConn(server, 0)
	go func() {
		_, _ = c.Write([]byte("HTTP/1.1 101"))
		_ = c.Close()
	}()
	b := make([]byte, 12)
	if _, err := client.Read(b); err != nil || string(b) != "HTTP/1.1 101" {
		t.Fatalf("read %q, %v", b, err)
	}
	if c.closeTimeout != DefaultSlowCloseTimeout {
		t.Errorf("close timeout %v for 0, want the default %v", c.closeTimeout, DefaultSlowCloseTimeout)
	}
}
