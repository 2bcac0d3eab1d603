package engine

import (
	"slices"
	"testing"
	"time"

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

// Connections opened in the same instant beat spread over the period: no
// tenth of it holds much more than a tenth of the first beats (the
// Heartbeat's, or an adapter's keep-alive such as Phoenix's).
func TestFirstBeatsSpreadOverThePeriod(t *testing.T) {
	const n, every = 2000, 30 * time.Second
	l := &loop{now: 1e12, rng: 1}
	var tenths [10]int
	for range n {
		at := l.firstBeat(every) - l.now
		if at <= 0 || at > int64(every) {
			t.Fatalf("first beat %v after opening, want within (0, %v]", time.Duration(at), every)
		}
		tenths[(at-1)*10/int64(every)]++
	}
	// Each tenth is binomial(2000, 0.1): mean 200, deviation 13.4.
	for i, c := range tenths {
		if c > 2*n/10*3/2 {
			t.Errorf("tenth %d of the period holds %d of %d first beats (per tenth: %v)", i, c, n, tenths)
		}
	}
}
