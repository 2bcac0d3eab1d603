package engine

import (
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recordSink collects what the parser dispatches.
type recordSink struct {
	events   []string // "type|data"
	comments int
}

func (r *recordSink) sseEvent(typ, data []byte) {
	r.events = append(r.events, string(typ)+"|"+string(data))
}
func (r *recordSink) sseComment() { r.comments++ }

// parsed is everything a stream tells a client.
type parsed struct {
	events   []string
	comments int
	lastID   string
	retry    time.Duration
}

// referenceParse interprets a whole stream the way the WHATWG text reads,
// step by step, over a string: the oracle the incremental parser is held
// to.
func referenceParse(stream string) parsed {
	var out parsed
	stream = strings.TrimPrefix(stream, "\uFEFF")
	lines := regexp.MustCompile("\r\n|\r|\n").Split(stream, -1)
	lines = lines[:len(lines)-1] // the last piece has no line end: discarded at the end of the stream
	var data, event, lastID strings.Builder
	for _, line := range lines {
		switch {
		case line == "":
			if data.Len() > 0 {
				out.events = append(out.events, event.String()+"|"+strings.TrimSuffix(data.String(), "\n"))
			}
			data.Reset()
			event.Reset()
			continue
		case line[0] == ':':
			out.comments++
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data.WriteString(value + "\n")
		case "event":
			event.Reset()
			event.WriteString(value)
		case "id":
			if !strings.Contains(value, "\x00") {
				lastID.Reset()
				lastID.WriteString(value)
			}
		case "retry":
			if regexp.MustCompile(`^[0-9]+$`).MatchString(value) {
				ms, err := strconv.ParseInt(value, 10, 64)
				if err != nil || ms > maxRetryMillis { // too long: capped at a day
					ms = maxRetryMillis
				}
				out.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	out.lastID = lastID.String()
	return out
}

// parseInPieces feeds stream to a fresh parser cut at the given offsets.
func parseInPieces(t testing.TB, stream string, cuts ...int) parsed {
	p := newSSEParser(1<<20, true)
	var sink recordSink
	var scratch []byte
	prev := 0
	for _, c := range append(cuts, len(stream)) {
		// A copy per piece, as a read buffer is reused.
		if err := p.feed([]byte(stream[prev:c]), &scratch, &sink); err != nil {
			t.Fatalf("feed: %v", err)
		}
		prev = c
	}
	return parsed{events: sink.events, comments: sink.comments, lastID: string(p.lastID), retry: p.retry}
}

var sseStreams = []string{
	"data: hello\n\n",
	"data: hello\r\n\r\n",
	"data: hello\r\rdata: two\r\r",
	"\uFEFFdata: after a BOM\n\n",
	"\uFEFF\uFEFFdata: only one BOM is dropped\n\n",
	"data: line one\ndata: line two\n\n",
	"data\n\n",                 // a field with no colon: an empty data line
	"data:\ndata:\n\n",         // two empty lines: data "\n"
	"data:  two spaces\n\n",    // only one space is dropped
	"event: add\ndata: {}\n\n", // typed
	"event: add\n\ndata: default again\n\n",
	": keep-alive\n\n: another\r\n",
	"id: 7\ndata: x\n\nid: 8\n\n",      // an id without data still sets the last ID
	"id: 9\ndata: x\n\nid: a\x00b\n\n", // an id with NUL is ignored
	"id\n\n",                           // an empty id clears it
	"retry: 1500\n\nretry: 15x\n\nretry: \n\n",
	"data: no end of event\n", // discarded at the end
	"data: no end of line",    // discarded
	"foo: unknown field\ndata: kept\n\n",
	"data: a\r\n\r\ndata: b\n\rdata: c\r\r\n\n", // mixed line ends
	"DATA: field names are case-sensitive\n\n",
	"data:{\"ts\":1}\n\n",
}

func TestSSEParserFollowsTheSpec(t *testing.T) {
	cases := map[string]parsed{
		"data: hello\r\rdata: two\r\r":                  {events: []string{"|hello", "|two"}},
		"data:\ndata:\n\n":                              {events: []string{"|\n"}},
		"event: add\n\ndata: default again\n\n":         {events: []string{"|default again"}},
		"id: 9\ndata: x\n\nid: a\x00b\n\n":              {events: []string{"|x"}, lastID: "9"},
		"retry: 1500\n\nretry: 15x\n\nretry: \n\n":      {retry: 1500 * time.Millisecond},
		"data: a\r\n\r\ndata: b\n\rdata: c\r\r\n\n":     {events: []string{"|a", "|b", "|c"}},
		"\uFEFF\uFEFFdata: only one BOM is dropped\n\n": {}, // the second one makes the field name unknown
		": keep-alive\n\n: another\r\n":                 {comments: 2},
	}
	for stream, want := range cases {
		if got := parseInPieces(t, stream); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v, want %+v", stream, got, want)
		}
	}
	for _, stream := range sseStreams {
		checkAgainstReference(t, stream)
	}
}

// checkAgainstReference parses stream whole, cut at every byte (in two),
// and byte by byte, and compares each with the reference.
func checkAgainstReference(t *testing.T, stream string) {
	t.Helper()
	want := referenceParse(stream)
	if got := parseInPieces(t, stream); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q whole: got %+v, want %+v", stream, got, want)
	}
	for cut := 1; cut < len(stream); cut++ {
		if got := parseInPieces(t, stream, cut); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q cut at %d: got %+v, want %+v", stream, cut, got, want)
		}
	}
	bytewise := make([]int, 0, len(stream))
	for i := 1; i < len(stream); i++ {
		bytewise = append(bytewise, i)
	}
	if got := parseInPieces(t, stream, bytewise...); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q byte by byte: got %+v, want %+v", stream, got, want)
	}
}

func FuzzSSEParser(f *testing.F) {
	for _, s := range sseStreams {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stream string) {
		checkAgainstReference(t, stream)
	})
}

func TestSSEParserBoundsAnEvent(t *testing.T) {
	p := newSSEParser(10, false)
	var sink recordSink
	var scratch []byte
	if err := p.feed([]byte("data: 0123456789\n\n"), &scratch, &sink); err != nil {
		t.Fatalf("an event of exactly the limit: %v", err)
	}
	err := p.feed([]byte("data: 01234\ndata: 56789\n\n"), &scratch, &sink)
	if !errors.Is(err, errSSETooBig) {
		t.Fatalf("two lines over the limit together: %v, want errSSETooBig", err)
	}
	p = newSSEParser(10, false)
	long := "data: " + strings.Repeat("x", 200) // no line end yet: refused before it is buffered
	if err := p.feed([]byte(long), &scratch, &sink); !errors.Is(err, errSSETooBig) {
		t.Fatalf("an unterminated line over the limit: %v, want errSSETooBig", err)
	}
}

func TestSSEParserKeepsNoBufferBetweenWholeEvents(t *testing.T) {
	p := newSSEParser(1<<20, true)
	var sink recordSink
	var scratch []byte
	if err := p.feed([]byte("id: 1\ndata: x\n\n: ping\n"), &scratch, &sink); err != nil {
		t.Fatal(err)
	}
	if p.pending != nil || p.data != nil || p.event != nil {
		t.Fatalf("an idle stream holds buffers: pending %q data %q event %q", p.pending, p.data, p.event)
	}
	if string(p.lastID) != "1" {
		t.Fatalf("last ID %q, want 1", p.lastID)
	}
	p = newSSEParser(1<<20, false)
	_ = p.feed([]byte("id: 1\ndata: x\n\n"), &scratch, &sink)
	if p.lastID != nil {
		t.Fatalf("without reconnect the last ID is kept: %q", p.lastID)
	}
}
