package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/massconn/massconn/xk6-massconn/engine/template"
	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

// The HTTP/1.1 side of an EventSource connection: the GET request made once
// per target, the response head's checks, and the body's framing (chunked,
// Content-Length or until the server closes). Pure, like the parser.

// sseRequest is the request of one http:// or https:// target, through
// its last header line; append ends it, with Last-Event-ID on a resume.
type sseRequest struct {
	head []byte
	// dynamic is head as a template when the URL or the headers have
	// per-connection variables (templates.go); nil = none.
	dynamic *template.Template
}

// newSSETarget prepares the request of a target; uri is its request-URI
// as a template when it has variables.
func newSSETarget(host, requestURI string, uri *template.Template, c Config) (*sseRequest, error) {
	req, err := newSSERequest(host, requestURI, c.Header)
	if err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	req.dynamic, err = headTemplate(requestURI, uri, c, func(uriText string) ([]byte, error) {
		r, err := newSSERequest(host, uriText, c.Header)
		return r.head, err
	})
	if err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	return &req, nil
}

// sseRequestFor appends the request of connection idx to target t.
func (p *Pool) sseRequestFor(dst []byte, t *target, idx int64, lastID []byte) []byte {
	if t.sse.dynamic == nil {
		return t.sse.append(dst, lastID)
	}
	dst = t.sse.dynamic.Render(dst, p.vars(idx))
	return sseRequest{}.append(dst, lastID)
}

// sseOwnedHeaders are set by the EventSource request itself.
var sseOwnedHeaders = []string{"Host", "Accept", "Cache-Control", "Last-Event-Id", "Connection", "Transfer-Encoding", "Content-Length"}

func newSSERequest(host, requestURI string, extra http.Header) (sseRequest, error) {
	var b bytes.Buffer
	if err := wsproto.WriteRequestLine(&b, host, requestURI); err != nil {
		return sseRequest{}, err
	}
	b.WriteString("Accept: text/event-stream\r\nCache-Control: no-cache\r\n")
	if err := wsproto.WriteHeaders(&b, extra, sseOwnedHeaders, "EventSource request"); err != nil {
		return sseRequest{}, err
	}
	return sseRequest{head: bytes.Clone(b.Bytes())}, nil
}

// append appends the whole request; lastID, when not empty, is sent as
// Last-Event-ID (the parser keeps it free of CR, LF and NUL).
func (r sseRequest) append(dst, lastID []byte) []byte {
	dst = append(dst, r.head...)
	if len(lastID) > 0 {
		dst = append(dst, "Last-Event-ID: "...)
		dst = append(dst, lastID...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// sseHead is what the response head says.
type sseHead struct {
	status      int
	eventStream bool  // Content-Type is text/event-stream
	chunked     bool  // Transfer-Encoding: chunked
	length      int64 // Content-Length; -1 = none
}

var errSSEHead = errors.New("malformed HTTP response head")

// parseSSEHead reads the status line and the headers the stream needs.
func parseSSEHead(head []byte) (sseHead, error) {
	h := sseHead{length: -1}
	var err error
	var rest []byte
	if h.status, rest, err = wsproto.StatusLine(head); err != nil {
		return h, errSSEHead
	}
	for {
		name, value, next, err := wsproto.NextHeader(rest)
		if err != nil {
			return h, errSSEHead
		}
		if name == nil {
			break
		}
		rest = next
		switch {
		case bytes.EqualFold(name, []byte("Content-Type")):
			mediaType, _, _ := bytes.Cut(value, []byte(";"))
			h.eventStream = bytes.EqualFold(bytes.TrimSpace(mediaType), []byte("text/event-stream"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			// chunked is the last coding when present (RFC 9112 section 6.1).
			last := value[bytes.LastIndexByte(value, ',')+1:]
			h.chunked = bytes.EqualFold(bytes.TrimSpace(last), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := asciiDigits(value)
			if !ok {
				return h, errSSEHead
			}
			h.length = n
		}
	}
	return h, nil
}

// Body framing states.
const (
	bodyUntilClose uint8 = iota // neither chunked nor a length: the body ends with the connection
	bodyLength                  // left bytes remain
	chunkSize                   // reading a chunk-size line's hex digits
	chunkExt                    // skipping a chunk extension up to LF
	chunkData                   // left bytes of chunk data remain
	chunkDataEnd                // the CRLF after chunk data
	chunkTrailer                // trailer lines after the last chunk; left = length of the current one
	bodyDone                    // the body is complete
)

// maxChunkSize bounds a chunk-size (hex digits) so that it cannot overflow.
const maxChunkSize = 1 << 40

var errChunked = errors.New("malformed chunked body")

// sseBody undoes the response's framing.
type sseBody struct {
	state  uint8
	digits uint8 // hex digits of the chunk size read so far
	left   int64
}

func newSSEBody(h sseHead) sseBody {
	switch {
	case h.chunked:
		return sseBody{state: chunkSize}
	case h.length >= 0:
		return sseBody{state: bodyLength, left: h.length}
	}
	return sseBody{state: bodyUntilClose}
}

// decode returns the body bytes in in, moved to its front (in is
// overwritten), and whether the body is complete.
func (b *sseBody) decode(in []byte) ([]byte, bool, error) {
	switch b.state {
	case bodyUntilClose:
		return in, false, nil
	case bodyLength:
		n := int64(len(in))
		if n >= b.left {
			n, b.state = b.left, bodyDone
		}
		b.left -= n
		return in[:n], b.state == bodyDone, nil
	}
	w := 0
	for i := 0; i < len(in) && b.state != bodyDone; {
		c := in[i]
		switch b.state {
		case chunkSize:
			if v, ok := hexValue(c); ok {
				if b.left = b.left<<4 | int64(v); b.left > maxChunkSize {
					return nil, false, errChunked
				}
				b.digits++
				i++
				continue
			}
			if b.digits == 0 {
				return nil, false, errChunked
			}
			b.state = chunkExt // ';' extensions, optional whitespace, CR: all skipped to the LF
		case chunkExt:
			i++
			if c == '\n' {
				b.digits = 0
				if b.left == 0 {
					b.state = chunkTrailer
				} else {
					b.state = chunkData
				}
			}
		case chunkData:
			n := min(int64(len(in)-i), b.left)
			w += copy(in[w:], in[i:i+int(n)])
			i += int(n)
			if b.left -= n; b.left == 0 {
				b.state = chunkDataEnd
			}
		case chunkDataEnd:
			i++
			switch c {
			case '\r':
			case '\n':
				b.state = chunkSize
			default:
				return nil, false, errChunked
			}
		case chunkTrailer:
			i++
			switch c {
			case '\r':
			case '\n':
				if b.left == 0 {
					b.state = bodyDone
				}
				b.left = 0
			default:
				b.left++
			}
		}
	}
	return in[:w], b.state == bodyDone, nil
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
