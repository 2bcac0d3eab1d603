//go:build linux

package wsapi

import (
	"errors"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"
)

// parker is the poller of parked connections (park.go): one epoll
// instance, waited on by one goroutine, started with the first parked
// connection. Each connection is registered one-shot, so one readiness is
// handled once and then either re-armed (it was only pongs) or handed to
// gws.
type parker struct {
	mu     sync.Mutex
	epfd   int // -1 until the first park
	wake   int // an eventfd in epfd: close writes it to end the wait
	slots  []*session
	free   []uint32
	gen    uint32
	closed bool
	done   chan struct{} // closed when the poller's goroutine ends
	log    *slog.Logger
}

// wakeSlot is the epoll data of the wake eventfd; connections' slots are
// below it.
const wakeSlot = ^uint32(0)

// parkEvents are what wake a parked connection: bytes, the peer's end of
// the stream, a reset.
const parkEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func newParker(log *slog.Logger) *parker { return &parker{epfd: -1, log: log} }

// start opens the epoll instance and starts the poller; p.mu is held.
func (p *parker) start() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1} // wakeSlot
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(wake)
		_ = unix.Close(epfd)
		return err
	}
	p.epfd, p.wake, p.done = epfd, wake, make(chan struct{})
	go p.run()
	return nil
}

// park registers s with the poller; false if it cannot be parked (the
// poller is closed or failed to start, or the socket is already closed).
func (p *parker) park(s *session) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	if p.epfd < 0 {
		if err := p.start(); err != nil {
			p.closed = true
			p.mu.Unlock()
			p.log.Warn("idle connections cannot be parked; each reads in a goroutine of its own", "err", err)
			return false
		}
	}
	if n := len(p.free); n > 0 {
		s.slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		s.slot = uint32(len(p.slots))
		p.slots = append(p.slots, nil)
	}
	p.gen++
	s.gen = p.gen
	p.slots[s.slot] = s
	epfd := p.epfd
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: parkEvents, Fd: int32(s.slot), Pad: int32(s.gen)}
	var addErr error
	err := s.raw.Control(func(fd uintptr) {
		addErr = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || addErr != nil {
		p.remove(s)
		return false
	}
	return true
}

// remove forgets s if it is parked. Its socket stays in the epoll set
// until it is closed (the kernel drops it then) or the poller deletes it.
func (p *parker) remove(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(s.slot) < len(p.slots) && p.slots[s.slot] == s {
		p.slots[s.slot] = nil
		p.free = append(p.free, s.slot)
	}
}

// count is how many connections are parked.
func (p *parker) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.slots) - len(p.free)
}

// sessions are the parked connections.
func (p *parker) sessions() []*session {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*session
	for _, s := range p.slots {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// close ends the poller and starts the read loop of every connection
// still parked.
func (p *parker) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	started := p.epfd >= 0
	p.mu.Unlock()
	if started {
		one := [8]byte{1}
		_, _ = unix.Write(p.wake, one[:])
		<-p.done
		_ = unix.Close(p.wake)
		_ = unix.Close(p.epfd)
	}
	p.unparkAll()
}

// unparkAll starts the read loop of every connection still parked.
func (p *parker) unparkAll() {
	for _, s := range p.sessions() {
		p.remove(s)
		s.startReading()
	}
}

// run waits for parked connections to become readable until close.
func (p *parker) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not expected of a valid epoll instance; the connections
			// still parked get their read loops.
			p.log.Error("idle connection poller failed; parked connections read in goroutines of their own", "err", err)
			p.mu.Lock()
			p.closed = true
			p.mu.Unlock()
			p.unparkAll()
			return
		}
		for _, ev := range events[:n] {
			slot, gen := uint32(ev.Fd), uint32(ev.Pad)
			if slot == wakeSlot {
				return
			}
			p.ready(slot, gen)
		}
	}
}

// ready handles one readiness of the connection in slot: pongs are
// taken and the connection re-armed; anything else goes to gws.
func (p *parker) ready(slot, gen uint32) {
	p.mu.Lock()
	var s *session
	if int(slot) < len(p.slots) {
		s = p.slots[slot]
	}
	p.mu.Unlock()
	if s == nil || s.gen != gen || s.reading.Load() {
		return // left meanwhile (its slot may be someone else's now)
	}
	if s.stream != nil {
		if s.stream.dropUnread() {
			p.rearm(s, slot, gen)
			return
		}
		_ = s.raw.Control(func(fd uintptr) {
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
		p.remove(s)
		s.stream.end()
		return
	}
	if p.takePongs(s) {
		ev := unix.EpollEvent{Events: parkEvents, Fd: int32(slot), Pad: int32(gen)}
		var modErr error
		err := s.raw.Control(func(fd uintptr) {
			modErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		})
		if err == nil && modErr == nil {
			return
		}
	} else {
		_ = s.raw.Control(func(fd uintptr) {
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	p.remove(s)
	s.startReading()
}

// rearm waits for s's next readiness; if that fails, s reads in a
// goroutine of its own.
func (p *parker) rearm(s *session, slot, gen uint32) {
	ev := unix.EpollEvent{Events: parkEvents, Fd: int32(slot), Pad: int32(gen)}
	var modErr error
	err := s.raw.Control(func(fd uintptr) {
		modErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	})
	if err != nil || modErr != nil {
		p.remove(s)
		s.startReading()
	}
}

// dropUnread reads and drops what an SSE client sent (it has nothing to
// say after its request); false once the peer has gone (the end of its
// stream, an error).
func (st *sseStream) dropUnread() bool {
	var buf [512]byte
	alive := false
	err := st.raw.Read(func(fd uintptr) bool {
		// A bounded number of reads: a client that keeps sending gets the
		// poller back after each few, re-armed (its bytes still wait).
		for range 8 {
			n, err := unix.Read(int(fd), buf[:])
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EAGAIN):
				alive = true
			case err != nil || n == 0:
				alive = false
			default:
				alive = true
				continue // more may wait
			}
			return true
		}
		return true
	})
	return err == nil && alive
}

// takePongs reads the whole pongs waiting on s's socket, if that is all
// there is; false if anything else (another frame, part of one, the end
// of the stream, an error) waits for gws, which then reads from the first
// byte after the last whole pong. Peeking and reading happen under one
// hold of the socket's read lock, so a read loop started meanwhile reads
// after them.
func (p *parker) takePongs(s *session) bool {
	var buf [256]byte // holds at least one pong of the largest size (131 bytes)
	for {
		keep, full := false, false
		err := s.raw.Read(func(fd uintptr) bool {
			n, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case errors.Is(err, unix.EAGAIN):
				keep = true // woken for nothing
				return true
			case err != nil || n == 0:
				return true
			}
			used := wholePongs(buf[:n])
			if used == 0 {
				return true
			}
			if m, err := unix.Read(int(fd), buf[:used]); err != nil || m != used {
				return true // cannot happen: the bytes were there
			}
			s.sub.Touch()
			keep, full = used == n, n == len(buf)
			return true
		})
		if err != nil || !keep || !full {
			return err == nil && keep
		}
		// The buffer was full of pongs: more may wait.
	}
}
