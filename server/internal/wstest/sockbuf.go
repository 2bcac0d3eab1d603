package wstest

import "syscall"

// SmallReceiveBuffer is a net.Dialer Control that keeps a client's
// receive window small (4 KB), so that the server's writes to it end
// part-way through a frame as soon as the client reads less than it is
// sent.
func SmallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	return setBuffer(c, syscall.SO_RCVBUF)
}

// SmallSendBuffer is a net.ListenConfig (or Dialer) Control that keeps the
// socket's send buffer small (4 KB; accepted sockets inherit a listening
// socket's), so that a non-blocking write of a message frame ends
// part-way.
func SmallSendBuffer(_, _ string, c syscall.RawConn) error {
	return setBuffer(c, syscall.SO_SNDBUF)
}

func setBuffer(c syscall.RawConn, opt int) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 4096)
	})
	if cerr != nil {
		return cerr
	}
	return err
}
