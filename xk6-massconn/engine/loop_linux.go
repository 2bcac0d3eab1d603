//go:build linux

package engine

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loops are shared by every pool of the process: k6 may run many
// VUs that each call connect, and a loop per pool would multiply threads
// without adding cores.
var (
	loopsOnce sync.Once
	loops     []*loop
	loopsErr  error
)

// loopCount is how many event loops the process runs, decided once: pools
// size their counter shards by it before the loops start.
var (
	loopCountOnce sync.Once
	loopCount     int
	loopCountErr  error
)

func numLoops() int {
	loopCountOnce.Do(func() {
		loopCount, loopCountErr = loopsFromEnv(runtime.GOMAXPROCS(0))
	})
	return loopCount
}

// defaultLoops is the number of loops for a process with procs Ps: one P
// fewer than there are, at least one and at most four. A loop spends most
// of its time in epoll_wait or its coalescing sleep, syscalls that keep the
// loop's P; when every P is held that way, the runtime's sysmon takes them
// back every 20 µs (it only leaves a P in a syscall alone while another P is
// idle) and wakes a spinning thread to run them, and sysmon itself never
// backs off. With one loop per P on this 2-core machine that was 15% of
// k6's CPU (sysmon's usleep and the hand-offs) and k6 used 6.8-7.5 µs of
// CPU per delivered message; with one loop 4.2-4.4 µs, at the same fan-out
// latency (18,000 connections, a row every 250 ms, two runs each side by
// side). MASSCONN_LOOPS sets another count.
func defaultLoops(procs int) int {
	return max(1, min(procs-1, 4))
}

// maxLoops bounds MASSCONN_LOOPS: a loop is a thread with its own epoll set
// and read buffer, and more loops than cores only add context switches.
const maxLoops = 64

// loopsFromEnv reads MASSCONN_LOOPS (the number of event loops); a bad
// value is an error that names the variable and the fix.
func loopsFromEnv(procs int) (int, error) {
	v, ok := os.LookupEnv("MASSCONN_LOOPS")
	if !ok || v == "" {
		return defaultLoops(procs), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLoops {
		return defaultLoops(procs), fmt.Errorf("MASSCONN_LOOPS=%q: want a whole number of event loops from 1 to %d, or unset for the default (%d here)",
			v, maxLoops, defaultLoops(procs))
	}
	return n, nil
}

// checkEngineEnv reads the loops' environment variables afresh, so that
// Dial fails on a bad value with the variable's name instead of sending
// every connection to the portable engine (which start does when the loops
// cannot run).
func checkEngineEnv() error {
	if _, err := loopsFromEnv(runtime.GOMAXPROCS(0)); err != nil {
		return err
	}
	_, err := coalesceFromEnv()
	return err
}

func getLoops() ([]*loop, error) {
	loopsOnce.Do(func() {
		if numLoops(); loopCountErr != nil {
			loopsErr = loopCountErr
			return
		}
		if coalesceWindow, loopsErr = coalesceFromEnv(); loopsErr != nil {
			return
		}
		for i := range numLoops() {
			l, err := newLoop(i)
			if err != nil {
				loopsErr = err
				return
			}
			loops = append(loops, l)
			go l.run()
		}
	})
	return loops, loopsErr
}

// coalesceWindow is how long a busy loop lets events gather before it takes
// them. Every blocking epoll_wait that sleeps costs a context switch and the
// Go scheduler's hand-off of the loop's P; at tens of thousands of small
// messages a second that was more of k6's CPU than reading them (8.7-9.8 µs
// of k6 CPU per delivered message, against 4.9-5.9 µs coalesced, side by
// side in one run). A loop whose last wait found coalesceBusy events or
// more sleeps the window and then polls without blocking; an idle or lightly
// loaded loop blocks as before. A message's receive time, and so a measured
// latency, can then be late by up to one window: MASSCONN_COALESCE=0 turns
// it off (e.g. for sub-millisecond round trips), MASSCONN_COALESCE=DURATION
// sets it.
var coalesceWindow = defaultCoalesce

const defaultCoalesce = 200 * time.Microsecond

// coalesceBusy is the batch of events that makes a loop busy.
const coalesceBusy = 8

// coalesceFromEnv reads MASSCONN_COALESCE; a bad value is an error that
// names the variable and the fix, not a silent default.
func coalesceFromEnv() (time.Duration, error) {
	v, ok := os.LookupEnv("MASSCONN_COALESCE")
	if !ok || v == "" {
		return defaultCoalesce, nil
	}
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > 100*time.Millisecond {
		return 0, fmt.Errorf("MASSCONN_COALESCE=%q: want a duration from 0 to 100ms such as 200us, or 0 to turn coalescing off", v)
	}
	return d, nil
}

// epollPoll takes ready events without blocking and without entering the
// Go scheduler's syscall path (timeout 0 cannot block).
func epollPoll(epfd int, events []unix.EpollEvent) int {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(n)
}

// scanEvery is the granularity of connect timeouts, heartbeats, close grace
// periods and reconnect backoff. One pass over the loop's connections per
// tick is cheaper than a timer per connection and needs no memory per
// connection.
const scanEvery = 100 * time.Millisecond

// readBufSize is the one read buffer a loop shares among its connections.
const readBufSize = 64 << 10

type cmdKind uint8

const (
	cmdDial cmdKind = iota
	cmdClose
	cmdForceClose
	cmdTLS // a TLS handshake goroutine has bytes to write or is done
)

type command struct {
	kind  cmdKind
	pool  *Pool
	idx   int64
	grace time.Duration
	hs    *tlsHandshake // cmdTLS
	// cmdDial: the socket the pool's dialer opened (openSocket), when
	// it started and how it failed.
	fd      int
	started int64
	err     error
}

type loop struct {
	id   int
	epfd int
	evfd int // eventfd: wakes the loop when commands arrive

	mu    sync.Mutex
	inbox []command
	woken bool

	conns    []*conn          // every connection of this loop, for the periodic scan
	byFD     []*conn          // fd -> connection; fds are small dense integers
	buf      []byte           // shared read buffer
	scratch  []byte           // frames being written
	inflater inflater         // permessage-deflate, shared by the loop's connections
	out      loopConn         // the protocol.Conn handed to the message layer, rebound per call
	kept     map[*conn][]byte // partial protocol packets (protocol.Conn.Keep), by connection
	prog     progScratch
	rng      uint64
	now      int64 // monotonic nanoseconds at the current iteration
	wall     int64 // wall-clock Unix nanoseconds, refreshed before reads
	tls      tlsLoop
	sse      sseLoop // EventSource (sse_linux.go)
	warmSum  uint64  // see warm
	order    []int32 // a batch's events in the order served (servingOrder)
	// tid is the loop's OS thread, for benchmarks that read its CPU time.
	tid atomic.Int32
}

func newLoop(id int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	return &loop{id: id, epfd: epfd, evfd: evfd, buf: make([]byte, readBufSize), rng: seed()}, nil
}

// submit queues commands and wakes the loop once per batch.
func (l *loop) submit(cmds ...command) {
	l.mu.Lock()
	l.inbox = append(l.inbox, cmds...)
	wake := !l.woken
	l.woken = true
	l.mu.Unlock()
	if wake {
		var one = [8]byte{1}
		_, _ = unix.Write(l.evfd, one[:])
	}
}

func (l *loop) run() {
	// Kept on one thread: epoll_wait blocks in the kernel most of the time
	// and the loop's state is hot in that CPU's cache.
	runtime.LockOSThread()
	l.tid.Store(int32(unix.Gettid()))
	events := make([]unix.EpollEvent, 512)
	var inbox []command
	lastScan := mono()
	lastYield := lastScan
	busy := false
	coalesce := unix.NsecToTimespec(int64(coalesceWindow))
	coalesceOn := coalesceWindow > 0
	for {
		timeout := -1
		if len(l.conns) > 0 {
			timeout = int(scanEvery / time.Millisecond)
		}
		n := 0
		if busy {
			// Let a busy loop's events gather (see coalesceWindow), then
			// take them without a blocking syscall.
			_ = unix.Nanosleep(&coalesce, nil)
			n = epollPoll(l.epfd, events)
		}
		if n == 0 {
			var err error
			n, err = unix.EpollWait(l.epfd, events, timeout)
			if err != nil && err != unix.EINTR {
				panic("massconn: epoll_wait: " + err.Error())
			}
			// Interrupted by a signal (EINTR): -1, no events.
			n = max(n, 0)
		}
		busy = coalesceOn && n >= coalesceBusy
		l.now = mono()
		l.wall = time.Now().UnixNano()
		l.warm(events[:n])
		l.order = l.servingOrder(events[:n], l.order[:0])
		for _, i := range l.order {
			ev := &events[i]
			if int(ev.Fd) == l.evfd {
				var b [8]byte
				_, _ = unix.Read(l.evfd, b[:])
				l.mu.Lock()
				inbox, l.inbox = l.inbox, inbox[:0]
				l.woken = false
				l.mu.Unlock()
				for _, c := range inbox {
					l.command(c)
				}
				clear(inbox)
				continue
			}
			if c := l.conn(int(ev.Fd)); c != nil {
				l.event(c, ev.Events)
			}
		}
		if l.now-lastScan >= int64(scanEvery) {
			lastScan = l.now
			l.scan()
		}
		if l.now-lastYield >= int64(yieldEvery) {
			lastYield = l.now
			runtime.Gosched()
		}
	}
}

// yieldEvery is how often a loop passes through the Go scheduler. A loop
// goroutine otherwise never does: it goes in and out of syscalls on the
// same P, so to sysmon it is one goroutine running for ever. Every 10 ms
// sysmon then preempts it and takes its P out of the syscall, which also
// resets sysmon's own sleep to 20 µs; a yield well inside those 10 ms
// (a hand-off to another thread and back, a few µs) avoids both.
const yieldEvery = 5 * time.Millisecond

// warm reads a little of the state of every connection in a batch of
// events before handling any. With tens of thousands of connections most of
// it is not in the cache: handled one by one, each connection's struct and
// sequence-check state stall the loop in turn, while these independent
// loads overlap, so the misses are paid about once per batch. The sum only
// keeps the compiler from dropping the loads.
func (l *loop) warm(events []unix.EpollEvent) {
	var sum uint64
	for i := range events {
		c := l.conn(int(events[i].Fd))
		if c == nil {
			continue
		}
		// One field from each cache line of the struct.
		sum += uint64(len(c.in)) + uint64(c.state) + uint64(c.nextBeat)
		if q := c.pool.seq; q != nil && c.idx >= 0 && c.idx < int64(len(q.conns)) {
			sum += uint64(q.conns[c.idx].g.last.Load())
		}
	}
	l.warmSum = sum
}

func (l *loop) conn(fd int) *conn {
	if fd < 0 || fd >= len(l.byFD) {
		return nil
	}
	return l.byFD[fd]
}

func (l *loop) command(cmd command) {
	switch cmd.kind {
	case cmdDial:
		p := cmd.pool
		if p.closing.Load() {
			if cmd.fd >= 0 {
				_ = unix.Close(cmd.fd)
				p.live.Add(-1)
			}
			p.releaseSlot()
			p.settle(1)
			return
		}
		c := &conn{pool: p, idx: cmd.idx, fd: -1, flags: flInitial | flSlot}
		l.add(c)
		l.adopt(c, cmd.started, cmd.fd, cmd.err)
	case cmdClose:
		for i := len(l.conns) - 1; i >= 0; i-- {
			if i < len(l.conns) && l.conns[i].pool == cmd.pool {
				l.shutdown(l.conns[i], cmd.grace)
			}
		}
	case cmdTLS:
		l.tlsCommand(cmd.hs)
	case cmdForceClose:
		for i := len(l.conns) - 1; i >= 0; i-- {
			if i < len(l.conns) && l.conns[i].pool == cmd.pool {
				c := l.conns[i]
				if c.state == stOpen || c.state == stClosing {
					l.endSession(c)
				}
				l.finish(c)
			}
		}
	}
}

// add registers c in the scan list.
func (l *loop) add(c *conn) {
	c.slot = int32(len(l.conns))
	l.conns = append(l.conns, c)
}

// remove forgets c for good.
func (l *loop) remove(c *conn) {
	last := l.conns[len(l.conns)-1]
	l.conns[c.slot] = last
	last.slot = c.slot
	l.conns[len(l.conns)-1] = nil
	l.conns = l.conns[:len(l.conns)-1]
	c.slot = -1
	// Give memory back after a large pool closed.
	if cap(l.conns) > 1024 && len(l.conns) < cap(l.conns)/4 {
		l.conns = append([]*conn(nil), l.conns...)
	}
}

func (l *loop) scan() {
	for i := len(l.conns) - 1; i >= 0; i-- {
		if i >= len(l.conns) {
			continue
		}
		c := l.conns[i]
		switch c.state {
		case stConnecting, stHandshake:
			if l.now >= c.deadline {
				l.fail(c, rTimeout, 0)
			}
		case stOpen:
			if c.tls != nil {
				c.tls.trim()
			}
			if c.sse != nil && !l.sseScan(c) { // EventSource (sse_linux.go)
				continue
			}
			hb := &c.pool.cfg.Heartbeat
			if hb.Every > 0 && l.now >= c.nextBeat {
				c.nextBeat = max(c.nextBeat+int64(hb.Every), l.now)
				if hb.Ping {
					var stamp [pingLen]byte
					l.sendFrame(c, opPing, pingPayload(&stamp, l.now))
				} else {
					c.pool.beatText(&c.proto, l.bind(c))
				}
			}
			l.programTick(c)
		case stClosing:
			if l.now >= c.deadline {
				l.endSession(c)
				l.closedOrReopen(c)
			}
		case stRedial:
			if c.pool.closing.Load() {
				l.remove(c)
			} else if l.now >= c.deadline && l.mayRedial(c) {
				l.dial(c)
			}
		}
	}
}

// forcePortable sends every attempt to the portable engine, so that tests
// check both engines against the same servers.
var forcePortable atomic.Bool

// start routes attempts to the event loops (ws:// and wss://, see
// tls_linux.go), or to the portable engine if the loops could not start.
func (p *Pool) start(batch []int64) {
	ls, err := getLoops()
	per := make([][]command, len(ls))
	for _, idx := range batch {
		if err != nil || forcePortable.Load() {
			p.portable.dial(p, idx)
			continue
		}
		li := idx % int64(len(ls))
		// The dialer's thread opens the socket and starts the connect
		// (see openSocket); the loop takes it from there.
		started := mono()
		fd, derr := p.openSocket(idx)
		per[li] = append(per[li], command{kind: cmdDial, pool: p, idx: idx, fd: fd, started: started, err: derr})
	}
	for i, cmds := range per {
		if len(cmds) > 0 {
			ls[i].submit(cmds...)
		}
	}
}

func (p *Pool) closeAll(grace time.Duration) {
	ls, _ := getLoops()
	for _, l := range ls {
		l.submit(command{kind: cmdClose, pool: p, grace: grace})
	}
	p.portable.closeAll(p, grace)
}

func (p *Pool) forceClose() {
	ls, _ := getLoops()
	for _, l := range ls {
		l.submit(command{kind: cmdForceClose, pool: p})
	}
	p.portable.forceClose()
}
