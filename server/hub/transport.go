package hub

import (
	"bytes"
	"unicode/utf8"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/server/pgsource"
)

// Transport is how a subscriber's connection frames what the hub writes
// to it: a published message, a keep-alive and the end of the stream. The
// queues, writers, pacing and slow-client rule are the same for every
// transport; only the bytes differ, and a broadcast encodes its message
// once per transport, not once per subscriber.
type Transport uint8

const (
	// WebSocket frames: a text frame per message, a ping as keep-alive, a
	// close frame with code and reason at the end.
	WebSocket Transport = iota
	// SSE is a text/event-stream response body: "id: POS\ndata: JSON\n\n"
	// per message, a comment line as keep-alive, and no frame at the end:
	// the stream ends when the socket is closed (after what was queued
	// before the close is written).
	SSE
	numTransports
)

// Transports are every transport, in label order.
var Transports = [...]Transport{WebSocket, SSE}

// String is the transport's name in metrics and /healthz.
func (t Transport) String() string {
	if t == SSE {
		return "sse"
	}
	return "ws"
}

// sseKeepAlive is the comment line an SSE subscriber gets as keep-alive:
// EventSource clients ignore it, and it proves the stream alive.
var sseKeepAlive = []byte(":\n\n")

// wsPing is the ping frame, encoded once.
var wsPing, _ = encodeFrame(gws.OpcodePing, nil)

// message frames payload, the message at position pos. An error (invalid
// UTF-8, larger than maxFramePayload) means no client could read it.
func (t Transport) message(pos int64, payload []byte) ([]byte, error) {
	if t == SSE {
		return encodeEvent(pos, payload)
	}
	return encodeFrame(gws.OpcodeText, payload)
}

// keepAlive is what the hub writes to prove the connection alive.
func (t Transport) keepAlive() []byte {
	if t == SSE {
		return sseKeepAlive
	}
	return wsPing
}

// closeFrame is written last before the socket is closed: a WebSocket
// close frame with code and reason, nothing for SSE (an event stream has
// no close message; the client sees the response end).
func (t Transport) closeFrame(code uint16, reason string) ([]byte, error) {
	if t == SSE {
		return []byte{}, nil
	}
	if len(reason) > 123 {
		reason = reason[:123] // a control frame's payload is at most 125 bytes
	}
	payload := append([]byte{byte(code >> 8), byte(code)}, reason...)
	return encodeFrame(gws.OpcodeCloseConnection, payload)
}

// encodeEvent builds one server-sent event: the position as its id (what
// the client sends back as Last-Event-ID to resume) and the payload as its
// data. A payload with line breaks (the server's JSON has none) becomes
// one data line per line, which EventSource joins back with "\n".
func encodeEvent(pos int64, payload []byte) ([]byte, error) {
	if !utf8.Valid(payload) {
		return nil, gws.ErrTextEncoding
	}
	if len(payload) > maxFramePayload {
		return nil, gws.ErrMessageTooLarge
	}
	id := pgsource.FormatPos(pos)
	b := make([]byte, 0, len("id: \ndata: \n\n")+len(id)+len(payload))
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, '\n')
	if bytes.ContainsAny(payload, "\r\n") {
		for _, line := range splitLines(payload) {
			b = append(b, "data: "...)
			b = append(b, line...)
			b = append(b, '\n')
		}
	} else {
		b = append(b, "data: "...)
		b = append(b, payload...)
		b = append(b, '\n')
	}
	return append(b, '\n'), nil
}

// splitLines cuts b at CRLF, LF and CR, as an EventSource reads lines.
func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			return append(lines, b)
		}
		lines = append(lines, b[:i])
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
	}
}

// MessageLen is the bytes on the wire of what the hub writes on this
// transport for a message of n payload bytes (FrameLen or SSELen).
func (t Transport) MessageLen(n int) int {
	if t == SSE {
		return SSELen(n)
	}
	return FrameLen(n)
}

// SSELen is the bytes on the wire of the event the hub writes for a
// payload of n bytes (without line breaks): what benchmarks size the
// floor's write with.
func SSELen(n int) int {
	return len("id: \ndata: \n\n") + len(pgsource.FormatPos(0)) + n
}
