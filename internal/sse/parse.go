// Package sse reads a text/event-stream as the WHATWG HTML standard's
// "Interpreting an event stream" (section 9.2.6) does, from chunks cut
// anywhere: lines end at CR, LF or CRLF (a CRLF may be split between two
// chunks); one byte order mark at the start of the stream is dropped; a
// line starting with ':' is a comment; "data" lines are joined by LF and a
// blank line dispatches them as one event (none when the event had no
// data line); "event" names the event's type; "id" sets the last event ID
// unless its value holds a NUL; "retry" of ASCII digits sets the
// reconnection time; other fields are ignored.
//
// It is the root module's one parser of event streams: the bench client
// (cmd/massconn-bench) and the server's tests (server/internal/ssetest)
// read with it. It has no sockets and no clock, so it is fuzzed on its
// own. Invalid UTF-8 passes through as it is rather than becoming U+FFFD:
// the callers compare bytes and decode JSON, for which a replacement
// changes nothing useful.
package sse

import (
	"bytes"
	"fmt"
	"math"
)

// DefaultMaxLen bounds one line and one event's data when Parser.MaxLen
// is 0: a stream that never ends a line or an event must not grow its
// reader without bound.
const DefaultMaxLen = 1 << 20

// fieldSlack is what a line may have over MaxLen for its field name and
// colon: MaxLen bounds the value.
const fieldSlack = 64

// maxRetryMillis is where a retry value saturates: longer than any
// reconnect anyone waits for, and far from overflowing.
const maxRetryMillis = math.MaxInt32

// Event is one dispatched event. Its slices are the parser's: valid only
// during the OnEvent call.
type Event struct {
	// Type is the "event" field; empty for the default type, "message".
	Type []byte
	// Data are the event's data lines joined by LF.
	Data []byte
	// ID is the last event ID when the event was dispatched: the latest
	// "id" field of the stream so far (not only of this event).
	ID []byte
}

// Parser holds one stream's state between chunks. The zero value is ready
// to use; every callback may be nil. Callbacks run synchronously inside
// Feed.
type Parser struct {
	// OnEvent gets each dispatched event.
	OnEvent func(Event)
	// OnComment gets each comment line's text after the ':' (a server's
	// keep-alive, typically empty).
	OnComment func(text []byte)
	// OnRetry gets the reconnection time of each valid "retry" field, in
	// milliseconds.
	OnRetry func(ms int64)
	// MaxLen bounds an event's data and a line's value (a line may be
	// fieldSlack longer, for its field name); 0 = DefaultMaxLen.
	MaxLen int

	line    []byte // the unfinished line
	data    []byte // the event's data lines, each followed by LF
	typ     []byte // the event's type
	idBuf   []byte // the last event ID buffer: set by "id", committed at a blank line
	lastID  []byte // the last event ID string: what a reconnect sends as Last-Event-ID
	afterCR bool   // the last line ended at a CR: an LF next ends nothing
	started bool   // the first line (and its BOM) is behind
}

var utf8BOM = []byte("\xEF\xBB\xBF")

// Feed parses the next chunk of the stream. An error (a line or an
// event's data over MaxLen) ends the stream: the parser is not usable
// after it.
func (p *Parser) Feed(b []byte) error {
	for len(b) > 0 {
		if p.afterCR {
			p.afterCR = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			p.line = append(p.line, b...)
			break
		}
		p.line = append(p.line, b[:i]...)
		p.afterCR = b[i] == '\r'
		b = b[i+1:]
		if err := p.endLine(); err != nil {
			return err
		}
	}
	return p.checkLine(p.line)
}

// LastEventID is the last event ID string: the "id" committed by the
// latest blank line, which an EventSource sends back as Last-Event-ID.
func (p *Parser) LastEventID() []byte { return p.lastID }

func (p *Parser) maxLen() int {
	if p.MaxLen > 0 {
		return p.MaxLen
	}
	return DefaultMaxLen
}

func (p *Parser) checkLine(line []byte) error {
	if len(line) > p.maxLen()+fieldSlack {
		return fmt.Errorf("event stream: a line longer than %d bytes", p.maxLen()+fieldSlack)
	}
	return nil
}

// endLine interprets the line just ended.
func (p *Parser) endLine() error {
	line := p.line
	p.line = p.line[:0]
	if !p.started {
		p.started = true
		line = bytes.TrimPrefix(line, utf8BOM)
	}
	if err := p.checkLine(line); err != nil {
		return err
	}
	switch {
	case len(line) == 0:
		p.dispatch()
		return nil
	case line[0] == ':':
		if p.OnComment != nil {
			p.OnComment(line[1:])
		}
		return nil
	}
	field, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	switch string(field) {
	case "data":
		if len(p.data)+len(value) > p.maxLen() {
			return fmt.Errorf("event stream: an event's data longer than %d bytes", p.maxLen())
		}
		p.data = append(append(p.data, value...), '\n')
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.idBuf = append(p.idBuf[:0], value...)
		}
	case "retry":
		if ms, ok := retryMillis(value); ok && p.OnRetry != nil {
			p.OnRetry(ms)
		}
	}
	return nil
}

// dispatch ends the event at a blank line: the last event ID is committed
// whether or not the event has data; an event without a data line is
// dropped.
func (p *Parser) dispatch() {
	p.lastID = append(p.lastID[:0], p.idBuf...)
	if len(p.data) > 0 && p.OnEvent != nil {
		p.OnEvent(Event{Type: p.typ, Data: p.data[:len(p.data)-1], ID: p.lastID})
	}
	p.data, p.typ = p.data[:0], p.typ[:0]
}

// retryMillis reads a retry field: one or more ASCII digits, nothing else.
func retryMillis(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int64(c-'0'), maxRetryMillis)
	}
	return n, true
}
