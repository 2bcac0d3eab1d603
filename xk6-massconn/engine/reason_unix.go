//go:build unix

package engine

import (
	"errors"
	"syscall"
)

// reasonOf maps a socket error to a failure reason.
func reasonOf(err error) reasonID {
	switch {
	case errors.Is(err, syscall.ETIMEDOUT):
		return rTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return rRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return rReset
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return rAddrNotAvail
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return rTooManyFiles
	}
	return rOther
}
