// Package wsproto is the RFC 6455 client side as pure functions over byte
// slices: frame headers, masking, close payloads, the upgrade request and the
// validation of the server's answer. It does no I/O so the event loops can
// run it on a shared read buffer, and so it can be fuzzed directly.
package wsproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Opcodes (RFC 6455 section 5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Close codes used by the client (RFC 6455 section 7.4.1).
const (
	CloseNormal        = 1000
	CloseProtocolError = 1002
	CloseNoStatus      = 1005 // never on the wire: the close frame had no code
	CloseAbnormal      = 1006 // never on the wire: the connection ended without a close frame
	CloseInvalidData   = 1007
	CloseTooBig        = 1009
)

// MaxControlPayload is the largest payload a control frame may carry.
const MaxControlPayload = 125

// ErrProtocol is wrapped by every error that means the peer broke RFC 6455.
var ErrProtocol = errors.New("websocket protocol violation")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// Header is a parsed frame header.
type Header struct {
	Fin    bool
	Opcode byte
	Length int64 // payload length
	Size   int   // header length in bytes
	// Compressed is RSV1, the "Per-Message Compressed" bit of RFC 7692; only
	// ParseServerHeaderDeflate accepts it, and only on the first frame of
	// a data message.
	Compressed bool
}

// IsControl reports whether the opcode is close, ping or pong.
func IsControl(op byte) bool { return op&0x8 != 0 }

// ParseServerHeader parses the frame header at the start of b as sent by a
// server to a client. It returns Size == 0 and no error when b does not hold a
// whole header yet. No extension is ever negotiated by this client, so any
// reserved bit is a violation; a masked frame from the server is one too
// (section 5.1).
func ParseServerHeader(b []byte) (Header, error) {
	return parseServerHeader(b, false)
}

// ParseServerHeaderDeflate is ParseServerHeader on a connection that
// negotiated permessage-deflate: RSV1 may be set on the first frame of a
// text or binary message (RFC 7692 section 6), never on a continuation or
// control frame; RSV2 and RSV3 stay violations.
func ParseServerHeaderDeflate(b []byte) (Header, error) {
	return parseServerHeader(b, true)
}

func parseServerHeader(b []byte, deflate bool) (Header, error) {
	if len(b) < 2 {
		return Header{}, nil
	}
	b0, b1 := b[0], b[1]
	h := Header{Fin: b0&0x80 != 0, Opcode: b0 & 0x0F, Compressed: b0&0x40 != 0}
	reserved := b0 & 0x70
	if deflate {
		reserved &^= 0x40
		if h.Compressed && h.Opcode != OpText && h.Opcode != OpBinary {
			return Header{}, protoErr("RSV1 (compressed) set on a frame with opcode 0x%x", h.Opcode)
		}
	}
	if reserved != 0 {
		return Header{}, protoErr("reserved bits set (0x%02x) without a negotiated extension", reserved)
	}
	switch h.Opcode {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return Header{}, protoErr("unknown opcode 0x%x", h.Opcode)
	}
	if b1&0x80 != 0 {
		return Header{}, protoErr("server frame is masked")
	}
	size := 2
	switch n := b1 & 0x7F; n {
	case 126:
		size = 4
		if len(b) < size {
			return Header{}, nil
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		size = 10
		if len(b) < size {
			return Header{}, nil
		}
		l := binary.BigEndian.Uint64(b[2:10])
		if l>>63 != 0 {
			return Header{}, protoErr("64-bit payload length has its top bit set")
		}
		h.Length = int64(l)
	default:
		h.Length = int64(n)
	}
	if IsControl(h.Opcode) {
		if !h.Fin {
			return Header{}, protoErr("fragmented control frame (opcode 0x%x)", h.Opcode)
		}
		if h.Length > MaxControlPayload {
			return Header{}, protoErr("control frame payload of %d bytes exceeds 125", h.Length)
		}
	}
	h.Size = size
	return h, nil
}

// AppendClientFrame appends one masked frame. Clients must mask every frame
// (section 5.3); the payload is copied, never modified.
func AppendClientFrame(dst []byte, fin bool, op byte, payload []byte, mask [4]byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	n := len(payload)
	switch {
	case n <= 125:
		dst = append(dst, b0, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	Mask(mask, 0, dst[start:])
	return dst
}

// Mask XORs b with the masking key, as if b started at offset pos of the
// payload. Masking and unmasking are the same operation.
func Mask(key [4]byte, pos int, b []byte) {
	// Rotate the key so that it lines up with b[0], then work 8 bytes at a
	// time: payloads of hundreds of bytes are common and this is per message.
	var k [4]byte
	for i := range k {
		k[i] = key[(pos+i)&3]
	}
	k32 := binary.LittleEndian.Uint32(k[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		binary.LittleEndian.PutUint64(b[i:], v^k64)
	}
	for ; i < len(b); i++ {
		b[i] ^= k[i&3]
	}
}

// ClosePayload builds the body of a close frame.
func ClosePayload(code int, reason string) []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(b, reason...)
}

// ParseClose reads the code of a close frame's body. An empty body means the
// peer gave no code (1005). Codes that must never be sent, and reasons that
// are not UTF-8, are violations (section 7.4).
func ParseClose(payload []byte) (int, error) {
	switch len(payload) {
	case 0:
		return CloseNoStatus, nil
	case 1:
		return 0, protoErr("close frame body of 1 byte")
	}
	code := int(binary.BigEndian.Uint16(payload))
	if !validCloseCode(code) {
		return 0, protoErr("invalid close code %d", code)
	}
	if !utf8.Valid(payload[2:]) {
		return 0, protoErr("close reason is not UTF-8")
	}
	return code, nil
}

func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
