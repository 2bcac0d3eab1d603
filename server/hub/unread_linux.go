//go:build linux

package hub

import "golang.org/x/sys/unix"

// unreadBytes is how many bytes wait in the socket's receive queue (0 if
// it cannot tell).
func unreadBytes(fd uintptr) int {
	n, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}
