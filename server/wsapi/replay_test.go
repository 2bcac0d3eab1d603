package wsapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/massconn/massconn/server/internal/wstest"
)

// A connection that sent bytes right behind its upgrade request is read
// through replayConn; its writes need no replay, so replayConn offers the
// socket for the hub's non-blocking writes (the shared writers' fast path)
// instead of leaving the subscriber to a goroutine of its own for life.
func TestReplayConnOffersItsSocketForWrites(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	_ = client.SetDeadline(time.Now().Add(wstest.Timeout))
	_ = server.SetDeadline(time.Now().Add(wstest.Timeout))

	// The request and a frame behind it, read ahead by the request reader.
	if _, err := io.WriteString(client, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\nbehind"); err != nil {
		t.Fatal(err)
	}
	rr := getRequestReader(server)
	if _, err := http.ReadRequest(rr.br); err != nil {
		t.Fatal(err)
	}
	for rr.br.Buffered() < len("behind") {
		if _, err := rr.br.Peek(rr.br.Buffered() + 1); err != nil {
			t.Fatal(err)
		}
	}
	var c net.Conn = &replayConn{Conn: server, rr: rr}
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatal("replayConn offers no SyscallConn: its subscriber loses the raw-socket writes")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatalf("SyscallConn: %v", err)
	}
	var werr error
	if err := raw.Write(func(fd uintptr) bool {
		_, werr = syscall.Write(int(fd), []byte("raw"))
		return true
	}); err != nil || werr != nil {
		t.Fatalf("raw write: %v, %v", err, werr)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "raw" {
		t.Fatalf("client read %q, %v; want the raw write", got, err)
	}
	// Reads still replay first.
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(c), int64(len("behind"))))
	if err != nil || string(b) != "behind" {
		t.Fatalf("read %q, %v; want the bytes behind the request replayed", b, err)
	}
}
