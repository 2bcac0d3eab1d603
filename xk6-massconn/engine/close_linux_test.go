//go:build linux

package engine

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// After a close handshake started by the client, the server closes TCP
// first (RFC 6455 section 7.1.1), so the TIME_WAIT entry is the server's
// and the client's ephemeral port is free again at once. The server here
// echoes the close frame, then gives the client a moment to hang up (which
// a client that does not wait would do) before closing itself; the kernel's
// connection table then says who closed first.
func TestClientLeavesTCPCloseToTheServer(t *testing.T) {
	checkClientLeavesTCPClose(t, "ws", nil, nil)
}

// checkClientLeavesTCPClose runs the close handshake above against a raw
// server (over TLS with serverTLS, dialled with clientTLS) and checks who
// holds TIME_WAIT.
func checkClientLeavesTCPClose(t *testing.T, scheme string, serverTLS, clientTLS *tls.Config) {
	t.Helper()
	clientPort := make(chan int, 1)
	url := testpeer.RawServer(t, func(c net.Conn) {
		clientPort <- c.RemoteAddr().(*net.TCPAddr).Port
		if serverTLS != nil {
			c = tls.Server(c, serverTLS)
		}
		key, err := readRequestKey(c)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptFor(key))
		// The client's close frame: 2 header bytes, 4 mask bytes, a
		// payload shorter than 126 bytes.
		head := make([]byte, 2)
		if _, err := io.ReadFull(c, head); err != nil || head[0]&0x0f != 0x8 {
			return
		}
		if _, err := io.ReadFull(c, make([]byte, 4+int(head[1]&0x7f))); err != nil {
			return
		}
		_, _ = c.Write([]byte{0x88, 0x02, 0x03, 0xe8}) // close 1000
		// Not an assertion on time: this only lets a client that hangs up
		// first do so before the server does.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = c.Read(make([]byte, 1))
	})
	hostPort := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	_, portText, _ := strings.Cut(hostPort, ":")
	serverPort, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}

	p := dial(t, Config{URLs: []string{scheme + "://" + hostPort + "/"}, Connections: 1, TLS: clientTLS})
	if s := p.Stats(); s.Open != 1 {
		t.Fatalf("stats after dial: %+v", s)
	}
	cport := <-clientPort
	if err := p.Close(eventuallyFor); err != nil {
		t.Fatal(err)
	}
	r := p.Drain()
	if r.SessionsEnded != 1 || len(r.Drops) != 0 {
		t.Fatalf("want one session ended by the client's close and no drop, got %+v", r)
	}
	var owner string
	eventually(t, "the TIME_WAIT entry of the closed connection", func() bool {
		owner = timeWaitOwner(t, serverPort, cport)
		return owner != ""
	})
	if owner != "server" {
		t.Fatalf("TIME_WAIT is on the %s side: the client closed TCP before the server", owner)
	}
}

// timeWaitOwner looks up the IPv4 loopback connection between serverPort
// and clientPort in /proc/net/tcp and tells which side holds it in
// TIME_WAIT: "server", "client" or "" if neither does (yet).
func timeWaitOwner(t *testing.T, serverPort, clientPort int) string {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "06" { // 06 = TIME_WAIT
			continue
		}
		local, remote := hexPort(fields[1]), hexPort(fields[2])
		switch {
		case local == serverPort && remote == clientPort:
			return "server"
		case local == clientPort && remote == serverPort:
			return "client"
		}
	}
	return ""
}

// hexPort parses the port of an "ADDR:PORT" field of /proc/net/tcp.
func hexPort(field string) int {
	_, p, _ := strings.Cut(field, ":")
	n, _ := strconv.ParseUint(p, 16, 16)
	return int(n)
}
