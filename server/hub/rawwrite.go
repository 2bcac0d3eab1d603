package hub

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWriteOp makes one non-blocking write of b to the socket at a time:
// it returns how much the kernel took (0 when the socket buffer is full)
// or why it failed (the socket is closed, a write deadline passed, the
// peer reset it). The callback RawConn.Write takes escapes (an interface
// call), so a closure made per write cost three allocations per subscriber
// per broadcast; each writer makes its callback once and reuses it.
type rawWriteOp struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func (op *rawWriteOp) write(raw syscall.RawConn, b []byte) (int, error) {
	if op.fn == nil {
		op.fn = func(fd uintptr) bool {
			for {
				op.n, op.err = rawWrite(fd, op.b)
				if !errors.Is(op.err, unix.EINTR) {
					return true // never wait for the socket: the caller decides
				}
			}
		}
	}
	op.b, op.n, op.err = b, 0, nil
	err := raw.Write(op.fn)
	n, werr := op.n, op.err
	op.b, op.err = nil, nil
	if err != nil {
		return 0, err
	}
	if errors.Is(werr, unix.EAGAIN) {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return max(n, 0), nil
}

// rawWrite is write(2) without the runtime's syscall bookkeeping. The
// socket is non-blocking, so the call never waits; it only runs the
// kernel's send (and, on loopback, receive) path. Through syscall.Syscall
// every write also marked its P as in a syscall, which kept sysmon waking
// at its shortest interval to look for Ps to retake during a fan-out, a
// visible share of the server's CPU per delivered message in a profile.
func rawWrite(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// rawConn is sock's raw socket for non-blocking writes, or nil (TLS, or
// a connection that is not a socket): those subscribers always write from
// a goroutine of their own. A net.Conn that offers SyscallConn is taken to
// write its bytes to that socket unchanged (as *net.TCPConn does, and
// wsapi's replayConn, which only replays reads).
func rawConn(sock net.Conn) syscall.RawConn {
	sc, ok := sock.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
