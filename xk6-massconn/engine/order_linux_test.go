package engine

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// A loop serves the open connections of a batch first, then those on their
// way to open, then its commands (new dials), whatever order epoll gave.
func TestLoopServesOpenConnectionsBeforeNewOnes(t *testing.T) {
	const evfd = 3
	l := &loop{evfd: evfd, byFD: make([]*conn, 10)}
	states := map[int]connState{4: stHandshake, 5: stOpen, 6: stConnecting, 7: stClosing, 8: stOpen}
	for fd, st := range states {
		l.byFD[fd] = &conn{fd: int32(fd), state: st}
	}
	fds := []int32{evfd, 4, 5, 9, 6, 7, 8} // 9: closed meanwhile
	events := make([]unix.EpollEvent, len(fds))
	for i, fd := range fds {
		events[i].Fd = fd
	}
	var served []int32
	for _, i := range l.servingOrder(events, nil) {
		served = append(served, events[i].Fd)
	}
	if want := []int32{5, 7, 8, 4, 6, evfd, 9}; !slices.Equal(served, want) {
		t.Errorf("served fds %v, want %v (open, then opening, then commands)", served, want)
	}
}
