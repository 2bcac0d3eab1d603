package hub

import (
	"io"
	"net"
	"testing"
)

// One non-blocking write per subscriber per broadcast must make no
// garbage: at tens of thousands of subscribers a few bytes each per write
// refilled the heap between GC cycles (each of which scans every
// connection's stack) and kept a server's RSS above its idle figure after
// a fan-out.
func TestNonBlockingWriteDoesNotAllocate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	go func() { _, _ = io.Copy(io.Discard, client) }()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()
	raw, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	frame, err := encodeFrame(1, []byte(`{"topic":"Track","id":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var w writer
	allocs := testing.AllocsPerRun(200, func() {
		if n, err := w.op.write(raw, frame); err != nil || n != len(frame) {
			t.Fatalf("write: %d of %d bytes, %v", n, len(frame), err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per write, want 0", allocs)
	}
}
