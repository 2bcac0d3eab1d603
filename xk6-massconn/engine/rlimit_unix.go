//go:build unix

package engine

import "syscall"

func fileLimit() (int, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return int(r.Cur), nil
}
