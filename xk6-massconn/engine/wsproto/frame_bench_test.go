package wsproto

import (
	"fmt"
	"testing"
)

// benchSink keeps the compiler from discarding the benchmarked results.
var benchSink int64

// BenchmarkParseServerHeader parses the header of every frame in a buffer
// of back-to-back server frames, as the event loop does after each read:
// one 7-bit, one 16-bit and one 64-bit length form, plain and with the
// permessage-deflate rules. ns/op is per header.
func BenchmarkParseServerHeader(b *testing.B) {
	for _, size := range []int{100, 1000, 70000} {
		frame := serverFrame(0x81, make([]byte, size))
		for _, deflate := range []bool{false, true} {
			parse := ParseServerHeader
			name := fmt.Sprintf("payload=%d", size)
			if deflate {
				parse = ParseServerHeaderDeflate
				name += "/deflate"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					h, err := parse(frame)
					if err != nil || h.Size == 0 {
						b.Fatalf("parse: %+v, %v", h, err)
					}
					benchSink += h.Length
				}
			})
		}
	}
}

// maskBytewise is the textbook one-byte-at-a-time XOR, the reference that
// Mask's eight-bytes-at-a-time loop is measured against in the same run.
func maskBytewise(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
}

// BenchmarkMask masks payloads of typical message sizes with Mask and with
// the bytewise reference; the ratio of the two is the point of Mask's
// word loop. An odd start offset exercises the key rotation.
func BenchmarkMask(b *testing.B) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	impls := []struct {
		name string
		mask func([4]byte, int, []byte)
	}{{"word", Mask}, {"bytewise", maskBytewise}}
	for _, size := range []int{16, 128, 1024, 16384} {
		payload := make([]byte, size)
		for _, impl := range impls {
			b.Run(fmt.Sprintf("size=%d/%s", size, impl.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					impl.mask(key, 1, payload)
				}
			})
		}
	}
}

// BenchmarkAppendClientFrame encodes one masked text frame into a reused
// buffer, the per-message send path of the event loop.
func BenchmarkAppendClientFrame(b *testing.B) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for _, size := range []int{32, 1024} {
		payload := make([]byte, size)
		b.Run(fmt.Sprintf("payload=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var buf []byte
			for b.Loop() {
				buf = AppendClientFrame(buf[:0], true, OpText, payload, key)
			}
			benchSink += int64(len(buf))
		})
	}
}
