// Package freeport finds a loopback TCP port nobody listens on, for tests
// and throwaway servers that must not collide with each other.
package freeport

import (
	"fmt"
	"net"
	"testing"
)

// Loopback asks the kernel for a free port on 127.0.0.1 and releases it for
// the caller to listen on.
func Loopback() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Must is Loopback that fails the test instead of returning an error.
func Must(tb testing.TB) int {
	tb.Helper()
	p, err := Loopback()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
