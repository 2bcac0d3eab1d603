package hub

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/server/internal/wstest"
)

func TestEncodeEvent(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"json", `{"a":1}`, "id: 0000000000000000042\ndata: {\"a\":1}\n\n"},
		{"empty", ``, "id: 0000000000000000042\ndata: \n\n"},
		{"LF", "a\nb", "id: 0000000000000000042\ndata: a\ndata: b\n\n"},
		{"CRLF", "a\r\nb", "id: 0000000000000000042\ndata: a\ndata: b\n\n"},
		{"CR", "a\rb\r", "id: 0000000000000000042\ndata: a\ndata: b\ndata: \n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SSE.message(42, []byte(tt.payload))
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := SSE.message(1, []byte{0xff}); !errors.Is(err, gws.ErrTextEncoding) {
		t.Errorf("invalid UTF-8: %v, want gws.ErrTextEncoding (counted as invalid_utf8)", err)
	}
	if n := SSELen(7); n != len("id: 0000000000000000042\ndata: {\"a\":1}\n\n") {
		t.Errorf("SSELen(7) = %d", n)
	}
	// MessageLen is the length of what message writes, per transport.
	for _, tr := range Transports {
		got, err := tr.message(42, []byte(`{"a":1}`))
		if err != nil || tr.MessageLen(7) != len(got) {
			t.Errorf("%s: MessageLen(7) = %d, message writes %d bytes (%v)", tr, tr.MessageLen(7), len(got), err)
		}
	}
}

// sseServer accepts TCP connections and joins each to h as an SSE
// subscriber of every topic; it returns the address to dial.
func sseServer(t *testing.T, h *Hub) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.JoinStream(c, SSE, h.allTopics(), false, 0, nil)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, s := range h.all() {
			h.Leave(s)
			s.closeSocket()
		}
	})
	return ln.Addr().String()
}

func dialN(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}

// The SSE heartbeat shares the ping slots: with a fake clock stepping
// through one interval, each SSE subscriber gets one keep-alive, at a
// phase drawn uniformly at random, and WebSocket pings skip them.
func TestHeartbeatSpreadsOverTheInterval(t *testing.T) {
	h := newHub(t, Options{})
	addr := sseServer(t, h)
	const n = 1000
	dialN(t, addr, n)
	waitLen(t, h, n)
	if pinged, _ := h.PingAll(time.Hour); pinged != 0 {
		t.Errorf("WebSocket pings went to %d SSE subscribers", pinged)
	}
	const interval = 15 * time.Second
	start := time.Now()
	p := h.NewHeartbeat(interval, start)
	var perSlot [PingSlots]int
	for k := range PingSlots {
		pinged, reaped := p.Tick(start.Add(time.Duration(k) * p.Period()))
		if reaped != 0 {
			t.Fatalf("the heartbeat closed %d subscribers: SSE clients are never heard from, silence is no verdict", reaped)
		}
		perSlot[k] = pinged
	}
	total := 0
	chi2 := 0.0
	const expected = float64(n) / PingSlots
	for _, c := range perSlot {
		total += c
		chi2 += (float64(c) - expected) * (float64(c) - expected) / expected
	}
	if total != n {
		t.Fatalf("one interval sent %d keep-alives, want each of the %d subscribers once", total, n)
	}
	// Uniform phases give a chi-square with 99 degrees of freedom: mean 99,
	// deviation 14; 200 is seven deviations out. All in one slot: 99,000.
	if chi2 > 200 {
		t.Errorf("keep-alives per slot are not uniform (chi-square %.0f over 99 degrees of freedom): %v", chi2, perSlot)
	}
	// A late tick catches up on the missed slots, each subscriber once.
	if pinged, _ := p.Tick(start.Add(2*interval - time.Nanosecond)); pinged != n {
		t.Errorf("a tick one interval late sent %d keep-alives, want %d", pinged, n)
	}
}

// An SSE subscriber gets its events and keep-alives as text/event-stream
// lines, and a close writes nothing: the stream ends after what was queued
// before it.
func TestSSESubscriberStreamAndClose(t *testing.T) {
	h := newHub(t, Options{})
	addr := sseServer(t, h)
	c := dialN(t, addr, 1)[0]
	waitLen(t, h, 1)
	h.Publish("Track", 7, []byte(`{"n":1}`))
	h.PingAll(time.Hour) // WebSocket only: nothing for SSE
	h.NewHeartbeat(time.Second, time.Now()).Tick(time.Now().Add(time.Second))
	h.Publish("Album", 9, []byte(`{"n":2}`))
	h.Publish("Album", 8, []byte(`{"n":3}`)) // stale: dropped
	sub := h.all()[0]
	for sub.Pending() > 0 {
		time.Sleep(time.Millisecond)
	}
	sub.Close(1001, "server shutting down", time.Second)
	_ = c.SetReadDeadline(time.Now().Add(wstest.Timeout))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	want := "id: 0000000000000000007\ndata: {\"n\":1}\n\n:\n\nid: 0000000000000000009\ndata: {\"n\":2}\n\n"
	if string(got) != want {
		t.Errorf("stream\n got %q\nwant %q", got, want)
	}
	if strings.Contains(string(got), "\x88") {
		t.Error("a WebSocket close frame went to an SSE client")
	}
	if st := h.StatsOf(SSE); st.Messages != 2 || st.Subscribers != 1 {
		t.Errorf("SSE stats %+v, want 2 messages to 1 subscriber", st)
	}
}
