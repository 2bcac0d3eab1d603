package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"testing"
)

var suites = []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}

// pair returns a client session and the server's mirror of it: what one
// seals, the other opens.
func pair(t testing.TB, suite uint16, updateAfter uint64) (client, server *Session) {
	t.Helper()
	size := 32
	if suite == tls.TLS_AES_256_GCM_SHA384 {
		size = 48
	}
	c, s := bytes.Repeat([]byte{1}, size), bytes.Repeat([]byte{2}, size)
	client, err := NewSession(suite, c, s, updateAfter)
	if err != nil {
		t.Fatal(err)
	}
	server, err = NewSession(suite, s, c, updateAfter)
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}

// openAll splits records with Next and opens each, returning the data.
func openAll(t testing.TB, s *Session, buf []byte) []byte {
	t.Helper()
	var out []byte
	for len(buf) > 0 {
		n, err := Next(buf)
		if err != nil || n == 0 {
			t.Fatalf("Next: %d, %v", n, err)
		}
		data, err := s.Open(buf[:n])
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		out = append(out, data...)
		buf = buf[n:]
	}
	return out
}

func TestSealOpenAcrossKeyUpdates(t *testing.T) {
	for _, suite := range suites {
		t.Run(tls.CipherSuiteName(suite), func(t *testing.T) {
			client, server := pair(t, suite, 4)
			msg := bytes.Repeat([]byte("0123456789"), 5000) // 50 KB: four records
			for i := range 5 {
				if i%2 == 1 {
					// Idle sessions drop their AEAD states; the next
					// record rebuilds them.
					client.Trim()
					client.Trim()
					server.Trim()
					server.Trim()
					if client.read.aead != nil || server.write.aead != nil {
						t.Fatal("Trim kept the AEAD of an idle session")
					}
				}
				// The client's key wears out every 4 records and it asks
				// the server to update too.
				if got := openAll(t, server, client.Seal(nil, msg)); !bytes.Equal(got, msg) {
					t.Fatal("client->server data differs")
				}
				if server.KeyUpdateOwed() {
					if got := openAll(t, client, server.Seal(nil, nil)); len(got) != 0 {
						t.Fatal("a bare KeyUpdate carried data")
					}
				}
				if got := openAll(t, client, server.Seal(nil, msg[:100])); !bytes.Equal(got, msg[:100]) {
					t.Fatal("server->client data differs")
				}
			}
			cr, cw := client.Generations()
			sr, sw := server.Generations()
			if cw < 4 || sr != cw || cr == 0 || sw != cr {
				t.Fatalf("generations: client read %d write %d, server read %d write %d", cr, cw, sr, sw)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	client, server := pair(t, tls.TLS_AES_128_GCM_SHA256, 0)
	rec := client.Seal(nil, []byte("hello"))
	tampered := bytes.Clone(rec)
	tampered[len(tampered)-1] ^= 1
	if _, err := server.Open(tampered); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered record: %v", err)
	}
	if got, err := server.Open(rec); err != nil || string(got) != "hello" {
		t.Fatalf("the untampered record: %q, %v", got, err)
	}
	// Alerts: close_notify is EOF, others an AlertError, sealed or not.
	closeNotify := client.seal(nil, TypeAlert, []byte{1, 0})
	if _, err := server.Open(closeNotify); !errors.Is(err, io.EOF) {
		t.Fatalf("close_notify: %v", err)
	}
	var ae AlertError
	if _, err := server.Open([]byte{TypeAlert, 3, 3, 0, 2, 2, 40}); !errors.As(err, &ae) || ae.Description != 40 {
		t.Fatalf("plaintext alert: %v", err)
	}
	if _, err := Next([]byte{TypeApplicationData, 3, 3, 0xff, 0xff}); !errors.Is(err, ErrRecordOverflow) {
		t.Fatalf("overflow: %v", err)
	}
	if _, err := Next([]byte{99}); !errors.Is(err, ErrRecordHeader) {
		t.Fatalf("bad type: %v", err)
	}
	if _, err := NewSession(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, make([]byte, 32), make([]byte, 32), 0); err == nil {
		t.Fatal("a TLS 1.2 suite was accepted")
	}
}

func TestSessionTicketsAreIgnoredAndMessagesMaySpanRecords(t *testing.T) {
	client, server := pair(t, tls.TLS_AES_128_GCM_SHA256, 0)
	ticket := append([]byte{handshakeNewSessionTicket, 0, 0, 200}, make([]byte, 200)...)
	keyUpdate := []byte{handshakeKeyUpdate, 0, 0, 1, 0}
	msgs := append(append(bytes.Clone(ticket), ticket...), keyUpdate...)
	// Split the three messages over three records at odd places; the
	// KeyUpdate takes effect after the record that completes it.
	var buf []byte
	buf = server.seal(buf, TypeHandshake, msgs[:150])
	buf = server.seal(buf, TypeHandshake, msgs[150:])
	_ = server.write.update(server.suite)
	buf = server.seal(buf, TypeApplicationData, []byte("after"))
	if got := openAll(t, client, buf); string(got) != "after" {
		t.Fatalf("got %q", got)
	}
	if r, _ := client.Generations(); r != 1 {
		t.Fatalf("read generation %d", r)
	}
}

// FuzzOpen feeds arbitrary bytes to the record parser and to Open, as a
// hostile server would: no panic, and what does not parse is an error.
func FuzzOpen(f *testing.F) {
	client, _ := pair(f, tls.TLS_AES_128_GCM_SHA256, 0)
	f.Add(client.Seal(nil, []byte("hello")))
	f.Add([]byte{TypeAlert, 3, 3, 0, 2, 1, 0})
	f.Add([]byte{TypeApplicationData, 3, 3, 0, 0})
	f.Add([]byte{TypeHandshake, 3, 1, 0, 4, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, server := pair(t, tls.TLS_AES_128_GCM_SHA256, 0)
		for len(data) > 0 {
			n, err := Next(data)
			if err != nil || n == 0 {
				return
			}
			if n < HeaderLen || n > len(data) {
				t.Fatalf("Next returned %d for %d bytes", n, len(data))
			}
			if Size(data) != n {
				t.Fatalf("Size %d, Next %d", Size(data), n)
			}
			plain, err := server.Open(data[:n])
			if err == nil && len(plain) > MaxPlaintext {
				t.Fatalf("%d bytes of plaintext", len(plain))
			}
			data = data[n:]
		}
	})
}

// FuzzRoundTrip seals arbitrary data in arbitrary chunks and checks that
// the peer opens exactly that data, across key updates.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello world"), uint8(3), uint8(2))
	f.Add(bytes.Repeat([]byte{0}, 40000), uint8(255), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk, updateAfter uint8) {
		if len(data) > 1<<16 {
			return
		}
		for _, suite := range suites {
			client, server := pair(t, suite, uint64(updateAfter)+1)
			step := int(chunk) + 1
			var wire []byte
			for i := 0; i < len(data); i += step {
				wire = client.Seal(wire, data[i:min(i+step, len(data))])
			}
			if got := openAll(t, server, wire); !bytes.Equal(got, data) {
				t.Fatalf("%s: %d bytes in, %d out", tls.CipherSuiteName(suite), len(data), len(got))
			}
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	client, server := pair(b, tls.TLS_AES_128_GCM_SHA256, 0)
	msg := bytes.Repeat([]byte("x"), 64)
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		buf = client.Seal(buf[:0], msg)
		if _, err := server.Open(buf); err != nil {
			b.Fatal(err)
		}
	}
}
