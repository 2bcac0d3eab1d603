package engine

import (
	"bytes"
	"testing"
)

// FuzzPongRTT feeds pong payloads a server may send: only our own stamp,
// from the past, is ever timed, and nothing panics.
func FuzzPongRTT(f *testing.F) {
	var buf [pingLen]byte
	f.Add(pingPayload(&buf, 42), int64(100))
	f.Add([]byte{}, int64(0))
	f.Add([]byte("mcp1\xff\xff\xff\xff\xff\xff\xff\xff"), int64(5))
	f.Fuzz(func(t *testing.T, payload []byte, now int64) {
		d, ok := pongRTT(payload, now)
		if !ok {
			return
		}
		if d < 0 || len(payload) != pingLen || !bytes.HasPrefix(payload, []byte(pingTag)) {
			t.Fatalf("timed %q at %d as %v", payload, now, d)
		}
	})
}
