package hub

import (
	"unicode/utf8"

	"github.com/lxzan/gws"
)

// maxFramePayload is the largest message the hub writes, as gws's default
// WriteMaxPayloadSize.
const maxFramePayload = 16 << 20

// encodeFrame builds an unmasked server frame (FIN set, no compression:
// the server does not negotiate permessage-deflate).
func encodeFrame(opcode gws.Opcode, payload []byte) ([]byte, error) {
	if opcode == gws.OpcodeText && !utf8.Valid(payload) {
		return nil, gws.ErrTextEncoding
	}
	n := len(payload)
	if n > maxFramePayload {
		return nil, gws.ErrMessageTooLarge
	}
	hdr := FrameLen(n) - n
	b := make([]byte, hdr, hdr+n)
	switch hdr {
	case 2:
		b[1] = byte(n)
	case 4:
		b[1] = 126
		b[2], b[3] = byte(n>>8), byte(n)
	default:
		b[1] = 127
		for i := range 8 {
			b[9-i] = byte(n >> (8 * i))
		}
	}
	b[0] = 0x80 | byte(opcode)
	return append(b, payload...), nil
}

// FrameLen is the bytes on the wire of the (unmasked, uncompressed) frame
// the hub writes for a payload of n bytes: what benchmarks size the floor's
// write with.
func FrameLen(n int) int {
	switch {
	case n < 126:
		return n + 2
	case n < 1<<16:
		return n + 4
	default:
		return n + 10
	}
}
