package wsapi

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/internal/wstest"
)

// goroutinesAfter returns how many more goroutines run than base once the
// count has settled (goroutines that are ending take a moment to go).
func goroutinesAfter(base int) int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			break
		}
		n = m
	}
	return n - base
}

// An idle connection (the client sends nothing) needs no goroutine: a
// read loop parked per connection is 2 KB of stack and a 480-byte
// descriptor, half of what an idle connection costs otherwise.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	const n = 300
	_, h, addr := startListener(t, Config{})
	warm := wstest.RawHandshake(t, addr, "/ws?topic=Track", nil) // the first one starts the poller
	waitSubscribers(t, h, 1)
	base := goroutinesAfter(0)
	for range n {
		wstest.RawHandshake(t, addr, "/ws?topic=Track", nil)
	}
	waitSubscribers(t, h, n+1)
	if extra := goroutinesAfter(base); extra > n/10 {
		t.Errorf("%d idle connections started %d goroutines, want none per connection", n, extra)
	}
	_ = warm
}

// parkedSubscriber connects one raw client and returns it with its
// subscriber, once the server holds it.
func parkedSubscriber(t *testing.T, a *API, h *hub.Hub, addr string) (*wstest.RawConn, *hub.Subscriber) {
	t.Helper()
	raw := wstest.RawHandshake(t, addr, "/ws?topic=Track", nil)
	waitSubscribers(t, h, 1)
	parked := a.parker.sessions()
	if len(parked) != 1 {
		t.Fatalf("%d connections parked, want the 1 open", len(parked))
	}
	return raw, parked[0].sub
}

// Pongs, the one frame an idle client sends (the answer to the server's
// pings), are read without waking a goroutine and still prove the client
// alive: a parked connection stays parked, and its last-seen time moves.
func TestParkedConnectionTakesPongsWithoutAGoroutine(t *testing.T) {
	a, h, addr := startListener(t, Config{})
	raw, sub := parkedSubscriber(t, a, h, addr)
	base := goroutinesAfter(0)
	pong := wstest.MaskedFrame(true, 0xA, []byte("p"))
	for _, write := range [][]byte{
		pong,
		append(bytes.Clone(pong), pong...), // two in one segment
		wstest.MaskedFrame(true, 0xA, nil),
		wstest.MaskedFrame(true, 0xA, bytes.Repeat([]byte("x"), 125)),
	} {
		seen := sub.LastSeen()
		time.Sleep(2 * time.Millisecond) // the clock must move for the check below
		if _, err := raw.Write(write); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(wstest.Timeout)
		for !sub.LastSeen().After(seen) {
			if time.Now().After(deadline) {
				t.Fatalf("pong %x not taken: last seen still %v", write, seen)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if extra := goroutinesAfter(base); extra > 0 {
		t.Errorf("pongs started %d goroutines, want 0", extra)
	}
	if n := parkedGauge(t, a); n != 1 {
		t.Errorf("massconn_connections_parked %v, want 1", n)
	}
	// Still a healthy connection: a message reaches it.
	h.Publish("Track", 1, []byte(`{"id":1}`))
	_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
	f, err := raw.ReadFrame()
	if err != nil || string(f.Payload) != `{"id":1}` {
		t.Fatalf("after pongs: frame %q, %v", f.Payload, err)
	}
}

// Every frame but a whole pong is gws's to read, from its first byte,
// however the bytes arrive: the parked connection hands over to a read
// loop, which answers as it always did.
func TestParkedConnectionHandsOtherFramesToGws(t *testing.T) {
	ping := wstest.MaskedFrame(true, 0x9, []byte("hello"))
	pong := wstest.MaskedFrame(true, 0xA, []byte("p"))
	closeFrame := wstest.MaskedFrame(true, 0x8, []byte{0x03, 0xe8})
	tests := []struct {
		name   string
		writes [][]byte
		pong   bool   // the server answers with a pong "hello"
		code   uint16 // else the server closes with this code
	}{
		{"ping", [][]byte{ping}, true, 0},
		{"pong then ping in one segment", [][]byte{append(bytes.Clone(pong), ping...)}, true, 0},
		{"pong cut in two", [][]byte{pong[:3], pong[3:], ping}, true, 0},
		{"ping cut after its first byte", [][]byte{ping[:1], ping[1:]}, true, 0},
		{"close", [][]byte{closeFrame}, false, 1000},
		{"pong then close", [][]byte{append(bytes.Clone(pong), closeFrame...)}, false, 1000},
		{"unmasked pong", [][]byte{{0x8A, 0x00}}, false, 1002},
		{"pong without FIN", [][]byte{{0x0A, 0x80, 1, 2, 3, 4}}, false, 1002},
		{"pong with a reserved bit", [][]byte{{0xCA, 0x80, 1, 2, 3, 4}}, false, 1002},
		{"pong of 126 bytes", [][]byte{wstest.MaskedFrame(true, 0xA, make([]byte, 126))}, false, 1002},
		{"text message then ping", [][]byte{wstest.MaskedFrame(true, 0x1, []byte("hi")), ping}, true, 0},
		{"invalid UTF-8", [][]byte{wstest.MaskedFrame(true, 0x1, []byte{0xff})}, false, 1007},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, h, addr := startListener(t, Config{})
			raw, _ := parkedSubscriber(t, a, h, addr)
			for _, w := range tt.writes {
				if _, err := raw.Write(w); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond) // separate segments
			}
			_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
			f, err := raw.ReadFrame()
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if n := parkedGauge(t, a); n != 0 {
				t.Errorf("massconn_connections_parked %v after the hand-over, want 0", n)
			}
			if tt.pong {
				if f.Opcode != 0xA || string(f.Payload) != "hello" {
					t.Fatalf("got opcode %x %q, want a pong \"hello\"", f.Opcode, f.Payload)
				}
				return
			}
			if f.Opcode != 0x8 || f.CloseCode() != tt.code {
				t.Fatalf("got opcode %x code %d %q, want close %d", f.Opcode, f.CloseCode(), f.Payload, tt.code)
			}
			waitConns(t, a, 0)
		})
	}
}

// parkedGauge reads massconn_connections_parked as a scrape would.
func parkedGauge(t *testing.T, a *API) float64 {
	t.Helper()
	return testutil.ToFloat64(a.metrics.Parked)
}

func waitConns(t *testing.T, a *API, n int64) {
	t.Helper()
	wstest.WaitCount(t, "connections open", a.Conns, n)
}

// A parked connection has no read loop to notice its socket closing, so
// every way the hub ends a connection by itself must still end it here:
// it leaves the hub and the connection count.
func TestHubEndsParkedConnections(t *testing.T) {
	tests := []struct {
		name string
		end  func(h *hub.Hub, sub *hub.Subscriber)
		code uint16 // the close frame the client reads; 0: none
	}{
		{"close frame", func(_ *hub.Hub, sub *hub.Subscriber) { sub.Close(4000, "bye", time.Second) }, 4000},
		{"ping timeout", func(h *hub.Hub, _ *hub.Subscriber) {
			time.Sleep(2 * time.Millisecond)
			h.PingAll(time.Millisecond)
		}, 0},
		{"shutdown past its deadline", func(h *hub.Hub, _ *hub.Subscriber) {
			past := time.Now().Add(-time.Second)
			h.CloseAll(1001, "going", past, past, time.Second)
		}, 0},
		{"shutdown", func(h *hub.Hub, _ *hub.Subscriber) {
			soon := time.Now().Add(time.Second)
			h.CloseAll(1001, "going", soon, soon, time.Second)
		}, 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, h, addr := startListener(t, Config{})
			raw, sub := parkedSubscriber(t, a, h, addr)
			tt.end(h, sub)
			code, err := raw.ReadUntilClose()
			if err != nil || code != tt.code {
				t.Fatalf("client read close %d, %v; want %d", code, err, tt.code)
			}
			waitSubscribers(t, h, 0)
			waitConns(t, a, 0)
		})
	}
}

// Close gives every parked connection its read loop back, and they go on
// working.
func TestCloseResumesParkedReads(t *testing.T) {
	a, h, addr := startListener(t, Config{})
	raw, _ := parkedSubscriber(t, a, h, addr)
	a.Close()
	if _, err := raw.Write(wstest.MaskedFrame(true, 0x9, []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
	f, err := raw.ReadFrame()
	if err != nil || f.Opcode != 0xA || string(f.Payload) != "hello" {
		t.Fatalf("after Close: opcode %x %q, %v; want a pong \"hello\"", f.Opcode, f.Payload, err)
	}
	a.Close() // twice is harmless
}

// wholePongs decides what the poller reads off the wire itself: it must
// count only whole, valid client pongs, from the start, and never past
// the input.
func FuzzWholePongs(f *testing.F) {
	pong := wstest.MaskedFrame(true, 0xA, []byte("p"))
	f.Add(pong)
	f.Add(append(bytes.Clone(pong), pong[:3]...))
	f.Add(append(bytes.Clone(pong), wstest.MaskedFrame(true, 0x9, nil)...))
	f.Add(wstest.MaskedFrame(true, 0xA, make([]byte, 125)))
	f.Add([]byte{0x8A, 0xFE, 0, 126})
	f.Fuzz(func(t *testing.T, b []byte) {
		used := wholePongs(b)
		if used < 0 || used > len(b) {
			t.Fatalf("used %d of %d bytes", used, len(b))
		}
		// Walk the counted bytes frame by frame, by the RFC's rules for a
		// client's pong.
		for i := 0; i < used; {
			if b[i] != 0x8A {
				t.Fatalf("byte %d is %#x: not FIN+pong", i, b[i])
			}
			if b[i+1]&0x80 == 0 {
				t.Fatalf("frame at %d is not masked", i)
			}
			n := int(b[i+1] & 0x7f)
			if n > 125 {
				t.Fatalf("frame at %d has a %d-byte payload", i, n)
			}
			i += 6 + n
			if i > used {
				t.Fatalf("frame ends at %d, past the %d counted", i, used)
			}
		}
		// What follows is not a whole pong.
		if rest := b[used:]; len(rest) > 0 && wholePongs(rest) != 0 {
			t.Fatalf("stopped at %d before another whole pong", used)
		}
	})
}
