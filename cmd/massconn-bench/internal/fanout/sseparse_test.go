package fanout

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// parseAll feeds the chunks in order and returns the events' data.
func parseAll(t *testing.T, chunks ...[]byte) []string {
	t.Helper()
	var p sseParser
	var got []string
	for _, c := range chunks {
		if err := p.feed(c, func(d []byte) { got = append(got, string(d)) }); err != nil {
			t.Fatalf("feed: %v", err)
		}
	}
	return got
}

func TestSSEParser(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"LF", "id: 1\ndata: {\"id\":1}\n\n", []string{`{"id":1}`}},
		{"CRLF", "id: 1\r\ndata: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}},
		{"CR", "data: a\r\rdata: b\r\r", []string{"a", "b"}},
		{"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", []string{"a\nb\nc"}},
		{"data lines joined", "data: one\ndata: two\n\n", []string{"one\ntwo"}},
		{"comments ignored", ": heartbeat\n\n:\n\ndata: x\n: in between\n\n", []string{"x"}},
		{"no space after colon", "data:x\n\n", []string{"x"}},
		{"only the first space dropped", "data:  x\n\n", []string{" x"}},
		{"empty data is an event", "data\n\ndata:\n\n", []string{"", ""}},
		{"no data, no event", "id: 5\nevent: ping\nretry: 10\n\n", nil},
		{"other event types count", "event: update\ndata: u\n\n", []string{"u"}},
		{"BOM at the start", "\xEF\xBB\xBFdata: a\n\n", []string{"a"}},
		{"BOM only at the start", "data: a\n\n\xEF\xBB\xBFdata: b\n\n", []string{"a"}},
		{"unfinished event not dispatched", "data: a\n\ndata: b\n", []string{"a"}},
		{"unknown field ignored", "foo: bar\ndata: a\n\n", []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseAll(t, []byte(tc.in)); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSSEParserRefusesAnEndlessLine(t *testing.T) {
	var p sseParser
	err := p.feed(bytes.Repeat([]byte("x"), maxSSELine+1), func([]byte) {})
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("got %v", err)
	}
}

// referenceEvents is a second, simpler reading of a whole stream: line
// ends normalised first, then split on LF.
func referenceEvents(in []byte) []string {
	s := strings.TrimPrefix(string(in), "\xEF\xBB\xBF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	lines = lines[:len(lines)-1] // the last one is unfinished
	var out []string
	var data []string
	has := false
	for _, l := range lines {
		switch {
		case l == "":
			if has {
				out = append(out, strings.Join(data, "\n"))
			}
			data, has = nil, false
		case l[0] == ':':
		default:
			field, value, _ := strings.Cut(l, ":")
			if field == "data" {
				data = append(data, strings.TrimPrefix(value, " "))
				has = true
			}
		}
	}
	return out
}

// The stream arrives in chunks cut anywhere: split at every byte, and one
// byte at a time, it gives the events a whole read gives, and those of
// the reference reading.
func FuzzSSEParser(f *testing.F) {
	for _, s := range []string{
		"id: 1\ndata: {\"id\":1,\"ts\":2}\n\n",
		"id: 1\r\ndata: a\r\ndata: b\r\n\r\n: c\r\n\r\n",
		"data: a\r\rdata: b\r\n\n",
		"\xEF\xBB\xBFdata: x\n\n",
		":\n\nevent: e\ndata\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return
		}
		whole := parseAll(t, in)
		if want := referenceEvents(in); !slices.Equal(whole, want) {
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
