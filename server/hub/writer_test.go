package hub

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/server/internal/wstest"
)

func bigMsg(pos int64, size int) []byte {
	return []byte(fmt.Sprintf(`{"topic":"Track","id":%d,"row":{"c":%q}}`, pos, strings.Repeat("x", size)))
}

func only(t *testing.T, h *Hub) []*Subscriber {
	t.Helper()
	var subs []*Subscriber
	for k := range h.shards {
		subs = append(subs, h.shards[k].subs...)
	}
	return subs
}

// Every frame to a connection goes through its queue: data in position
// order, with pings and pongs between them, never interleaved, also when
// frames are big enough that writes end part-way and move to the
// subscriber's own goroutine.
func TestWriterKeepsOrderPerConnection(t *testing.T) {
	h := newHub(t, Options{Shards: 3, QueueLimit: 1 << 20})
	url := server(t, h)
	var clients []*wstest.Client
	for range 6 {
		clients = append(clients, wstest.Dial(t, url+"?topic=Track"))
	}
	waitLen(t, h, 6)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Clients ping while the stream runs; the pongs come back through the
	// same queue (the test server answers with Pong).
	for _, c := range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = c.Conn.WritePing([]byte("p"))
				time.Sleep(time.Millisecond)
			}
		})
	}
	const n = 600
	for i := int64(1); i <= n; i++ {
		size := 20
		if i%7 == 0 {
			size = 200000 // more than a socket buffer takes at once
		}
		if got := h.Publish("Track", i, bigMsg(i, size)); got != len(clients) {
			t.Fatalf("message %d queued to %d subscribers, want %d", i, got, len(clients))
		}
		if i%50 == 0 {
			h.PingAll(time.Hour)
		}
	}
	for k, c := range clients {
		msgs := c.WaitMessages(t, n)
		for i, m := range msgs {
			if m.ID != int64(i+1) {
				t.Fatalf("client %d: message %d has id %d, want %d", k, i, m.ID, i+1)
			}
		}
		if bad := c.Undecodable(); len(bad) > 0 {
			t.Fatalf("client %d got %d undecodable messages, first %.100q", k, len(bad), bad[0])
		}
	}
	close(stop)
	wg.Wait()
	for _, c := range clients {
		if c.Closed() {
			t.Fatalf("a client was closed: %v", c.CloseErr())
		}
	}
}

// One client that never reads fills its socket buffer; the other
// subscribers of the same writer (one shard, so one writer) still get
// every message, and closing the stalled one ends its blocked write.
func TestStalledClientDoesNotBlockOthers(t *testing.T) {
	h := newHub(t, Options{Shards: 1, QueueLimit: 1 << 20, SlowAfter: time.Hour})
	url := server(t, h)
	stalled := wstest.RawHandshake(t, strings.TrimPrefix(url, "ws://"), "/ws?topic=Track", nil)
	waitLen(t, h, 1)
	stalledSub := only(t, h)[0]
	readers := []*wstest.Client{wstest.Dial(t, url+"?topic=Track"), wstest.Dial(t, url+"?topic=Track")}
	waitLen(t, h, 3)
	if len(h.writers) != 1 {
		t.Fatalf("%d writers for one shard, want 1", len(h.writers))
	}
	// 200 messages of 64 KB: 12.8 MB, far more than the stalled client's
	// socket buffers hold.
	const n = 200
	for i := int64(1); i <= n; i++ {
		h.Publish("Track", i, bigMsg(i, 64<<10))
	}
	for k, c := range readers {
		if got := len(c.WaitMessages(t, n)); got != n {
			t.Fatalf("reader %d got %d of %d", k, got, n)
		}
	}
	if stalledSub.Pending() == 0 {
		t.Fatal("the stalled client has nothing pending: the test did not stall it")
	}
	// Closing while its write is blocked: the close's write deadline ends
	// that write, the socket is closed, the queue is released.
	done := make(chan struct{})
	go func() {
		stalledSub.Close(1001, "bye", 100*time.Millisecond)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wstest.Timeout):
		t.Fatal("Close of a stalled subscriber did not return")
	}
	waitLen(t, h, 2)
	if st := h.Stats(); st.Backlog != 0 {
		t.Errorf("backlog %d after the stalled client left, want 0", st.Backlog)
	}
	_ = stalled.Close()
}

// Subscribers closed, left and reaped while messages are being written to
// them: every Close returns, nothing is written after a close frame, and
// the backlog and pacing are released.
func TestCloseWhileWriting(t *testing.T) {
	h := newHub(t, Options{Shards: 2, QueueLimit: 1 << 20})
	url := server(t, h)
	var clients []*wstest.Client
	for range 12 {
		clients = append(clients, wstest.Dial(t, url+"?topic=Track"))
	}
	waitLen(t, h, 12)
	subs := only(t, h)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := int64(1); i <= 300; i++ {
			h.Publish("Track", i, bigMsg(i, 10000))
		}
	})
	for i, s := range subs {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				s.Close(1001, "bye", time.Second)
			case 1:
				h.Leave(s)
				_ = s.conn.NetConn().Close()
			default:
				s.Close(1000, "done", time.Second)
				s.Close(1000, "twice", time.Second)
			}
		})
	}
	wg.Wait()
	for _, c := range clients {
		c.WaitClose(t)
	}
	waitLen(t, h, 0)
	if st := h.Stats(); st.Backlog != 0 || h.Backlogged() {
		t.Errorf("after every subscriber left: backlog %d, backlogged %v", st.Backlog, h.Backlogged())
	}
}

func TestEncodeFrameHeaders(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 70000} {
		f, err := encodeFrame(1, []byte(strings.Repeat("a", n)))
		if err != nil {
			t.Fatal(err)
		}
		var hdr, got int
		switch {
		case f[1] < 126:
			hdr, got = 2, int(f[1])
		case f[1] == 126:
			hdr, got = 4, int(f[2])<<8|int(f[3])
		default:
			hdr = 10
			for i := 2; i < 10; i++ {
				got = got<<8 | int(f[i])
			}
		}
		if f[0] != 0x81 || got != n || len(f) != hdr+n {
			t.Errorf("payload %d: first byte %#x, length field %d, frame %d bytes", n, f[0], got, len(f))
		}
	}
	if _, err := encodeFrame(1, []byte{0xff}); err == nil {
		t.Error("invalid UTF-8 text accepted")
	}
}
