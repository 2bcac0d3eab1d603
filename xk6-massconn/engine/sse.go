package engine

import (
	"bytes"
	"errors"
	"time"
)

// This file is the EventSource stream parser, as the WHATWG HTML standard
// describes it ("Interpreting an event stream", section 9.2.6): lines end in
// CRLF, LF or CR; one leading byte order mark is dropped; "data:" lines are
// joined by LF; "event:" names the event's type; "id:" sets the last event
// ID unless it contains NUL; "retry:" of ASCII digits sets the reconnection
// time; a line starting with ':' is a comment; an empty line dispatches the
// event. It is pure (no sockets, no clock), so that it is fuzzed on its own.
//
// Invalid UTF-8 is passed through as it is rather than replaced by U+FFFD:
// the bytes of an event only reach JSON lookups (latency, sequence) and a
// type filter, for which a replacement changes nothing useful.

// errSSETooBig is an event, or a line, longer than MaxMessageSize.
var errSSETooBig = errors.New("event stream: event larger than maxMessageSize")

// sseSink receives what the parser finds, synchronously: data and typ are
// valid only during the call.
type sseSink interface {
	// sseEvent is one dispatched event; typ is empty for the default
	// type, "message".
	sseEvent(typ, data []byte)
	// sseComment is a comment line, a server's keep-alive.
	sseComment()
}

// sseParser holds a stream's parse state between reads. Between reads an
// idle stream holds no buffer: pending, data and event are nil unless a
// line or an event straddles reads.
type sseParser struct {
	pending []byte // an incomplete line, or the first bytes while a BOM may be coming
	data    []byte // the data buffer of the event being built
	event   []byte // its event type buffer
	// lastID is the last event ID buffer, kept only with keepID (it is
	// what a reconnect sends as Last-Event-ID).
	lastID []byte
	// retry is the last reconnection time the server asked for; 0 = none.
	retry   time.Duration
	limit   int64
	keepID  bool
	started bool // the BOM check is done
	afterCR bool // the previous line ended with CR: a leading LF is its CRLF
}

func newSSEParser(limit int64, keepID bool) sseParser {
	return sseParser{limit: limit, keepID: keepID}
}

// restart prepares the parser for a new response body (a reconnect): the
// last event ID and the reconnection time outlive the stream, nothing else.
func (p *sseParser) restart() {
	p.pending, p.data, p.event = nil, nil, nil
	p.started, p.afterCR = false, false
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// feed parses the next bytes of the body. scratch is a buffer the caller
// lends for the data of events that begin and end within in; it is grown
// and handed back, so that an event costs no allocation.
func (p *sseParser) feed(in []byte, scratch *[]byte, sink sseSink) error {
	if !p.started {
		head := in
		if len(p.pending) > 0 || len(in) < len(utf8BOM) {
			head = append(p.pending, in...)
		}
		if len(head) < len(utf8BOM) && bytes.HasPrefix(utf8BOM, head) {
			p.pending = head
			return nil
		}
		p.started = true
		p.pending = nil
		in = bytes.TrimPrefix(head, utf8BOM)
	}
	borrowed := p.data == nil
	if borrowed {
		p.data = (*scratch)[:0]
	}
	err := p.lines(in, sink)
	if borrowed {
		*scratch = p.data[:0]
		if len(p.data) > 0 && err == nil {
			p.data = bytes.Clone(p.data)
		} else {
			p.data = nil
		}
	} else if len(p.data) == 0 {
		p.data = nil
	}
	if len(p.event) == 0 {
		p.event = nil
	}
	return err
}

// lines splits in into lines, joining the incomplete line of the previous
// read, and keeps the incomplete tail.
func (p *sseParser) lines(in []byte, sink sseSink) error {
	if p.afterCR && len(in) > 0 {
		p.afterCR = false
		if in[0] == '\n' {
			in = in[1:]
		}
	}
	for len(in) > 0 {
		end := bytes.IndexAny(in, "\r\n")
		if end < 0 {
			if int64(len(p.pending)+len(in)) > p.limit+maxFieldName {
				return errSSETooBig
			}
			p.pending = append(p.pending, in...)
			return nil
		}
		line := in[:end]
		if len(p.pending) > 0 {
			p.pending = append(p.pending, line...)
			line = p.pending
		}
		next := end + 1
		if in[end] == '\r' {
			if next == len(in) {
				p.afterCR = true
			} else if in[next] == '\n' {
				next++
			}
		}
		in = in[next:]
		err := p.line(line, sink)
		p.pending = p.pending[:0]
		if err != nil {
			return err
		}
	}
	if len(p.pending) == 0 {
		p.pending = nil
	}
	return nil
}

// maxFieldName is the slack a pending line gets over MaxMessageSize for its
// field name and colon.
const maxFieldName = 64

// line interprets one complete line.
func (p *sseParser) line(line []byte, sink sseSink) error {
	if len(line) == 0 {
		p.dispatch(sink)
		return nil
	}
	if line[0] == ':' {
		sink.sseComment()
		return nil
	}
	field, value, found := bytes.Cut(line, []byte{':'})
	if found && len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	switch string(field) {
	case "data":
		if int64(len(p.data)+len(value)) > p.limit {
			return errSSETooBig
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "event":
		p.event = append(p.event[:0], value...)
	case "id":
		if p.keepID && bytes.IndexByte(value, 0) < 0 {
			p.lastID = append(p.lastID[:0], value...)
			if len(p.lastID) == 0 {
				p.lastID = nil
			}
		}
	case "retry":
		if ms, ok := asciiDigits(value); ok {
			p.retry = time.Duration(ms) * time.Millisecond
		}
	}
	return nil
}

// dispatch ends the event being built: with data it goes to the sink
// (without the data buffer's last LF); without, it is dropped.
func (p *sseParser) dispatch(sink sseSink) {
	if len(p.data) > 0 {
		sink.sseEvent(p.event, p.data[:len(p.data)-1])
	}
	p.data = p.data[:0]
	p.event = p.event[:0]
}

// asciiDigits reads a retry value: ASCII digits only, at most a day so
// that it cannot overflow.
func asciiDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n = n*10 + int64(c-'0'); n > maxRetryMillis {
			n = maxRetryMillis
		}
	}
	return n, true
}

// maxRetryMillis caps a server's retry: a day.
const maxRetryMillis = int64(24 * time.Hour / time.Millisecond)
