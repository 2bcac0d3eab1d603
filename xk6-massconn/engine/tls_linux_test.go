//go:build linux

package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// FuzzHandshakeReadsStopAtRecordBoundaries checks the transport under a
// TLS handshake: whatever the server sends and however the reads are
// sized, one Read never returns bytes of two records (so crypto/tls cannot
// consume a record that follows the handshake), and the bytes come out in
// order, unchanged.
func FuzzHandshakeReadsStopAtRecordBoundaries(f *testing.F) {
	rec := func(n int) []byte {
		b := []byte{22, 3, 3, 0, 0}
		binary.BigEndian.PutUint16(b[3:], uint16(n))
		return append(b, bytes.Repeat([]byte{7}, n)...)
	}
	f.Add(append(append(rec(90), rec(0)...), rec(300)...), uint16(512), uint8(3))
	f.Add(rec(5), uint16(1), uint8(0))
	f.Add([]byte{23, 3, 3, 0xff, 0xff, 1, 2}, uint16(4), uint8(1))
	// A header cut short by the server's FIN: the read must end, not wait
	// for bytes that will never come (found by this fuzz test).
	f.Add(append(rec(3), 22, 3), uint16(100), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, readSize uint16, chunks uint8) {
		h := &tlsHandshake{wake: make(chan struct{}, 1), abort: make(chan struct{})}
		// Fed in a few chunks, as reads from the socket would.
		rest := data
		for i := 0; i < int(chunks%4) && len(rest) > 1; i++ {
			h.feed(rest[:len(rest)/2])
			rest = rest[len(rest)/2:]
		}
		h.feed(rest)
		h.lost = io.EOF // nothing more will come: reads end instead of waiting
		p := make([]byte, int(readSize)%2048+1)
		var got []byte
		boundaries, readable := recordEnds(data)
		for {
			n, err := h.read(p)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || n == 0 {
				t.Fatalf("read: %d, %v", n, err)
			}
			start, end := len(got), len(got)+n
			for _, b := range boundaries {
				if b > start && b < end {
					t.Fatalf("one read returned bytes %d..%d across the record boundary at %d", start, end, b)
				}
			}
			got = append(got, p[:n]...)
		}
		if !bytes.Equal(got, data[:readable]) {
			t.Fatalf("read %d bytes back of %d, or changed", len(got), readable)
		}
	})
}

// recordEnds lists the offsets where records end in data, by their
// headers, and how many bytes a reader can get: all but a last header cut
// short.
func recordEnds(data []byte) (ends []int, readable int) {
	off := 0
	for off+5 <= len(data) {
		off += 5 + int(binary.BigEndian.Uint16(data[off+3:off+5]))
		ends = append(ends, off)
	}
	return ends, min(off, len(data))
}
