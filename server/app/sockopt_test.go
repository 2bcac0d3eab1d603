package app_test

import (
	"syscall"
)

func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	if cerr != nil {
		return cerr
	}
	return err
}
