package sse

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// record is what a parse reports, in order, one string per callback:
// "event TYPE|ID|DATA", "comment TEXT", "retry MS".
func record(p *Parser, got *[]string) {
	p.OnEvent = func(e Event) { *got = append(*got, fmt.Sprintf("event %s|%s|%s", e.Type, e.ID, e.Data)) }
	p.OnComment = func(text []byte) { *got = append(*got, "comment "+string(text)) }
	p.OnRetry = func(ms int64) { *got = append(*got, fmt.Sprint("retry ", ms)) }
}

// parseAll feeds the chunks in order and returns what the callbacks got.
func parseAll(t *testing.T, chunks ...[]byte) []string {
	t.Helper()
	var p Parser
	var got []string
	record(&p, &got)
	for _, c := range chunks {
		if err := p.Feed(c); err != nil {
			t.Fatalf("feed: %v", err)
		}
	}
	return got
}

func TestParser(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"LF", "id: 1\ndata: {\"id\":1}\n\n", []string{`event |1|{"id":1}`}},
		{"CRLF", "id: 1\r\ndata: a\r\n\r\ndata: b\r\n\r\n", []string{"event |1|a", "event |1|b"}},
		{"CR", "data: a\r\rdata: b\r\r", []string{"event ||a", "event ||b"}},
		{"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", []string{"event ||a\nb\nc"}},
		{"data lines joined", "data: one\ndata: two\n\n", []string{"event ||one\ntwo"}},
		{"comments", ": heartbeat\n\n:\n\ndata: x\n: in between\n\n", []string{"comment  heartbeat", "comment ", "comment  in between", "event ||x"}},
		{"no space after colon", "data:x\n\n", []string{"event ||x"}},
		{"only the first space dropped", "data:  x\n\n", []string{"event || x"}},
		{"empty data is an event", "data\n\ndata:\n\n", []string{"event ||", "event ||"}},
		{"no data, no event", "id: 5\nevent: ping\nretry: 10\n\n", []string{"retry 10"}},
		{"event type, reset after dispatch", "event: update\ndata: u\n\ndata: m\n\n", []string{"event update||u", "event ||m"}},
		{"type of an event without data dropped", "event: x\n\ndata: m\n\n", []string{"event ||m"}},
		{"id kept for later events", "id: 7\ndata: a\n\ndata: b\n\n", []string{"event |7|a", "event |7|b"}},
		{"empty id resets", "id: 7\ndata: a\n\nid\ndata: b\n\n", []string{"event |7|a", "event ||b"}},
		{"id with NUL ignored", "id: 7\ndata: a\n\nid: 8\x009\ndata: b\n\n", []string{"event |7|a", "event |7|b"}},
		{"id set after data, in the same event", "data: a\nid: 3\n\n", []string{"event |3|a"}},
		{"retry digits only", "retry: 2500\nretry: 1e3\nretry: -1\nretry: \nretry:12 \nretry: 0\n", []string{"retry 2500", "retry 0"}},
		{"retry saturates", "retry: 99999999999999999999999\n", []string{"retry 2147483647"}},
		{"BOM at the start", "\xEF\xBB\xBFdata: a\n\n", []string{"event ||a"}},
		{"BOM only at the start", "data: a\n\n\xEF\xBB\xBFdata: b\n\n", []string{"event ||a"}},
		{"unfinished event not dispatched", "data: a\n\ndata: b\n", []string{"event ||a"}},
		{"unknown field ignored", "foo: bar\ndata: a\n\n", []string{"event ||a"}},
		{"field names are case-sensitive", "Data: a\nDATA: b\ndata: c\n\n", []string{"event ||c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseAll(t, []byte(tc.in)); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// LastEventID is the id a blank line committed: an id line of an event
// not yet ended does not count.
func TestParserLastEventID(t *testing.T) {
	var p Parser
	for _, step := range []struct{ in, want string }{
		{"id: 1\ndata: a\n", ""},
		{"\n", "1"},
		{"id: 2\n", "1"},
		{"\n", "2"}, // committed by a blank line even without data
		{"id\n\n", ""},
	} {
		if err := p.Feed([]byte(step.in)); err != nil {
			t.Fatal(err)
		}
		if got := string(p.LastEventID()); got != step.want {
			t.Fatalf("after %q: LastEventID %q, want %q", step.in, got, step.want)
		}
	}
}

func TestParserRefusesAnEndlessLineOrEvent(t *testing.T) {
	p := Parser{MaxLen: 10}
	if err := p.Feed(bytes.Repeat([]byte("x"), 10+fieldSlack+1)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("a line longer than %d bytes", 10+fieldSlack)) {
		t.Errorf("endless line: %v", err)
	}
	p = Parser{MaxLen: 10}
	if err := p.Feed([]byte("data: 12345\ndata: 1234\n\n")); err != nil {
		t.Errorf("an event of exactly MaxLen bytes: %v", err)
	}
	if err := p.Feed([]byte("data: 12345\ndata: 12345\n")); err == nil || !strings.Contains(err.Error(), "data longer than 10 bytes") {
		t.Errorf("event over MaxLen: %v", err)
	}
	var zero Parser
	if err := zero.Feed(bytes.Repeat([]byte("x"), DefaultMaxLen+fieldSlack+1)); err == nil {
		t.Error("a line over DefaultMaxLen was accepted")
	}
}

// reference is a second, simpler reading of a whole stream, from the
// standard's steps: line ends normalised first, then split on LF, then
// each line interpreted with strings.
func reference(in []byte) []string {
	s := strings.TrimPrefix(string(in), "\xEF\xBB\xBF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	lines = lines[:len(lines)-1] // the last one is unfinished
	var out []string
	var data, typ, idBuf, lastID string
	for _, l := range lines {
		if l == "" {
			lastID = idBuf
			if data != "" {
				out = append(out, "event "+typ+"|"+lastID+"|"+strings.TrimSuffix(data, "\n"))
			}
			data, typ = "", ""
			continue
		}
		if l[0] == ':' {
			out = append(out, "comment "+l[1:])
			continue
		}
		field, value, _ := strings.Cut(l, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data += value + "\n"
		case "event":
			typ = value
		case "id":
			if !strings.Contains(value, "\x00") {
				idBuf = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				var n int64
				for _, c := range value {
					n = min(n*10+int64(c-'0'), maxRetryMillis)
				}
				out = append(out, fmt.Sprint("retry ", n))
			}
		}
	}
	return out
}

// The stream arrives in chunks cut anywhere: split at every byte, and one
// byte at a time, it gives what a whole read gives, and that is what the
// reference reading gives.
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"id: 1\ndata: {\"id\":1,\"ts\":2}\n\n",
		"id: 1\r\ndata: a\r\ndata: b\r\n\r\n: c\r\n\r\n",
		"data: a\r\rdata: b\r\n\n",
		"\xEF\xBB\xBFdata: x\n\n",
		":\n\nevent: e\ndata\n\n",
		"id: a\x00b\ndata: x\n\nretry: 10\nretry: x\nid\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return
		}
		whole := parseAll(t, in)
		if want := reference(in); !slices.Equal(whole, want) {
			t.Fatalf("%q: got %q, reference %q", in, whole, want)
		}
		for k := range len(in) + 1 {
			if got := parseAll(t, in[:k], in[k:]); !slices.Equal(got, whole) {
				t.Fatalf("%q split at %d: got %q, whole %q", in, k, got, whole)
			}
		}
		bytewise := make([][]byte, len(in))
		for i := range in {
			bytewise[i] = in[i : i+1]
		}
		if got := parseAll(t, bytewise...); !slices.Equal(got, whole) {
			t.Fatalf("%q byte by byte: got %q, whole %q", in, got, whole)
		}
	})
}
