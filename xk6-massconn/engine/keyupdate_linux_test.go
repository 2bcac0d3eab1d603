//go:build linux

package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// TestWSSServerSentKeyUpdate drives `openssl s_server` (OpenSSL's own TLS
// 1.3 server, interactive: what the test writes to its stdin goes to the
// client, what the client sends is printed) as a hand-operated WebSocket
// server: it answers the upgrade, then sends a KeyUpdate that requests
// ours ("K"), then a text frame under the new key. The frame must arrive,
// and our answer, sealed after our own KeyUpdate, must decrypt on
// OpenSSL's side (it prints it; a bad record would end the session).
func TestWSSServerSentKeyUpdate(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("this test needs the openssl command (Debian package openssl; .ci/run installs it): %v", err)
	}
	cert := testpeer.NewCert(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	server := testpeer.Run(t, exec.Command("openssl", "s_server", "-accept", "127.0.0.1:"+strconv.Itoa(port),
		"-cert", cert.CertFile, "-key", cert.KeyFile, "-tls1_3", "-naccept", "1"))
	stdin := server.Stdin
	var mu sync.Mutex
	var out []byte
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := server.Stdout.Read(buf)
			mu.Lock()
			out = append(out, buf[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	printed := func() []byte { mu.Lock(); defer mu.Unlock(); return bytes.Clone(out) }
	eventually(t, "s_server to accept", func() bool { return bytes.Contains(printed(), []byte("ACCEPT")) })

	before := tlsKeyUpdatesRead.Load()
	p, err := Dial(context.Background(), Config{URLs: []string{fmt.Sprintf("wss://127.0.0.1:%d/", port)}, Connections: 1,
		TLS: &tls.Config{RootCAs: cert.Roots}, Replies: []Reply{{Match: "hello", Send: "world"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(time.Second) })
	keyLine := regexp.MustCompile(`Sec-WebSocket-Key: (\S+)`)
	var key []byte
	eventually(t, "the upgrade request", func() bool {
		if m := keyLine.FindSubmatch(printed()); m != nil {
			key = m[1]
			return true
		}
		return false
	})
	send := func(b []byte) {
		t.Helper()
		if _, err := stdin.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	send([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptFor(string(key)) + "\r\n\r\n"))
	eventually(t, "the connection to open", func() bool { return p.Stats().Open == 1 })

	send([]byte("K\n")) // s_server: KeyUpdate, update_requested
	// s_server reports the KeyUpdate it sent as a handshake step.
	eventually(t, "s_server to send its KeyUpdate", func() bool { return bytes.Contains(printed(), []byte("SSL_do_handshake -> 1")) })
	send([]byte{0x81, 5, 'h', 'e', 'l', 'l', 'o'}) // a text frame under the server's new key
	eventually(t, "the frame to arrive", func() bool { return p.Stats().Received == 1 })
	if got := tlsKeyUpdatesRead.Load() - before; got != 1 {
		t.Fatalf("%d server KeyUpdates followed, want 1", got)
	}
	// Our reply "world": a masked text frame of 5 bytes (0x81 0x85, mask,
	// payload), sealed after our KeyUpdate; OpenSSL prints it only if it
	// decrypts.
	eventually(t, "s_server to print our reply", func() bool { return bytes.Contains(printed(), []byte{0x81, 0x85}) })
	if st := p.Stats(); st.Dropped != 0 || st.Failed != 0 || st.Sent != 1 {
		t.Fatalf("stats %+v", st)
	}
}
