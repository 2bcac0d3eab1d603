//go:build linux

package engine

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// upgradeRaw answers the upgrade request on c and returns a reader of the
// client's frames.
func upgradeRaw(t testing.TB, c net.Conn, extraHeaders string) *bufio.Reader {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil
	}
	_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+acceptFor(req.Header.Get("Sec-WebSocket-Key"))+"\r\n"+extraHeaders+"\r\n")
	if err != nil {
		return nil
	}
	return br
}

// serverFrame builds an unmasked frame header (and payload) as a server sends it.
func serverFrame(fin bool, op byte, length int, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var out []byte
	switch {
	case length <= 125:
		out = []byte{b0, byte(length)}
	case length <= 0xFFFF:
		out = []byte{b0, 126, byte(length >> 8), byte(length)}
	default:
		out = binary.BigEndian.AppendUint64([]byte{b0, 127}, uint64(length))
	}
	return append(out, payload...)
}

// readClientFrame reads one masked client frame and returns its opcode and
// unmasked payload.
func readClientFrame(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	var key [4]byte
	if _, err := io.ReadFull(br, key[:]); err != nil {
		return 0, nil, err
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return 0, nil, err
	}
	for i := range payload {
		payload[i] ^= key[i&3]
	}
	return h[0] & 0x0F, payload, nil
}

// waitClientClose waits for the close code a raw server read from the
// client (closeCodeFrom) and checks it.
func waitClientClose(t *testing.T, codes <-chan int, want int) {
	t.Helper()
	select {
	case code := <-codes:
		if code != want {
			t.Fatalf("client closed with %d, want %d", code, want)
		}
	case <-time.After(eventuallyFor):
		t.Fatal("no close frame from the client")
	}
}

// closeCodeFrom reads client frames until a close frame and returns its code.
func closeCodeFrom(br *bufio.Reader) int {
	for {
		op, payload, err := readClientFrame(br)
		if err != nil {
			return -1
		}
		if op == 0x8 && len(payload) >= 2 {
			return int(binary.BigEndian.Uint16(payload))
		}
	}
}

// A server announcing a 16 MiB frame and sending only its first KiB must
// not make the client allocate 16 MiB.
func TestAnnouncedFrameIsNotAllocatedUpFront(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	url := testpeer.RawServer(t, func(c net.Conn) {
		if upgradeRaw(t, c, "") == nil {
			return
		}
		first := serverFrame(true, 0x1, 2, []byte("hi"))
		huge := serverFrame(true, 0x2, 16<<20, make([]byte, 1024))
		_, _ = c.Write(append(first, huge...))
		<-hold
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := dial(t, Config{URLs: []string{url}, Connections: 1})
	eventually(t, "the first message", func() bool { return p.Stats().Received == 1 })
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes while the 16 MiB frame's first KiB arrived", grew)
	if grew > 4<<20 {
		t.Fatalf("the client allocated %d bytes for a frame of which 1 KiB arrived", grew)
	}
	if s := p.Stats(); s.Open != 1 || s.Failed != 0 {
		t.Fatalf("a frame within the limit must not fail: %+v", s)
	}
}

// Over MaxMessageSize the client closes with 1009 at the header, before
// the payload arrives, and counts a protocol failure.
func TestFrameOverMaxMessageSizeCloses1009(t *testing.T) {
	codes := make(chan int, 1)
	url := testpeer.RawServer(t, func(c net.Conn) {
		br := upgradeRaw(t, c, "")
		if br == nil {
			return
		}
		_, _ = c.Write(serverFrame(true, 0x2, 16<<20, make([]byte, 10)))
		codes <- closeCodeFrom(br)
	})
	p := dial(t, Config{URLs: []string{url}, Connections: 1, MaxMessageSize: 1 << 20})
	waitClientClose(t, codes, 1009)
	eventually(t, "a protocol failure", func() bool { return p.Stats().Failures[ReasonProtocol] == 1 })
}

// Fragments of one message count towards the limit together.
func TestFragmentsOverMaxMessageSizeClose1009(t *testing.T) {
	codes := make(chan int, 1)
	url := testpeer.RawServer(t, func(c net.Conn) {
		br := upgradeRaw(t, c, "")
		if br == nil {
			return
		}
		_, _ = c.Write(serverFrame(false, 0x2, 600, make([]byte, 600)))
		_, _ = c.Write(serverFrame(true, 0x0, 600, make([]byte, 10))) // announced, not sent
		codes <- closeCodeFrom(br)
	})
	p := dial(t, Config{URLs: []string{url}, Connections: 1, MaxMessageSize: 1000})
	waitClientClose(t, codes, 1009)
	eventually(t, "a protocol failure", func() bool { return p.Stats().Failures[ReasonProtocol] == 1 })
}

// Received text must be UTF-8 (RFC 6455 section 8.1), checked on the whole
// message: a character split across fragments is fine, invalid bytes or a
// truncated character are a protocol failure closed with 1007.
func TestTextMustBeUTF8(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames [][]byte
		valid  bool
	}{
		{"invalid single frame", [][]byte{serverFrame(true, 0x1, 2, []byte{0xff, 0xfe})}, false},
		{"character split across fragments", [][]byte{
			serverFrame(false, 0x1, 2, []byte{'a', 0xc3}), serverFrame(true, 0x0, 1, []byte{0xa9}),
		}, true},
		{"truncated character at the end", [][]byte{
			serverFrame(false, 0x1, 2, []byte{'a', 0xc3}), serverFrame(true, 0x0, 0, nil),
		}, false},
		{"binary is not checked", [][]byte{serverFrame(true, 0x2, 2, []byte{0xff, 0xfe})}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			codes := make(chan int, 1)
			url := testpeer.RawServer(t, func(c net.Conn) {
				br := upgradeRaw(t, c, "")
				if br == nil {
					return
				}
				for _, f := range tc.frames {
					_, _ = c.Write(f)
				}
				// A valid message is followed by "end", then the server
				// waits for the client's close.
				_, _ = c.Write(serverFrame(true, 0x1, 3, []byte("end")))
				codes <- closeCodeFrom(br)
			})
			p := dial(t, Config{URLs: []string{url}, Connections: 1})
			if tc.valid {
				eventually(t, "both messages", func() bool { return p.Stats().Received == 2 })
				if s := p.Stats(); s.Failed != 0 {
					t.Fatalf("valid message failed: %+v", s)
				}
				_ = p.Close(time.Second)
				if code := <-codes; code != 1000 {
					t.Fatalf("close code %d, want 1000", code)
				}
				return
			}
			waitClientClose(t, codes, 1007)
			eventually(t, "a protocol failure", func() bool { return p.Stats().Failures[ReasonProtocol] == 1 })
			if s := p.Stats(); s.Received != 0 {
				t.Fatalf("an invalid message was counted as received: %+v", s)
			}
		})
	}
}

// A server that stops reading while the client has much to send: the
// per-connection queue stops at SendQueueLimit and the connection ends
// with reason backpressure, instead of buffering without bound.
func TestSendQueueIsBounded(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	url := testpeer.RawServer(t, func(c net.Conn) {
		if upgradeRaw(t, c, "") == nil {
			return
		}
		// 2,000 small messages, each answered with 64 KiB: 128 MiB the
		// client wants to send, more than the socket buffers take.
		var burst []byte
		for range 2000 {
			burst = append(burst, serverFrame(true, 0x1, 1, []byte("x"))...)
		}
		_, _ = c.Write(burst)
		<-hold // never read
	})
	big := strings.Repeat("y", 64<<10)
	p := dial(t, Config{
		URLs: []string{url}, Connections: 1, SendQueueLimit: 256 << 10,
		Replies: []Reply{{Match: "x", Send: big}},
	})
	eventually(t, "a backpressure failure", func() bool { return p.Stats().Failures[ReasonBackpressure] == 1 })
	if s := p.Stats(); s.Open != 0 {
		t.Fatalf("the connection stayed open: %+v", s)
	}
}
