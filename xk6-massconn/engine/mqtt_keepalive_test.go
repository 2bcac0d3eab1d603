package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/internal/mosquittotest"
)

// TestMQTTKeepAliveUnanswered: Mosquitto always answers PINGREQ, so a proxy
// in front of it drops the WebSocket frames that carry a PINGRESP. Each
// connection then finds its PINGREQ unanswered a keep-alive period later
// and ends the session as a drop with code 3008.
func TestMQTTKeepAliveUnanswered(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	proxy := pingrespEater(t, broker.WS)
	eachEngine(t, func(t *testing.T) {
		const conns = 5
		p := dial(t, Config{URLs: []string{proxy}, Connections: conns,
			Protocol: mqttAdapter(t, protocol.MQTTOptions{KeepAlive: time.Second, Topics: []string{uniqueTopic("silent")}})})
		var drops int64
		eventually(t, "every connection dropped for its unanswered keep-alive", func() bool {
			drops += p.Drain().Drops[protocol.CloseKeepAliveTimeout]
			return drops == conns
		})
		if s := p.Stats(); s.Failed != 0 || s.Dropped != conns {
			t.Fatalf("stats %+v", s)
		}
	})
}

// pingrespEater listens on a loopback port and forwards every connection
// to the WebSocket server at wsURL, leaving out the server's frames whose
// payload is exactly an MQTT PINGRESP. It returns its own ws:// URL.
func pingrespEater(t *testing.T, wsURL string) string {
	t.Helper()
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", u.Host)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			open = append(open, client, server)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(server, client); server.Close() }()
			go func() { defer wg.Done(); _ = forwardWithoutPingresp(client, server); client.Close() }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "ws://" + l.Addr().String() + u.Path
}

var pingresp = []byte{0xd0, 0x00}

// forwardWithoutPingresp copies the server's upgrade response, then its
// frames (unmasked, as a server sends them) one by one.
func forwardWithoutPingresp(dst io.Writer, src io.Reader) error {
	r := bufio.NewReader(src)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return err
		}
		if _, err := dst.Write(line); err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break // the end of the response head
		}
	}
	for {
		head := make([]byte, 2, 10)
		if _, err := io.ReadFull(r, head); err != nil {
			return err
		}
		n := uint64(head[1] & 0x7f)
		switch n {
		case 126:
			head = head[:4]
			if _, err := io.ReadFull(r, head[2:]); err != nil {
				return err
			}
			n = uint64(binary.BigEndian.Uint16(head[2:]))
		case 127:
			head = head[:10]
			if _, err := io.ReadFull(r, head[2:]); err != nil {
				return err
			}
			n = binary.BigEndian.Uint64(head[2:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return err
		}
		if bytes.Equal(payload, pingresp) {
			continue
		}
		if _, err := dst.Write(append(head, payload...)); err != nil {
			return err
		}
	}
}
