package engine

import (
	"bytes"
	"compress/flate"
	"errors"
	"strings"
	"testing"
)

// compressMessage compresses as a permessage-deflate sender does without
// context takeover: a fresh stream, sync-flushed, the 4-byte tail removed.
func compressMessage(t testing.TB, msg []byte) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("flush did not end with the sync marker: % x", out[len(out)-4:])
	}
	return out[:len(out)-4]
}

func TestInflaterRoundTripsAndResets(t *testing.T) {
	var f inflater
	for _, msg := range []string{
		`{"seq":1,"ts":1795430400123456}`,
		strings.Repeat("abc", 50000), // bigger than the window and the first buffer
		"",
		"é and ü",
	} {
		got, err := f.inflate(compressMessage(t, []byte(msg)), 1<<20)
		if err != nil {
			t.Fatalf("inflate(%.20q): %v", msg, err)
		}
		if string(got) != msg {
			t.Fatalf("inflate gave %.40q, want %.40q", got, msg)
		}
	}
}

func TestInflaterLimitAndCorruptInput(t *testing.T) {
	var f inflater
	if _, err := f.inflate(compressMessage(t, make([]byte, 10000)), 9999); !errors.Is(err, errTooBig) {
		t.Fatalf("10000 bytes with limit 9999: %v, want errTooBig", err)
	}
	if _, err := f.inflate([]byte{0xff, 0xff, 0xff}, 1<<20); err == nil || errors.Is(err, errTooBig) {
		t.Fatalf("corrupt input: %v, want an inflate error", err)
	}
	// The reader recovers for the next message.
	if got, err := f.inflate(compressMessage(t, []byte("ok")), 1<<20); err != nil || string(got) != "ok" {
		t.Fatalf("after errors: %q, %v", got, err)
	}
}

// One reader per loop: inflating a small message allocates nothing once
// the loop's inflater is warm.
func TestInflaterDoesNotAllocatePerMessage(t *testing.T) {
	var f inflater
	msg := compressMessage(t, []byte(`{"seq":1,"ts":1795430400123456,"row":{"name":"Track 1"}}`))
	if _, err := f.inflate(msg, 1<<20); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := f.inflate(msg, 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%v allocations per message", allocs)
	}
}

func BenchmarkInflate(b *testing.B) {
	var f inflater
	msg := compressMessage(b, []byte(`{"topic":"Track","op":"INSERT","id":42,"ts":1795430400123456,"row":{"id":42,"name":"Track 1"}}`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.inflate(msg, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzInflate: arbitrary bytes from a server never panic the inflater,
// never exceed the limit, and leave it usable for the next message.
func FuzzInflate(f *testing.F) {
	f.Add(compressMessage(f, []byte(`{"ts":1}`)), int64(100))
	f.Add([]byte{0xff, 0x00}, int64(10))
	f.Add(compressMessage(f, make([]byte, 5000)), int64(4000))
	var fl inflater
	good := compressMessage(f, []byte("ok"))
	f.Fuzz(func(t *testing.T, data []byte, limit int64) {
		limit = max(0, limit%(1<<20))
		out, err := fl.inflate(data, limit)
		if err == nil && int64(len(out)) > limit {
			t.Fatalf("%d bytes out with limit %d", len(out), limit)
		}
		if got, err := fl.inflate(good, 10); err != nil || string(got) != "ok" {
			t.Fatalf("inflater unusable after % x: %q %v", data, got, err)
		}
	})
}

// BenchmarkInflaterState reports (as B/op) what one inflater costs: what
// each connection would hold if servers kept their compression context, and
// what each event loop holds here.
func BenchmarkInflaterState(b *testing.B) {
	msg := compressMessage(b, []byte(`{"seq":1,"ts":1795430400123456}`))
	b.ReportAllocs()
	for b.Loop() {
		var f inflater
		if _, err := f.inflate(msg, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
