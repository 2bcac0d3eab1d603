package freeport

import (
	"net"
	"strconv"
	"testing"
)

// The port it gives is one a listener can take right away.
func TestLoopbackCanBeListenedOn(t *testing.T) {
	p := Must(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d is not free: %v", p, err)
	}
	l.Close()
}
