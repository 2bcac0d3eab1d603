package testpeer

import (
	"net"
	"sync"
	"testing"
)

// RawServer accepts TCP connections on a free loopback port and hands each
// to serve in its own goroutine, for tests that write a server's bytes by
// hand. It returns ws://ADDR/. When the test ends the listener closes and
// RawServer waits for every serve to return, so none outlives its test.
func RawServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c) }()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}
