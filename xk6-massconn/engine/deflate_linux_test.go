//go:build linux

package engine

import (
	"bytes"
	"compress/flate"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// Against the npm ws package with perMessageDeflate on (every message
// compressed): the negotiated extension, compressed JSON with latency, and
// compressed fragmented messages are all inflated by the loops' shared
// inflaters.
func TestCompressionAgainstNpmWS(t *testing.T) {
	url := testpeer.WSPeer(t, "DEFLATE=1")
	const n = 10
	p := dial(t, Config{
		URLs: []string{url}, Connections: n, Compression: true,
		OnOpenSend: "extensions",
		// The answer to "extensions" is compressed too: the reply only
		// goes out if it was inflated correctly.
		Replies: []Reply{{Match: "permessage-deflate", Prefix: true, Send: "push 20"}},
		Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond},
	})
	eventually(t, "the extension answer and 20 pushes per connection", func() bool {
		s := p.Stats()
		return s.Received == n*21 && s.Sent == 2*n
	})
	r := p.Drain()
	if r.LatencyCount != n*20 {
		t.Fatalf("latency measured on %d messages, want %d (compressed JSON not read)", r.LatencyCount, n*20)
	}
	if s := p.Stats(); s.Failed != 0 || s.Open != n {
		t.Fatalf("stats %+v", s)
	}

	frag := dial(t, Config{
		URLs: []string{url}, Connections: n, Compression: true, OnOpenSend: "fragpush 5",
		Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond},
	})
	eventually(t, "compressed fragmented messages", func() bool { return frag.Stats().Received == 5*n })
	if r := frag.Drain(); r.LatencyCount != 5*n || frag.Stats().Failed != 0 {
		t.Fatalf("fragmented: latency count %d, stats %+v", r.LatencyCount, frag.Stats())
	}
}

// A 1 MB message of one letter arrives as a few KB: proof that it came
// compressed. With MaxMessageSize below the inflated size, the tiny
// compressed frame is refused with 1009 after inflation.
func TestCompressedSizeAndInflatedLimit(t *testing.T) {
	url := testpeer.WSPeer(t, "DEFLATE=1")
	p := dial(t, Config{URLs: []string{url}, Connections: 1, Compression: true, OnOpenSend: "big 1000000"})
	eventually(t, "the big message", func() bool { return p.Stats().Received == 1 })
	if r := p.Drain(); r.BytesReceived > 100_000 {
		t.Fatalf("received %d bytes for a 1 MB message of one letter: not compressed", r.BytesReceived)
	}
	small := dial(t, Config{URLs: []string{url}, Connections: 1, Compression: true, OnOpenSend: "big 1000000", MaxMessageSize: 100_000})
	eventually(t, "a protocol failure", func() bool { return small.Stats().Failures[ReasonProtocol] == 1 })
	if s := small.Stats(); s.Received != 0 {
		t.Fatalf("an over-limit message was counted: %+v", s)
	}
}

// Against gws with compression: it compresses messages over its threshold
// and sends short ones plain, so both kinds arrive on one connection; its
// server_max_window_bits parameter is accepted.
func TestCompressionAgainstGWS(t *testing.T) {
	srv := startGWSServerWith(t, &gws.ServerOption{PermessageDeflate: gws.PermessageDeflate{
		Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true, Threshold: 512,
	}})
	const n = 5
	big := strings.Repeat("a", 10_000)
	p := dial(t, Config{
		URLs: []string{srv.url("/echo")}, Connections: n, Compression: true, OnOpenSend: big,
		Replies: []Reply{{Match: "aaaa", Prefix: true, Send: "done"}},
	})
	eventually(t, "the compressed echo and the plain one", func() bool {
		s := p.Stats()
		return s.Received == 2*n && s.Sent == 2*n
	})
	if r := p.Drain(); r.BytesReceived > n*2000 {
		t.Fatalf("received %d bytes for %d echoes of 10,000 letters: not compressed", r.BytesReceived, n)
	}
	if s := p.Stats(); s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// deflateServer answers the upgrade with the given extension response and
// then writes frames.
func deflateServer(t *testing.T, response string, frames ...[]byte) (string, chan int) {
	codes := make(chan int, 1)
	url := testpeer.RawServer(t, func(c net.Conn) {
		br := upgradeRaw(t, c, response)
		if br == nil {
			return
		}
		for _, f := range frames {
			_, _ = c.Write(f)
		}
		codes <- closeCodeFrom(br)
	})
	return url, codes
}

func deflated(t *testing.T, msg string) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	_, _ = w.Write([]byte(msg))
	_ = w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

func TestCompressionFailures(t *testing.T) {
	const ok = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
	compressedHi := deflated(t, "hi")
	for _, tc := range []struct {
		name     string
		response string
		frames   [][]byte
		reason   string
		code     int // close code the client sends; 0 = none (the attempt fails)
	}{
		{"server insists on context takeover", "Sec-WebSocket-Extensions: permessage-deflate\r\n", nil, ReasonCompression, 0},
		{"unknown parameter", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; foo\r\n", nil, ReasonHandshake, 0},
		{"unoffered extension", "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n", nil, ReasonHandshake, 0},
		{"RSV1 on a continuation", ok, [][]byte{
			serverFrame(false, 0x1, 1, []byte("a")),
			{0x80 | 0x40, 1, 'b'},
		}, ReasonProtocol, 1002},
		{"corrupt deflate data", ok, [][]byte{{0x80 | 0x40 | 0x1, 3, 0xff, 0xff, 0xff}}, ReasonProtocol, 1002},
		{"compressed invalid UTF-8", ok, [][]byte{
			append([]byte{0x80 | 0x40 | 0x1, byte(len(deflated(t, "\xff")))}, deflated(t, "\xff")...),
		}, ReasonProtocol, 1007},
		{"RSV1 on a control frame", ok, [][]byte{{0x80 | 0x40 | 0x9, 0}}, ReasonProtocol, 1002},
		{"good message, then close", ok, [][]byte{
			append([]byte{0x80 | 0x40 | 0x1, byte(len(compressedHi))}, compressedHi...),
		}, "", 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, codes := deflateServer(t, tc.response, tc.frames...)
			p := dial(t, Config{URLs: []string{url}, Connections: 1, Compression: true})
			if tc.reason == "" {
				eventually(t, "the message", func() bool { return p.Stats().Received == 1 })
				_ = p.Close(time.Second)
			} else {
				eventually(t, "failure "+tc.reason, func() bool { return p.Stats().Failures[tc.reason] == 1 })
			}
			if tc.code == 0 {
				return
			}
			waitClientClose(t, codes, tc.code)
		})
	}
}

// Without compression a compressed frame is a protocol violation.
func TestRSV1WithoutNegotiationIsAViolation(t *testing.T) {
	url, codes := deflateServer(t, "", append([]byte{0x80 | 0x40 | 0x1, 2}, "hi"...))
	p := dial(t, Config{URLs: []string{url}, Connections: 1})
	eventually(t, "a protocol failure", func() bool { return p.Stats().Failures[ReasonProtocol] == 1 })
	if code := <-codes; code != 1002 {
		t.Fatalf("client closed with %d, want 1002", code)
	}
}
