package fanout

import (
	"bytes"
	"fmt"
)

// maxSSELine bounds one line and one event's data: a stream that never
// ends a line must not grow the bench client without bound.
const maxSSELine = 1 << 20

var utf8BOM = []byte("\xEF\xBB\xBF")

// sseParser reads an event stream as the WHATWG EventSource spec does,
// from chunks cut anywhere: lines end at CR, LF or CRLF (a CRLF may be
// split between two chunks); a BOM at the start of the stream is dropped;
// a line starting with ':' is a comment; "data" lines are joined by "\n"
// and a blank line dispatches them as one event (none when the event had
// no data line). The bench counts every event whatever its type, so
// "event", "id" and "retry" are read and ignored.
type sseParser struct {
	line    []byte // the unfinished line
	data    []byte // the current event's data lines, joined by '\n'
	hasData bool   // a data line was seen since the last dispatch
	afterCR bool   // the last line ended at a CR: an LF next ends nothing
	started bool   // the first line (and its BOM) is behind
}

// feed parses the next chunk of the stream and calls event with each
// complete event's data; data is reused after event returns.
func (p *sseParser) feed(b []byte, event func(data []byte)) error {
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
		p.endLine(event)
	}
	if len(p.line) > maxSSELine || len(p.data) > maxSSELine {
		return fmt.Errorf("event stream line or event longer than %d bytes", maxSSELine)
	}
	return nil
}

func (p *sseParser) endLine(event func(data []byte)) {
	line := p.line
	p.line = p.line[:0]
	if !p.started {
		p.started = true
		line = bytes.TrimPrefix(line, utf8BOM)
	}
	switch {
	case len(line) == 0:
		if p.hasData {
			event(p.data)
		}
		p.data, p.hasData = p.data[:0], false
		return
	case line[0] == ':':
		return
	}
	field, value := line, []byte(nil)
	if j := bytes.IndexByte(line, ':'); j >= 0 {
		field, value = line[:j], line[j+1:]
		value = bytes.TrimPrefix(value, []byte(" "))
	}
	if string(field) == "data" {
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	}
}
