package floor

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Responder is the cheapest server a connect-rate benchmark can point a
// client at, so that the rate measured is the client's: one OS thread of
// raw syscalls that accepts, reads a request head, answers a WebSocket
// upgrade with its bare 101 and any other request with the head of an
// endless text/event-stream, and then holds the socket until the client
// closes it. It sends nothing more and parses nothing more: a client held
// by it costs the server side only the kernel's socket.
type Responder struct {
	lfd, epfd, evfd int
	port            uint16
	answered        atomic.Int64
	tid             atomic.Int32 // the serving thread, for CPU
	cpu             atomic.Int64 // the thread's CPU in ns, stored when it ends
	started         chan struct{}
	done            chan error
	closed          atomic.Bool
}

// sseHead is the answer to a request that is not a WebSocket upgrade.
const sseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"

// StartResponder listens on addr (host:port; port 0 picks one) and serves
// on a thread of its own until Close.
func StartResponder(addr string) (*Responder, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("floor responder: address %q: want IPv4 host:port, e.g. 127.0.0.1:0", addr)
	}
	r := &Responder{lfd: -1, epfd: -1, evfd: -1, done: make(chan error, 1), started: make(chan struct{})}
	if err := r.open(ap); err != nil {
		r.closeFDs()
		return nil, err
	}
	go r.serve()
	<-r.started
	return r, nil
}

func (r *Responder) open(ap netip.AddrPort) error {
	var err error
	if r.lfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
		return fmt.Errorf("floor responder: socket: %w", err)
	}
	_ = unix.SetsockoptInt(r.lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(r.lfd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return fmt.Errorf("floor responder: bind %s: %w", ap, err)
	}
	if err := unix.Listen(r.lfd, 4096); err != nil {
		return fmt.Errorf("floor responder: listen: %w", err)
	}
	sa, err := unix.Getsockname(r.lfd)
	if err != nil {
		return fmt.Errorf("floor responder: listener address: %w", err)
	}
	r.port = uint16(sa.(*unix.SockaddrInet4).Port)
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("floor responder: epoll: %w", err)
	}
	if r.evfd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("floor responder: eventfd: %w", err)
	}
	for _, fd := range []int{r.lfd, r.evfd} {
		if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return fmt.Errorf("floor responder: epoll_ctl: %w", err)
		}
	}
	return nil
}

// Port is the port it listens on.
func (r *Responder) Port() int { return int(r.port) }

// CPU is the CPU (user+sys) the serving thread has used so far, read from
// another thread through the thread's CPU clock (pthread_getcpuclockid's
// clock: the bitwise complement of its id shifted left 3, per-thread,
// scheduler-accurate).
func (r *Responder) CPU() (time.Duration, error) {
	if r.closed.Load() {
		return time.Duration(r.cpu.Load()), nil
	}
	clock := ^r.tid.Load()<<3 | 6
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, fmt.Errorf("floor responder: CPU clock of thread %d: %w", r.tid.Load(), err)
	}
	return time.Duration(ts.Nano()), nil
}

// Answered is the number of requests answered so far.
func (r *Responder) Answered() int64 { return r.answered.Load() }

// Close stops the thread, closes every socket it holds and returns the CPU
// the thread used (user+sys) over its life.
func (r *Responder) Close() (time.Duration, error) {
	if r.closed.Swap(true) {
		return time.Duration(r.cpu.Load()), errors.New("floor responder: closed twice")
	}
	one := [8]byte{1}
	_, _ = unix.Write(r.evfd, one[:])
	err := <-r.done
	return time.Duration(r.cpu.Load()), err
}

func (r *Responder) closeFDs() {
	for _, fd := range []int{r.lfd, r.epfd, r.evfd} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// serve is the thread. A request head that arrives in pieces is kept per
// socket until it is whole; answered sockets stay in the epoll set only to
// learn of the client's close.
func (r *Responder) serve() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r.tid.Store(int32(unix.Gettid()))
	close(r.started)
	partial := map[int][]byte{}
	held := map[int]struct{}{}
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 8192)
	var resp []byte
	var err error
	defer func() {
		if cpu, cerr := threadCPU(); cerr == nil {
			r.cpu.Store(int64(cpu))
		}
		for fd := range held {
			_ = unix.Close(fd)
		}
		r.closeFDs()
		r.done <- err
	}()
	for {
		n, werr := unix.EpollWait(r.epfd, events, -1)
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			err = fmt.Errorf("floor responder: epoll_wait: %w", werr)
			return
		}
		for _, ev := range events[:n] {
			switch fd := int(ev.Fd); fd {
			case r.evfd:
				return
			case r.lfd:
				r.acceptAll(held)
			default:
				resp = r.read(fd, buf, resp, partial, held)
			}
		}
	}
}

func (r *Responder) acceptAll(held map[int]struct{}) {
	for {
		fd, _, err := unix.Accept4(r.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN, or out of descriptors: the client's connect times out
		}
		if unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}) != nil {
			_ = unix.Close(fd)
			continue
		}
		held[fd] = struct{}{}
	}
}

// read takes what one socket sent: a request head (or a piece of one), or
// its client's close.
func (r *Responder) read(fd int, buf, resp []byte, partial map[int][]byte, held map[int]struct{}) []byte {
	n, err := unix.Read(fd, buf)
	if err == unix.EAGAIN {
		return resp
	}
	if err != nil || n == 0 {
		delete(partial, fd)
		delete(held, fd)
		_ = unix.Close(fd) // also leaves the epoll set
		return resp
	}
	head := buf[:n]
	if p, ok := partial[fd]; ok {
		head = append(p, head...)
	}
	if !bytes.Contains(head, []byte("\r\n\r\n")) {
		if len(head) < 16<<10 {
			partial[fd] = append([]byte(nil), head...)
		}
		return resp
	}
	delete(partial, fd)
	resp = resp[:0]
	if key, kerr := findKey(head); kerr == nil {
		resp = appendUpgradeResponse(resp, key)
	} else {
		resp = append(resp, sseHead...)
	}
	if writeFull(fd, resp) == nil {
		r.answered.Add(1)
	}
	return resp
}
