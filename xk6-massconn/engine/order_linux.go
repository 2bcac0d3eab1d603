package engine

import "golang.org/x/sys/unix"

// servingOrder appends to order the indexes of events in the order the
// loop serves them: open connections first (the server's pings, the rows
// it sent), then connections still connecting or reading their upgrade
// response, then the loop's commands (new dials) last. A loop that is
// behind thus answers pings before it opens more connections, so a burst of
// new ones cannot make the open ones look dead to the server.
func (l *loop) servingOrder(events []unix.EpollEvent, order []int32) []int32 {
	for pass := range 3 {
		for i := range events {
			if l.servingPass(int(events[i].Fd)) == pass {
				order = append(order, int32(i))
			}
		}
	}
	return order
}

// servingPass is 0 for an open (or closing) connection, 1 for one on its
// way to open, 2 for the command eventfd (and fds no longer known, which
// are skipped anyway).
func (l *loop) servingPass(fd int) int {
	if fd == l.evfd {
		return 2
	}
	c := l.conn(fd)
	switch {
	case c == nil:
		return 2
	case c.state == stConnecting || c.state == stHandshake:
		return 1
	}
	return 0
}
