package wsproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// serverFrame encodes an unmasked frame the way a server sends it.
func serverFrame(b0 byte, payload []byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, byte(n))
	case n <= 0xFFFF:
		out = append(out, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, payload...)
}

func TestParseServerHeader(t *testing.T) {
	big := make([]byte, 70000)
	tests := []struct {
		name    string
		in      []byte
		want    Header
		wantErr bool
	}{
		{"empty", nil, Header{}, false},
		{"one byte", []byte{0x81}, Header{}, false},
		{"text", serverFrame(0x81, []byte("hi")), Header{Fin: true, Opcode: OpText, Length: 2, Size: 2}, false},
		{"16-bit length", serverFrame(0x82, big[:300]), Header{Fin: true, Opcode: OpBinary, Length: 300, Size: 4}, false},
		{"16-bit length incomplete", []byte{0x82, 126, 1}, Header{}, false},
		{"64-bit length", serverFrame(0x02, big), Header{Opcode: OpBinary, Length: 70000, Size: 10}, false},
		{"64-bit length top bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, Header{}, true},
		{"reserved bit", []byte{0xC1, 0}, Header{}, true},
		{"unknown opcode", []byte{0x83, 0}, Header{}, true},
		{"masked", []byte{0x81, 0x80, 1, 2, 3, 4}, Header{}, true},
		{"fragmented ping", []byte{0x09, 0}, Header{}, true},
		{"long close", serverFrame(0x88, big[:126]), Header{}, true},
		{"pong", serverFrame(0x8A, []byte("x")), Header{Fin: true, Opcode: OpPong, Length: 1, Size: 2}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseServerHeader(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("err %v does not wrap ErrProtocol", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAppendClientFrameIsMaskedAndDecodes(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte("ab"), n)[:n]
		key := [4]byte{1, 2, 3, 4}
		f := AppendClientFrame(nil, true, OpText, payload, key)
		got, gotKey, gotLen := decodeClientFrame(t, f)
		if gotKey != key || gotLen != n || !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: round trip gave len %d key %v", n, gotLen, gotKey)
		}
	}
}

// decodeClientFrame is an independent reading of section 5.2 for masked frames.
func decodeClientFrame(t *testing.T, f []byte) ([]byte, [4]byte, int) {
	t.Helper()
	if f[1]&0x80 == 0 {
		t.Fatal("client frame not masked")
	}
	n, off := int(f[1]&0x7F), 2
	switch n {
	case 126:
		n, off = int(binary.BigEndian.Uint16(f[2:])), 4
	case 127:
		n, off = int(binary.BigEndian.Uint64(f[2:])), 10
	}
	var key [4]byte
	copy(key[:], f[off:off+4])
	body := append([]byte(nil), f[off+4:]...)
	for i := range body {
		body[i] ^= key[i%4]
	}
	return body, key, n
}

func TestParseClose(t *testing.T) {
	tests := []struct {
		in      []byte
		code    int
		wantErr bool
	}{
		{nil, CloseNoStatus, false},
		{[]byte{3}, 0, true},
		{ClosePayload(1000, "bye"), 1000, false},
		{ClosePayload(4001, ""), 4001, false},
		{ClosePayload(1005, ""), 0, true},
		{ClosePayload(1006, ""), 0, true},
		{ClosePayload(999, ""), 0, true},
		{ClosePayload(1000, "\xff"), 0, true},
	}
	for _, tc := range tests {
		code, err := ParseClose(tc.in)
		if code != tc.code || (err != nil) != tc.wantErr {
			t.Errorf("ParseClose(%v) = %d, %v; want %d, error %v", tc.in, code, err, tc.code, tc.wantErr)
		}
	}
}

func FuzzParseServerHeader(f *testing.F) {
	f.Add(serverFrame(0x81, []byte("hello")))
	f.Add(serverFrame(0x82, make([]byte, 300)))
	f.Add(serverFrame(0x02, make([]byte, 70000))[:12])
	f.Add([]byte{0x88, 0x02, 0x03, 0xE8})
	f.Add([]byte{0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseServerHeader(b)
		if err != nil {
			return
		}
		if h.Size == 0 {
			return
		}
		if h.Size > len(b) || h.Length < 0 {
			t.Fatalf("header %+v out of range for %d bytes", h, len(b))
		}
		if IsControl(h.Opcode) && (!h.Fin || h.Length > MaxControlPayload) {
			t.Fatalf("accepted invalid control frame %+v", h)
		}
		// Re-encoding the same frame must give the same header.
		end := h.Size + int(min(h.Length, int64(len(b)-h.Size)))
		if int64(end-h.Size) == h.Length {
			b0 := h.Opcode
			if h.Fin {
				b0 |= 0x80
			}
			again, err := ParseServerHeader(serverFrame(b0, b[h.Size:end]))
			if err != nil || again.Length != h.Length || again.Opcode != h.Opcode || again.Fin != h.Fin {
				t.Fatalf("re-encoded %+v parsed as %+v, %v", h, again, err)
			}
		}
	})
}

func FuzzMask(f *testing.F) {
	f.Add([]byte("hello, world"), uint32(0x01020304), 3)
	f.Add(make([]byte, 33), uint32(0xFFFFFFFF), 0)
	f.Fuzz(func(t *testing.T, b []byte, k uint32, pos int) {
		pos &= 0xFFFF
		var key [4]byte
		binary.LittleEndian.PutUint32(key[:], k)
		got := append([]byte(nil), b...)
		Mask(key, pos, got)
		for i := range b {
			if got[i] != b[i]^key[(pos+i)%4] {
				t.Fatalf("byte %d: got %x want %x", i, got[i], b[i]^key[(pos+i)%4])
			}
		}
		Mask(key, pos, got)
		if !bytes.Equal(got, b) {
			t.Fatal("masking twice did not restore the input")
		}
	})
}

func FuzzParseClose(f *testing.F) {
	f.Add(ClosePayload(1000, "ok"))
	f.Add([]byte{})
	f.Add([]byte{0x0F, 0xA1, 0xC3})
	f.Fuzz(func(t *testing.T, b []byte) {
		code, err := ParseClose(b)
		if err == nil && len(b) >= 2 && code != int(binary.BigEndian.Uint16(b)) {
			t.Fatalf("code %d does not match payload %x", code, b[:2])
		}
	})
}
