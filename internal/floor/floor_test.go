package floor

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // RFC 6455
	"encoding/base64"
	"testing"
)

func TestMeasureSmall(t *testing.T) {
	res, err := Measure(Options{Pairs: 64, MessageSize: 100, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pairs != 64 || res.MessageSize != 100 || res.Rounds != 2 {
		t.Fatalf("result does not echo its options: %+v", res)
	}
	for name, d := range map[string]int64{
		"write": int64(res.Write), "read": int64(res.Read), "connect+accept": int64(res.ConnectAccept), "upgrade": int64(res.Upgrade),
		"write with a reader": int64(res.WriteConcurrent), "read while written": int64(res.ReadConcurrent),
	} {
		if d <= 0 {
			t.Errorf("%s cost %d ns: the thread's CPU clock did not move", name, d)
		}
	}
}

func TestFindKeyAndAccept(t *testing.T) {
	key, err := findKey([]byte(upgradeRequest))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(append(key, wsGUID...)) //nolint:gosec // RFC 6455
	// The example in RFC 6455 section 1.3.
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept for the RFC's sample key: %s", got)
	}
	if _, err := findKey([]byte("GET / HTTP/1.1\r\n\r\n")); err == nil {
		t.Fatal("a request without a key was accepted")
	}
}

func TestMeasureRejectsNegativePairs(t *testing.T) {
	if _, err := Measure(Options{Pairs: -1}); err == nil {
		t.Fatal("negative Pairs accepted")
	}
}

func BenchmarkWrite(b *testing.B) {
	for b.Loop() {
		if _, err := Measure(Options{Pairs: 256, Rounds: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// findKey reads bytes off a socket: it must never panic, and a key it
// returns is a line's tail after the header name.
func FuzzFindKey(f *testing.F) {
	f.Add([]byte(upgradeRequest))
	f.Add([]byte("Sec-WebSocket-Key: "))
	f.Add([]byte("Sec-WebSocket-Key: abc"))
	f.Fuzz(func(t *testing.T, req []byte) {
		key, err := findKey(req)
		if err != nil {
			return
		}
		if !bytes.Contains(req, append(append([]byte(keyHeader), key...), '\r')) {
			t.Fatalf("key %q is not followed by CR after the header in %q", key, req)
		}
	})
}
