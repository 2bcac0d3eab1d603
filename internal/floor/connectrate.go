package floor

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// RateOptions say how the connect-rate floor dials.
type RateOptions struct {
	// Conns is the number of connections to open and hold until the end.
	Conns int
	// InFlight bounds the handshakes under way at once, as a client's
	// maxInFlight does.
	InFlight int
	// Sources are the source addresses, taken in turn (bound with
	// IP_BIND_ADDRESS_NO_PORT); none: the kernel's choice.
	Sources []netip.Addr
	// SSE sends an EventSource GET instead of a WebSocket upgrade.
	SSE bool
}

// RateResult is the connect-rate floor.
type RateResult struct {
	Conns   int
	Elapsed time.Duration // from the first connect to the last answer
	// ClientCPU and ServerCPU are the CPU (user+sys) of the client thread
	// and of the Responder thread over the same span, per connection.
	ClientCPU, ServerCPU time.Duration
}

// Bound is the most connections per second cores could open if they did
// nothing but this floor's work for both ends: cores / (client + server CPU
// per connection).
func (r RateResult) Bound(cores int) float64 {
	return float64(cores) / (r.ClientCPU + r.ServerCPU).Seconds()
}

// PerSecond is connections opened per second.
func (r RateResult) PerSecond() float64 { return float64(r.Conns) / r.Elapsed.Seconds() }

// String is one line for a report.
func (r RateResult) String() string {
	return fmt.Sprintf("%.0f conns/s (%d in %s); CPU per conn client %s + server %s",
		r.PerSecond(), r.Conns, r.Elapsed.Round(time.Millisecond), Micros(r.ClientCPU), Micros(r.ServerCPU))
}

// MeasureConnectRate is the fastest this machine opens connections with a
// client and a server on it, each one thread of raw syscalls: the client
// does what a load generator must per connection (socket, bind, TCP_NODELAY,
// non-blocking connect, epoll registration, the request, reading the
// answer) with InFlight handshakes under way, against a Responder on its
// own thread, which does what a server must (accept, epoll registration,
// read the request, write the answer). Nothing else runs in either thread,
// so a client or server that opens connections more slowly than this on
// the same machine is spending its own CPU, not the kernel's.
func MeasureConnectRate(opts RateOptions) (RateResult, error) {
	if opts.Conns < 1 || opts.InFlight < 1 {
		return RateResult{}, errors.New("floor: connect rate needs Conns and InFlight of at least 1")
	}
	srv, err := StartResponder("127.0.0.1:0")
	if err != nil {
		return RateResult{}, err
	}
	type outcome struct {
		res RateResult
		err error
	}
	ch := make(chan outcome, 1)
	srv0, err := srv.CPU()
	if err != nil {
		_, _ = srv.Close()
		return RateResult{}, err
	}
	var srv1 time.Duration
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		d := &rawDialer{opts: opts, port: srv.Port()}
		res, err := d.run()
		var cerr error
		srv1, cerr = srv.CPU() // before the closes below, which are not opening
		d.closeAll()
		err = errors.Join(err, cerr)
		ch <- outcome{res, err}
	}()
	out := <-ch
	_, cerr := srv.Close()
	if err := errors.Join(out.err, cerr); err != nil {
		return RateResult{}, err
	}
	out.res.ServerCPU = (srv1 - srv0) / time.Duration(out.res.Conns)
	return out.res, nil
}

type rawDialer struct {
	opts    RateOptions
	port    int
	epfd    int
	fds     []int
	pending map[int]bool // fd -> request sent
}

// closeAll closes with a reset, not a FIN, so that no client port is left
// in TIME_WAIT for the benchmark that measures next (as meter.closeAll).
func (d *rawDialer) closeAll() {
	abort := &unix.Linger{Onoff: 1, Linger: 0}
	for _, fd := range d.fds {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, abort)
		_ = unix.Close(fd)
	}
	if d.epfd > 0 {
		_ = unix.Close(d.epfd)
	}
}

func (d *rawDialer) run() (RateResult, error) {
	var err error
	if d.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return RateResult{}, fmt.Errorf("floor: epoll: %w", err)
	}
	req := []byte("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if d.opts.SSE {
		req = []byte("GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
	}
	d.pending = make(map[int]bool, d.opts.InFlight)
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 4096)
	dst := &unix.SockaddrInet4{Port: d.port, Addr: [4]byte{127, 0, 0, 1}}
	cpu0, err := threadCPU()
	if err != nil {
		return RateResult{}, err
	}
	start := time.Now()
	started, opened := 0, 0
	for opened < d.opts.Conns {
		for started < d.opts.Conns && len(d.pending) < d.opts.InFlight {
			if err := d.dial(started, dst); err != nil {
				return RateResult{}, err
			}
			started++
		}
		n, err := unix.EpollWait(d.epfd, events, 5000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return RateResult{}, fmt.Errorf("floor: epoll_wait: %w", err)
		}
		if n == 0 {
			return RateResult{}, fmt.Errorf("floor: %d handshakes made no progress for 5 s", len(d.pending))
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			sent, ok := d.pending[fd]
			if !ok {
				continue
			}
			if ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				return RateResult{}, fmt.Errorf("floor: connection %d failed (events %#x)", fd, ev.Events)
			}
			if !sent && ev.Events&unix.EPOLLOUT != 0 {
				if err := writeFull(fd, req); err != nil {
					return RateResult{}, fmt.Errorf("floor: request: %w", err)
				}
				d.pending[fd] = true
			}
			if ev.Events&unix.EPOLLIN != 0 {
				k, err := unix.Read(fd, buf)
				if err != nil || k == 0 || !bytes.Contains(buf[:k], []byte("\r\n\r\n")) {
					return RateResult{}, fmt.Errorf("floor: answer on connection %d: %d bytes: %w", fd, k, err)
				}
				delete(d.pending, fd)
				opened++
			}
		}
	}
	elapsed := time.Since(start)
	cpu1, err := threadCPU()
	if err != nil {
		return RateResult{}, err
	}
	return RateResult{Conns: opened, Elapsed: elapsed, ClientCPU: (cpu1 - cpu0) / time.Duration(opened)}, nil
}

func (d *rawDialer) dial(i int, dst unix.Sockaddr) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("floor: socket: %w", err)
	}
	d.fds = append(d.fds, fd)
	if n := len(d.opts.Sources); n > 0 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: d.opts.Sources[i%n].As4()}); err != nil {
			return fmt.Errorf("floor: bind %s: %w", d.opts.Sources[i%n], err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.EpollCtl(d.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLET, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("floor: epoll_ctl: %w", err)
	}
	if err := unix.Connect(fd, dst); err != nil && err != unix.EINPROGRESS {
		return fmt.Errorf("floor: connect: %w", err)
	}
	d.pending[fd] = false
	return nil
}
