package engine

import (
	"bytes"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

// chunked encodes body as net/http's chunked writer does, in pieces of
// the given size, with the last chunk and an optional trailer.
func chunked(body string, piece int, trailer string) []byte {
	var b bytes.Buffer
	w := httputil.NewChunkedWriter(&b)
	for len(body) > 0 {
		n := min(piece, len(body))
		_, _ = w.Write([]byte(body[:n]))
		body = body[n:]
	}
	_ = w.Close()
	b.WriteString(trailer + "\r\n")
	return b.Bytes()
}

// decodeInPieces runs an sseBody over wire cut at the given offsets.
func decodeInPieces(t testing.TB, h sseHead, wire []byte, cuts ...int) (string, bool) {
	b := newSSEBody(h)
	var out strings.Builder
	prev, done := 0, false
	for _, c := range append(cuts, len(wire)) {
		piece := bytes.Clone(wire[prev:c])
		body, end, err := b.decode(piece)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out.Write(body)
		done = done || end
		prev = c
		if end {
			break
		}
	}
	return out.String(), done
}

func TestSSEBodyUndoesChunking(t *testing.T) {
	body := "data: {\"ts\":1}\n\n: ping\n\ndata: two\n\n"
	for _, piece := range []int{1, 3, 1000} {
		for _, trailer := range []string{"", "X-Trailer: 1\r\n"} {
			wire := chunked(body, piece, trailer)
			for cut := 0; cut <= len(wire); cut++ {
				got, done := decodeInPieces(t, sseHead{chunked: true}, wire, cut)
				if got != body || !done {
					t.Fatalf("pieces of %d, cut at %d: got %q done %v, want %q done", piece, cut, got, done, body)
				}
			}
		}
	}
	// Extensions and upper-case hex are allowed.
	got, done := decodeInPieces(t, sseHead{chunked: true}, []byte("A;name=v\r\n0123456789\r\n0\r\n\r\n"))
	if got != "0123456789" || !done {
		t.Fatalf("extension: got %q %v", got, done)
	}
	for _, bad := range []string{"x\r\n", "\r\n", "3\r\nabcX", "fffffffffffff\r\n"} {
		b := newSSEBody(sseHead{chunked: true})
		if _, _, err := b.decode([]byte(bad)); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}

func TestSSEBodyByLength(t *testing.T) {
	got, done := decodeInPieces(t, sseHead{length: 5}, []byte("data:extra"), 2)
	if got != "data:" || !done {
		t.Fatalf("got %q done %v", got, done)
	}
	got, done = decodeInPieces(t, sseHead{length: -1}, []byte("data: x\n\n"), 3)
	if got != "data: x\n\n" || done {
		t.Fatalf("until close: got %q done %v", got, done)
	}
}

func FuzzSSEBody(f *testing.F) {
	f.Add("data: x\n\n", 3, 5)
	f.Fuzz(func(t *testing.T, body string, piece, cut int) {
		piece = max(1, piece%64)
		wire := chunked(body, piece, "")
		cut = max(0, cut) % (len(wire) + 1)
		if got, done := decodeInPieces(t, sseHead{chunked: true}, wire, cut); got != body || !done {
			t.Fatalf("got %q done %v, want %q", got, done, body)
		}
		// Arbitrary bytes must not panic.
		b := newSSEBody(sseHead{chunked: true})
		_, _, _ = b.decode([]byte(body))
	})
}

func TestSSEHead(t *testing.T) {
	cases := []struct {
		head string
		want sseHead
	}{
		{"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n",
			sseHead{status: 200, eventStream: true, chunked: true, length: -1}},
		{"HTTP/1.1 200 OK\r\ncontent-type: TEXT/EVENT-STREAM\r\nContent-Length: 12\r\n\r\n",
			sseHead{status: 200, eventStream: true, length: 12}},
		{"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", sseHead{status: 200, length: -1}},
		{"HTTP/1.1 204 No Content\r\n\r\n", sseHead{status: 204, length: -1}},
		{"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n", sseHead{status: 500, length: -1}},
	}
	for _, c := range cases {
		got, err := parseSSEHead([]byte(c.head))
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.head, got, err, c.want)
		}
	}
	for _, bad := range []string{"HTTP/1.1 2x0 OK\r\n\r\n", "garbage\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n"} {
		if _, err := parseSSEHead([]byte(bad)); err == nil {
			t.Errorf("%q parsed without an error", bad)
		}
	}
}

func TestSSERequest(t *testing.T) {
	r, err := newSSERequest("127.0.0.1:8080", "/sub?id=a", http.Header{"Authorization": {"Bearer x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "GET /sub?id=a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n" +
		"Authorization: Bearer x\r\nLast-Event-ID: 41\r\n\r\n"
	if got := string(r.append(nil, []byte("41"))); got != want {
		t.Fatalf("request:\n%q\nwant\n%q", got, want)
	}
	if _, err := newSSERequest("h", "/", http.Header{"Accept": {"x"}}); err == nil {
		t.Fatal("Accept could be overridden")
	}
}
