// Package floor measures this machine's physical floor for the work a
// WebSocket fan-out server does, with raw syscalls and nothing else in the
// way: the CPU cost of a loopback TCP connect+accept, of a bare WebSocket
// upgrade exchange on such a connection, and of one write and one read of a
// message of a given size, at a given number of connection pairs.
//
// Benchmarks call Measure in the same run as the figure they compare with
// it, because this machine is noisy: a floor measured an hour ago is not the
// floor now. Costs are CPU time of the one OS thread doing the syscalls
// (CLOCK_THREAD_CPUTIME_ID, user+sys), so other goroutines of the calling
// process do not count. On loopback the kernel runs the receiving side of a
// write inline in the writer's syscall, so the write cost covers the
// kernel's work for both ends; the read cost is the receiver's own syscall.
package floor

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // RFC 6455 prescribes SHA-1 for Sec-WebSocket-Accept
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Options say what to measure.
type Options struct {
	// Pairs is the number of connected loopback socket pairs held at once
	// (2 file descriptors each). 0: as many as the open-file limit allows,
	// minus Headroom, at most 9,000.
	Pairs int
	// Headroom is the file descriptors left free when Pairs is 0 (default
	// 200).
	Headroom int
	// MessageSize is the bytes of one write (default 30): for a WebSocket
	// server, the size of one whole frame on the wire.
	MessageSize int
	// Rounds is how many times every pair gets one write and one read
	// (default 5).
	Rounds int
}

// Result is the floor, each figure the CPU time of one operation.
type Result struct {
	Pairs       int
	MessageSize int
	Rounds      int
	// ConnectAccept is one blocking connect plus the accept of it, both
	// ends (the handshake runs inside the connect).
	ConnectAccept time.Duration
	// Upgrade is one WebSocket opening handshake on a connected pair, both
	// ends: the client writes a GET with Upgrade headers, the server reads
	// it, computes Sec-WebSocket-Accept and writes the 101 response, the
	// client reads that. No HTTP parsing beyond finding the key.
	Upgrade time.Duration
	// Write is one write of MessageSize bytes to a connected socket whose
	// peer is not waiting in a read (includes the loopback receive path).
	Write time.Duration
	// Read is one read of the message by the peer.
	Read time.Duration
	// WriteConcurrent and ReadConcurrent are the same write and read while
	// a reader on an OS thread of its own waits in epoll_wait on every
	// peer and reads each message as it arrives, as the event loops of a
	// fan-out server's clients do (and as the C program in the floor's
	// issue measured): the sockets' state moves between cores and sleeping
	// readers are woken, which Write and Read, taken one after the other
	// on one thread, leave out. Each is the CPU of its own thread.
	WriteConcurrent time.Duration
	ReadConcurrent  time.Duration
}

// DeliveryConcurrent is WriteConcurrent plus ReadConcurrent.
func (r Result) DeliveryConcurrent() time.Duration { return r.WriteConcurrent + r.ReadConcurrent }

// Delivery is one write plus its read: the CPU of a message from one
// process to another, both ends.
func (r Result) Delivery() time.Duration { return r.Write + r.Read }

// String is one line for a report.
func (r Result) String() string {
	return fmt.Sprintf("%d pairs, %d-byte message: write %s, read %s (with an epoll reader on another thread at the same time: write %s, read %s), connect+accept %s, WebSocket upgrade %s",
		r.Pairs, r.MessageSize, Micros(r.Write), Micros(r.Read), Micros(r.WriteConcurrent), Micros(r.ReadConcurrent), Micros(r.ConnectAccept), Micros(r.Upgrade))
}

// Micros formats d in microseconds with one decimal.
func Micros(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3)
}

// Ratio formats figure/floor as "1.23x", or "n/a" without a floor.
func Ratio(figure, floor time.Duration) string {
	if floor <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", float64(figure)/float64(floor))
}

// PairsFor is the number of pairs the open-file limit allows, minus
// headroom, at most maxPairs.
func PairsFor(headroom, maxPairs int) (int, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("floor: read RLIMIT_NOFILE: %w", err)
	}
	n := (int(min(rl.Cur, 1<<30)) - headroom) / 2
	if n < 1 {
		return 0, fmt.Errorf("floor: open-file limit %d leaves no pairs after %d of headroom; raise ulimit -n", rl.Cur, headroom)
	}
	return min(n, maxPairs), nil
}

// Measure runs the floor. It holds 2*Pairs+1 file descriptors while it runs
// and closes them all before it returns.
func Measure(opts Options) (Result, error) {
	if opts.Headroom <= 0 {
		opts.Headroom = 200
	}
	if opts.MessageSize <= 0 {
		opts.MessageSize = 30
	}
	if opts.Rounds <= 0 {
		opts.Rounds = 5
	}
	if opts.Pairs < 0 {
		return Result{}, errors.New("floor: Pairs must be 0 (from the open-file limit) or more")
	}
	if opts.Pairs == 0 {
		n, err := PairsFor(opts.Headroom, 9000)
		if err != nil {
			return Result{}, err
		}
		opts.Pairs = n
	}
	// One OS thread does every syscall, so its CPU clock is the cost.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := &meter{opts: opts}
	defer m.closeAll()
	return m.run()
}

type meter struct {
	opts     Options
	listener int
	clients  []int
	servers  []int
}

// closeAll closes every socket with a reset (SO_LINGER 0) rather than a
// FIN: a FIN would leave each client port in TIME_WAIT for a minute, and a
// benchmark that picked its server ports before measuring could not listen
// on one of them afterwards.
func (m *meter) closeAll() {
	abort := &unix.Linger{Onoff: 1, Linger: 0}
	for _, fd := range m.clients {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, abort)
		_ = unix.Close(fd)
	}
	for _, fd := range m.servers {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, abort)
		_ = unix.Close(fd)
	}
	if m.listener > 0 {
		_ = unix.Close(m.listener)
	}
}

func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("floor: read the thread's CPU clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// timed runs f and returns the thread CPU it took divided by n.
func timed(n int, f func() error) (time.Duration, error) {
	before, err := threadCPU()
	if err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	after, err := threadCPU()
	if err != nil {
		return 0, err
	}
	return (after - before) / time.Duration(n), nil
}

func (m *meter) run() (Result, error) {
	res := Result{Pairs: m.opts.Pairs, MessageSize: m.opts.MessageSize, Rounds: m.opts.Rounds}
	if err := m.listen(); err != nil {
		return res, err
	}
	var err error
	if res.ConnectAccept, err = timed(m.opts.Pairs, m.connectAll); err != nil {
		return res, err
	}
	if res.Upgrade, err = timed(m.opts.Pairs, m.upgradeAll); err != nil {
		return res, err
	}
	msg := make([]byte, m.opts.MessageSize)
	for i := range msg {
		msg[i] = 'x'
	}
	buf := make([]byte, max(m.opts.MessageSize, 4096))
	var write, read time.Duration
	for range m.opts.Rounds {
		w, err := timed(m.opts.Pairs, func() error { return writeAll(m.servers, msg) })
		if err != nil {
			return res, err
		}
		r, err := timed(m.opts.Pairs, func() error { return readAll(m.clients, buf, len(msg)) })
		if err != nil {
			return res, err
		}
		write, read = write+w, read+r
	}
	res.Write = write / time.Duration(m.opts.Rounds)
	res.Read = read / time.Duration(m.opts.Rounds)
	if res.WriteConcurrent, res.ReadConcurrent, err = m.concurrent(msg, buf); err != nil {
		return res, err
	}
	return res, nil
}

// concurrent runs Rounds rounds in which this thread writes msg to every
// server socket while a reader on an OS thread of its own waits in
// epoll_wait on every client socket and reads each message as it
// arrives; it returns each thread's CPU per message.
func (m *meter) concurrent(msg, buf []byte) (write, read time.Duration, err error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return 0, 0, fmt.Errorf("floor: epoll_create1: %w", err)
	}
	defer unix.Close(epfd)
	maxFD := 0
	for _, fd := range m.clients {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return 0, 0, fmt.Errorf("floor: epoll_ctl: %w", err)
		}
		maxFD = max(maxFD, fd)
	}
	got := make([]int, maxFD+1)
	n := time.Duration(len(m.clients))
	type readResult struct {
		cpu time.Duration
		err error
	}
	for range m.opts.Rounds {
		clear(got)
		started := make(chan struct{})
		done := make(chan readResult, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			before, err := threadCPU()
			close(started)
			if err == nil {
				err = readArrivals(epfd, got, buf, len(msg), len(m.clients))
			}
			after, cerr := threadCPU()
			done <- readResult{cpu: after - before, err: errors.Join(err, cerr)}
		}()
		<-started
		w, werr := timed(len(m.servers), func() error { return writeAll(m.servers, msg) })
		r := <-done
		if err := errors.Join(werr, r.err); err != nil {
			return 0, 0, err
		}
		write, read = write+w, read+r.cpu/n
	}
	rounds := time.Duration(m.opts.Rounds)
	return write / rounds, read / rounds, nil
}

// arrivalTimeout bounds one epoll_wait of readArrivals: a message that
// has not arrived by then is lost, not late.
const arrivalTimeout = 10 * time.Second

// readArrivals reads every client socket epoll reports readable until
// each of pairs sockets has had want bytes; got counts bytes per fd.
func readArrivals(epfd int, got []int, buf []byte, want, pairs int) error {
	events := make([]unix.EpollEvent, 256)
	for left := pairs; left > 0; {
		k, err := unix.EpollWait(epfd, events, int(arrivalTimeout/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("floor: epoll_wait: %w", err)
		}
		if k == 0 {
			return fmt.Errorf("floor: %d of %d messages did not arrive within %v", left, pairs, arrivalTimeout)
		}
		for _, ev := range events[:k] {
			fd := int(ev.Fd)
			r, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			if err != nil {
				return fmt.Errorf("floor: read: %w", err)
			}
			if r == 0 {
				return errors.New("floor: peer closed")
			}
			before := got[fd]
			got[fd] += r
			if before < want && got[fd] >= want {
				left--
			}
		}
	}
	return nil
}

func (m *meter) listen() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("floor: listener socket: %w", err)
	}
	m.listener = fd
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fmt.Errorf("floor: bind 127.0.0.1:0: %w", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return fmt.Errorf("floor: listen: %w", err)
	}
	return nil
}

func (m *meter) connectAll() error {
	sa, err := unix.Getsockname(m.listener)
	if err != nil {
		return fmt.Errorf("floor: listener address: %w", err)
	}
	m.clients = make([]int, 0, m.opts.Pairs)
	m.servers = make([]int, 0, m.opts.Pairs)
	for i := range m.opts.Pairs {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("floor: socket for pair %d: %w", i, err)
		}
		m.clients = append(m.clients, c)
		if err := unix.Connect(c, sa); err != nil {
			return fmt.Errorf("floor: connect pair %d: %w", i, err)
		}
		s, _, err := unix.Accept4(m.listener, unix.SOCK_CLOEXEC)
		if err != nil {
			return fmt.Errorf("floor: accept pair %d: %w", i, err)
		}
		m.servers = append(m.servers, s)
		// What a WebSocket server and client set: no Nagle delay.
		if err := unix.SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("floor: TCP_NODELAY: %w", err)
		}
		if err := unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("floor: TCP_NODELAY: %w", err)
		}
	}
	return nil
}

const (
	upgradeRequest = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	keyHeader = "Sec-WebSocket-Key: "
	wsGUID    = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

// upgradeAll does the opening handshake on every pair, in both roles.
func (m *meter) upgradeAll() error {
	req := []byte(upgradeRequest)
	buf := make([]byte, 1024)
	resp := make([]byte, 0, 256)
	for i := range m.clients {
		if err := writeFull(m.clients[i], req); err != nil {
			return fmt.Errorf("floor: upgrade request on pair %d: %w", i, err)
		}
		n, err := readAtLeast(m.servers[i], buf, len(req))
		if err != nil {
			return fmt.Errorf("floor: read upgrade request on pair %d: %w", i, err)
		}
		key, err := findKey(buf[:n])
		if err != nil {
			return fmt.Errorf("floor: pair %d: %w", i, err)
		}
		resp = appendUpgradeResponse(resp[:0], key)
		if err := writeFull(m.servers[i], resp); err != nil {
			return fmt.Errorf("floor: upgrade response on pair %d: %w", i, err)
		}
		if _, err := readAtLeast(m.clients[i], buf, len(resp)); err != nil {
			return fmt.Errorf("floor: read upgrade response on pair %d: %w", i, err)
		}
	}
	return nil
}

// appendUpgradeResponse appends the bare 101 answer to an upgrade request
// with Sec-WebSocket-Key key.
func appendUpgradeResponse(dst, key []byte) []byte {
	sum := sha1.Sum(append(key, wsGUID...)) //nolint:gosec // RFC 6455
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = base64.StdEncoding.AppendEncode(dst, sum[:])
	return append(dst, "\r\n\r\n"...)
}

func findKey(req []byte) ([]byte, error) {
	for i := 0; i+len(keyHeader) <= len(req); i++ {
		// Header names are case-insensitive (Go's clients send
		// "Sec-Websocket-Key").
		if !bytes.EqualFold(req[i:i+len(keyHeader)], []byte(keyHeader)) {
			continue
		}
		rest := req[i+len(keyHeader):]
		for j := range rest {
			if rest[j] == '\r' {
				return append([]byte(nil), rest[:j]...), nil
			}
		}
	}
	return nil, errors.New("no Sec-WebSocket-Key line in the upgrade request")
}

func writeAll(fds []int, msg []byte) error {
	for i, fd := range fds {
		if err := writeFull(fd, msg); err != nil {
			return fmt.Errorf("floor: write on pair %d: %w", i, err)
		}
	}
	return nil
}

func readAll(fds []int, buf []byte, want int) error {
	for i, fd := range fds {
		if _, err := readAtLeast(fd, buf, want); err != nil {
			return fmt.Errorf("floor: read on pair %d: %w", i, err)
		}
	}
	return nil
}

func writeFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// readAtLeast reads (blocking) until want bytes arrived.
func readAtLeast(fd int, buf []byte, want int) (int, error) {
	got := 0
	for got < want {
		n, err := unix.Read(fd, buf[got:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return got, err
		}
		if n == 0 {
			return got, errors.New("peer closed")
		}
		got += n
	}
	return got, nil
}
