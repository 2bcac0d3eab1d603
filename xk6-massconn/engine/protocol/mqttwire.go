package protocol

import "errors"

// MQTT's wire format, as far as a subscribing client needs it (MQTT 3.1.1
// section 2 and MQTT 5 sections 1.5 and 2): a fixed header of one byte
// (packet type in the high nibble, flags in the low one) and the remaining
// length as a variable byte integer, then that many bytes.

// MQTT packet types (the fixed header's high nibble).
const (
	mqttConnect    = 1
	mqttConnack    = 2
	mqttPublish    = 3
	mqttPuback     = 4
	mqttPubrec     = 5
	mqttPubrel     = 6
	mqttPubcomp    = 7
	mqttSubscribe  = 8
	mqttSuback     = 9
	mqttPingreq    = 12
	mqttPingresp   = 13
	mqttDisconnect = 14
)

// maxVarint is the largest variable byte integer: four bytes of seven bits.
const maxVarint = 1<<28 - 1

var (
	errMalformedLength = errors.New("variable byte integer longer than 4 bytes")
	errTruncated       = errors.New("packet shorter than its fields")
)

// readVarint decodes a variable byte integer at the start of b. n is the
// number of bytes it took; n == 0 without an error means b ends inside it.
func readVarint(b []byte) (v, n int, err error) {
	shift := 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, nil
		}
		v |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, errMalformedLength
}

// appendVarint encodes v (at most maxVarint) as a variable byte integer.
func appendVarint(dst []byte, v int) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

func varintLen(v int) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// splitPacket takes the first whole packet off data: its fixed header's
// first byte and its body (variable header and payload). complete is false
// when data ends inside the packet; the caller keeps data for the next
// message then.
func splitPacket(data []byte) (head byte, body, rest []byte, complete bool, err error) {
	if len(data) < 2 {
		return 0, nil, data, false, nil
	}
	length, n, err := readVarint(data[1:])
	if err != nil || n == 0 {
		return 0, nil, data, false, err
	}
	start := 1 + n
	if len(data)-start < length {
		return 0, nil, data, false, nil
	}
	return data[0], data[start : start+length], data[start+length:], true, nil
}

// appendString appends an MQTT string (or binary data): a two-byte big
// endian length, then the bytes. The length is checked by the caller.
func appendString(dst []byte, s []byte) []byte {
	dst = append(dst, byte(len(s)>>8), byte(len(s)))
	return append(dst, s...)
}

// readString splits a two-byte-length-prefixed field off b.
func readString(b []byte) (s, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, errTruncated
	}
	n := int(b[0])<<8 | int(b[1])
	if len(b)-2 < n {
		return nil, nil, errTruncated
	}
	return b[2 : 2+n], b[2+n:], nil
}

// skipProperties skips an MQTT 5 property list (its length, then that many
// bytes).
func skipProperties(b []byte) ([]byte, error) {
	n, k, err := readVarint(b)
	if err != nil {
		return nil, err
	}
	if k == 0 || len(b)-k < n {
		return nil, errTruncated
	}
	return b[k+n:], nil
}

// packetID is the two-byte packet identifier at the start of b.
func packetID(b []byte) (uint16, []byte, error) {
	if len(b) < 2 {
		return 0, nil, errTruncated
	}
	return uint16(b[0])<<8 | uint16(b[1]), b[2:], nil
}

// idPacket is a packet whose body is a packet identifier only (PUBACK,
// PUBREC, PUBCOMP; MQTT 5 allows leaving out a success reason code).
func idPacket(head byte, id uint16) []byte {
	return []byte{head, 2, byte(id >> 8), byte(id)}
}
