//go:build linux

package engine

import (
	"errors"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

const (
	opText   = wsproto.OpText
	opBinary = wsproto.OpBinary
	opClose  = wsproto.OpClose
	opPing   = wsproto.OpPing
	opPong   = wsproto.OpPong
)

type connState uint8

const (
	stConnecting connState = iota // TCP connect in progress
	stHandshake                   // upgrade request sent, waiting for 101
	stOpen
	stClosing // we sent a close frame and wait for the server's
	stRedial  // no socket; dial again at deadline (reconnect)
)

const (
	flInitial     uint8 = 1 << iota // first attempt: settles the pool
	flSlot                          // the attempt holds a MaxInFlight slot
	flRegistered                    // fd is in byFD
	flCloseEchoed                   // stClosing: the server answered our close frame
	flDeflate                       // permessage-deflate was negotiated
)

// conn is all a connection costs while it idles: no buffers, no timers, no
// goroutine. Buffers appear only while a frame straddles two reads (in), a
// write would block (out), or a fragmented message is being reassembled (msg).
type conn struct {
	pool     *Pool
	idx      int64 // connection number within the pool
	started  int64 // mono ns when this attempt began
	opened   int64 // mono ns when the handshake completed
	deadline int64 // mono ns: connect timeout, close grace or redial time
	nextBeat int64
	hs       *handshake
	in       []byte
	out      []byte
	msg      *message
	prog     program.State  // position in Config.Steps and lifetime end
	proto    protocol.State // the protocol adapter's state, if any
	tls      *tlsConn       // wss:// only
	sse      *sseConn       // http:// and https:// (EventSource, sse_linux.go) only
	fd       int32
	slot     int32 // index in loop.conns
	state    connState
	flags    uint8
	retries  uint8
}

type handshake struct {
	key  [wsproto.KeyLen]byte
	head []byte // response head received so far, when it straddles reads
}

type message struct {
	op       byte
	deflated bool // RSV1 on the first frame: inflate once reassembled
	data     []byte
}

func (l *loop) shard(c *conn) *shard { return &c.pool.shards[l.id] }

// dial starts a non-blocking connect from the loop (reconnects, lifetime
// reopens).
func (l *loop) dial(c *conn) {
	fd, err := c.pool.openSocket(c.idx)
	l.adopt(c, l.now, fd, err)
}

// openSocket is the kernel's half of a dial: a non-blocking socket for
// connection idx, bound to its source address, its connect started. It
// reads only the pool's fixed configuration and touches no loop state, so
// the pool's dialer runs it on its own thread for first attempts (Pool.start):
// socket() and connect() are about a third of the CPU a connection costs
// k6 (on loopback connect runs the listener's side of the handshake
// inline), and on the dialer's thread that third no longer competes with
// the loop answering the handshakes already under way. The socket is
// counted live once it exists; a non-nil error with fd >= 0 leaves the
// socket for the caller to release.
func (p *Pool) openSocket(idx int64) (int, error) {
	dst := p.addrs.at(idx)
	family := unix.AF_INET
	if dst.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	p.live.Add(1)
	if n := len(p.cfg.LocalAddrs); n > 0 {
		src := p.cfg.LocalAddrs[idx%int64(n)]
		// Without IP_BIND_ADDRESS_NO_PORT, bind picks a port that is then
		// reserved for every destination, so one source address could not
		// hold more than ~28k connections in total. With it the port is
		// chosen at connect time per (source, destination) pair.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, sockaddr(src, 0)); err != nil {
			return fd, err
		}
	}
	// Messages are small and latency is what is measured: no Nagle delay.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sockaddr(dst.Addr(), dst.Port())); err != nil && err != unix.EINPROGRESS {
		return fd, err
	}
	return fd, nil
}

// adopt takes a dial started at started (openSocket's result) into the
// loop: the attempt is counted, the socket registered with epoll (which
// reports a connect that completed before the registration as soon as it
// is added), and a failure settled.
func (l *loop) adopt(c *conn, started int64, fd int, err error) {
	p := c.pool
	l.shard(c).attempted.Add(1)
	l.sseDial(c)
	c.state = stConnecting
	c.started = started
	c.deadline = started + int64(p.cfg.ConnectTimeout)
	if fd >= 0 {
		c.fd = int32(fd)
		for fd >= len(l.byFD) {
			l.byFD = append(l.byFD, nil)
		}
		l.byFD[fd] = c
		c.flags |= flRegistered
	}
	if err == nil {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
		err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		l.fail(c, reasonOf(err), 0)
	}
}

// event handles one epoll report. Edge-triggered: every ready condition is
// drained before returning.
func (l *loop) event(c *conn, ev uint32) {
	if c.state == stConnecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if !l.connected(c) {
			return
		}
	} else if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		if !l.flush(c) {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.readable(c, ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// connected checks the outcome of connect and sends the upgrade request.
func (l *loop) connected(c *conn) bool {
	soerr, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err != nil {
		l.fail(c, reasonOf(err), 0)
		return false
	}
	if t := &c.pool.targets[c.idx%int64(len(c.pool.targets))]; t.tls {
		return l.startTLS(c, t)
	}
	return l.sendUpgrade(c)
}

// sendUpgrade sends the HTTP upgrade request (over TLS for wss://).
func (l *loop) sendUpgrade(c *conn) bool {
	if c.sse != nil {
		return l.sseSend(c) // an EventSource GET instead
	}
	var nonce [16]byte
	putRand(&l.rng, nonce[:])
	c.hs = &handshake{key: wsproto.NewKey(nonce)}
	c.state = stHandshake
	t := &c.pool.targets[c.idx%int64(len(c.pool.targets))]
	l.scratch = c.pool.upgradeRequest(l.scratch[:0], t, c.idx, c.hs.key[:])
	return l.write(c, l.scratch)
}

// readable reads until the socket is drained. untilEnd is set when the
// event also reported the peer's FIN or an error: then the short-read
// shortcut below does not hold, as no further edge will come.
func (l *loop) readable(c *conn, untilEnd bool) {
	l.wall = time.Now().UnixNano()
	for c.fd >= 0 {
		n, errno := recvNow(int(c.fd), l.buf)
		switch {
		case errno == unix.EAGAIN:
			return
		case errno == unix.EINTR:
			continue
		case errno != 0:
			l.lost(c, errno)
			return
		case n == 0:
			l.lost(c, nil)
			return
		}
		l.shard(c).bytesIn.Add(int64(n))
		if c.tls != nil {
			l.tlsInput(c, l.buf[:n])
		} else {
			l.consume(c, l.buf[:n])
		}
		if n < len(l.buf) && !untilEnd {
			// A short read drained the socket; with edge triggering new
			// data raises a new event, so a further read would only
			// return EAGAIN.
			return
		}
	}
}

// recvNow reads what a non-blocking socket holds. It is recvfrom without
// an address rather than read (the socket call skips the file-position
// lock and the VFS layer), made as a raw syscall: on a non-blocking socket
// it cannot block, so the Go scheduler's syscall bookkeeping around it
// would be pure cost.
// The errno is returned as it is (0: none) so that callers compare it with
// EAGAIN and EINTR directly.
func recvNow(fd int, buf []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

func (l *loop) consume(c *conn, data []byte) {
	if c.sse != nil {
		l.sseInput(c, data)
		return
	}
	if c.state == stHandshake {
		data = l.handshakeData(c, data)
		if c.state != stOpen || len(data) == 0 {
			return
		}
	}
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	for c.fd >= 0 {
		h, err := l.parseHeader(c, data)
		if err != nil {
			l.violation(c, wsproto.CloseProtocolError)
			return
		}
		if h.Size == 0 {
			break
		}
		if l.overLimit(c, h) {
			// Refused at the header: the announced payload is never
			// buffered.
			l.violation(c, wsproto.CloseTooBig)
			return
		}
		if int64(len(data)-h.Size) < h.Length {
			break
		}
		end := h.Size + int(h.Length)
		l.frame(c, h, data[h.Size:end])
		data = data[end:]
	}
	if c.fd < 0 || len(data) == 0 {
		c.in = nil
		return
	}
	l.keepPartial(c, data)
}

// handshakeData consumes the HTTP response and returns the bytes after it.
func (l *loop) handshakeData(c *conn, data []byte) []byte {
	hs := c.hs
	head := data
	if len(hs.head) > 0 {
		hs.head = append(hs.head, data...)
		head = hs.head
	}
	end := wsproto.HeadEnd(head)
	if end < 0 {
		if len(head) > wsproto.MaxResponseHead {
			l.fail(c, rHandshake, 0)
		} else if len(hs.head) == 0 {
			hs.head = append([]byte(nil), data...)
		}
		return nil
	}
	err := l.checkUpgrade(c, head[:end])
	var se *wsproto.StatusError
	switch {
	case errors.As(err, &se):
		l.fail(c, rHTTP, se.Code)
		return nil
	case errors.Is(err, wsproto.ErrContextTakeover):
		l.fail(c, rCompression, 0)
		return nil
	case err != nil:
		l.fail(c, rHandshake, 0)
		return nil
	}
	l.open(c)
	return head[end:]
}

func (l *loop) open(c *conn) {
	p := c.pool
	c.hs = nil
	c.state = stOpen
	c.opened = l.now
	c.retries = 0
	l.shard(c).opening(time.Duration(l.now-c.started), p.cfg.SampleLimit)
	l.settleAttempt(c)
	if hb := p.cfg.Heartbeat.Every; hb > 0 {
		c.nextBeat = l.firstBeat(hb)
	}
	p.opened(&c.proto, c.idx, l.bind(c))
	l.programOpened(c)
}

// firstBeat is when a connection opening now first beats (a ping, a text
// or the adapter's keep-alive, every period after): at a uniformly random
// point of one period, so that a pool opened in a burst does not beat in
// a burst forever after.
func (l *loop) firstBeat(every time.Duration) int64 {
	return l.now + int64(nextRand(&l.rng)%uint64(every)) + 1
}

// settleAttempt releases the MaxInFlight slot of an attempt (first or
// reconnect) and counts a first attempt as settled for Wait.
func (l *loop) settleAttempt(c *conn) {
	if c.flags&flSlot != 0 {
		c.flags &^= flSlot
		c.pool.releaseSlot()
	}
	if c.flags&flInitial != 0 {
		c.flags &^= flInitial
		c.pool.settle(1)
	}
}

// mayRedial claims what a reconnect needs before it dials: a MaxInFlight
// slot and a Rate token, shared with the pool's first attempts. Without
// them the connection waits for the next scan.
func (l *loop) mayRedial(c *conn) bool {
	p := c.pool
	if !p.trySlot() {
		return false
	}
	if p.pace.take(1, mono()) == 0 {
		p.releaseSlot()
		return false
	}
	c.flags |= flSlot
	return true
}

func (l *loop) frame(c *conn, h wsproto.Header, payload []byte) {
	if c.flags&flCloseEchoed != 0 {
		return // nothing may follow a close frame
	}
	switch h.Opcode {
	case opText, opBinary:
		if c.msg != nil {
			l.violation(c, wsproto.CloseProtocolError) // new message inside a fragmented one
			return
		}
		if h.Fin {
			l.complete(c, h.Opcode, h.Compressed, payload)
			return
		}
		c.msg = &message{op: h.Opcode, deflated: h.Compressed, data: append([]byte(nil), payload...)}
	case wsproto.OpContinuation:
		if c.msg == nil {
			l.violation(c, wsproto.CloseProtocolError)
			return
		}
		c.msg.data = append(c.msg.data, payload...)
		if h.Fin {
			m := c.msg
			c.msg = nil
			l.complete(c, m.op, m.deflated, m.data)
		}
	case opPing:
		l.sendFrame(c, opPong, payload)
	case opPong:
		if d, ok := pongRTT(payload, mono()); ok {
			l.shard(c).pingSample(d, c.pool.cfg.SampleLimit)
		}
	case opClose:
		code, err := wsproto.ParseClose(payload)
		if err != nil {
			l.violation(c, wsproto.CloseProtocolError)
			return
		}
		l.serverClosed(c, code)
	}
}

func (l *loop) message(c *conn, op byte, payload []byte) {
	c.pool.message(l.shard(c), &c.proto, op == opText, c.state == stOpen, payload, l.bind(c))
}

// serverClosed answers a close frame from the server.
func (l *loop) serverClosed(c *conn, code int) {
	if c.state == stClosing {
		// The handshake is complete; the server now closes the TCP
		// connection, so that TIME_WAIT stays on its side (RFC 6455
		// section 7.1.1) and does not pile up in this host's ephemeral
		// ports across runs. lost() ends the session on its FIN; the close
		// grace deadline covers a server that never sends one.
		c.flags |= flCloseEchoed
		return
	}
	// Echo the code (RFC 6455 section 5.5.1), then let go of the socket
	// without waiting for the server's FIN: the session is over.
	var body []byte
	if code != wsproto.CloseNoStatus {
		body = wsproto.ClosePayload(code, "")
	}
	l.sendFrame(c, opClose, body)
	if c.fd < 0 {
		return // the echo failed: lost() counted the session
	}
	refused := c.pool.serverClosed(l.shard(c), &c.proto, code, time.Duration(l.now-c.opened))
	l.release(c)
	if refused {
		l.remove(c)
		return
	}
	l.redialOrRemove(c)
}

// lost handles EOF (err == nil) or a socket error.
func (l *loop) lost(c *conn, err error) {
	switch c.state {
	case stConnecting, stHandshake:
		if l.tlsLost(c, err) {
			return // the handshake goroutine reports the outcome
		}
		if err == nil {
			// The server hung up before answering the upgrade; to the
			// user this is the same as a reset.
			err = unix.ECONNRESET
		}
		l.fail(c, reasonOf(err), 0)
	case stOpen:
		if c.sse != nil {
			l.sseLost(c, err)
			return
		}
		l.dropped(c, wsproto.CloseAbnormal)
	case stClosing:
		l.endSession(c)
		l.closedOrReopen(c)
	}
}

// dropped ends an open session the server ended (or lost) and schedules a
// reconnect if asked for.
func (l *loop) dropped(c *conn, code int) {
	if c.sse != nil {
		l.sseDrop(c, DropReset)
		return
	}
	l.shard(c).drop(code, time.Duration(l.now-c.opened), c.pool.cfg.SampleLimit)
	l.release(c)
	l.redialOrRemove(c)
}

// violation closes a connection whose server broke the protocol.
func (l *loop) violation(c *conn, code int) {
	wasOpen := c.state == stOpen || c.state == stClosing
	if c.state == stHandshake || c.state == stConnecting {
		l.fail(c, rProtocol, 0)
		return
	}
	l.sendFrame(c, opClose, wsproto.ClosePayload(code, ""))
	l.shard(c).fail(rProtocol, 0)
	if wasOpen {
		l.endSession(c)
	}
	l.release(c)
	l.redialOrRemove(c)
}

// fail counts a failed attempt and releases it.
func (l *loop) fail(c *conn, r reasonID, status int) {
	if c.state == stOpen || c.state == stClosing {
		// A write error on an open connection: the server went away.
		l.dropped(c, wsproto.CloseAbnormal)
		return
	}
	l.shard(c).fail(r, status)
	l.settleAttempt(c)
	l.release(c)
	l.redialOrRemove(c)
}

func (l *loop) endSession(c *conn) {
	l.shard(c).endSession(time.Duration(l.now-c.opened), c.pool.cfg.SampleLimit)
}

// release closes the socket and drops every per-connection buffer.
func (l *loop) release(c *conn) {
	if c.fd >= 0 {
		if c.flags&flRegistered != 0 {
			l.byFD[c.fd] = nil
			c.flags &^= flRegistered
		}
		// Closing the last reference also removes it from the epoll set.
		_ = unix.Close(int(c.fd))
		c.fd = -1
		c.pool.live.Add(-1)
	}
	if c.tls != nil {
		c.tls.close()
	}
	c.hs, c.in, c.out, c.msg, c.tls = nil, nil, nil, nil, nil
	if len(l.kept) > 0 {
		delete(l.kept, c)
	}
}

// finish releases c and forgets it.
func (l *loop) finish(c *conn) {
	l.settleAttempt(c)
	l.release(c)
	if c.slot >= 0 {
		l.remove(c)
	}
}

// redialOrRemove reconnects a connection that was open at least once (or is
// being reconnected) when the pool asks for it; first attempts that fail are
// not retried.
func (l *loop) redialOrRemove(c *conn) {
	p := c.pool
	if !p.cfg.Reconnect || p.closing.Load() || (c.opened == 0 && c.retries == 0) {
		l.remove(c)
		return
	}
	backoff := int64(reconnectBackoff(c.retries))
	c.retries++
	c.state = stRedial
	c.deadline = l.now + backoff + int64(nextRand(&l.rng)%uint64(backoff))
	if c.sse != nil {
		c.deadline = l.now + l.sseRetry(c) // the server's retry: field
	}
}

// shutdown begins the close handshake (or abandons an attempt) for Pool.Close.
func (l *loop) shutdown(c *conn, grace time.Duration) {
	switch c.state {
	case stOpen:
		if c.sse != nil {
			l.sseEnd(c) // no close handshake
			return
		}
		c.state = stClosing
		c.deadline = l.now + int64(grace)
		l.sendFrame(c, opClose, wsproto.ClosePayload(wsproto.CloseNormal, ""))
		if grace <= 0 && c.fd >= 0 {
			l.endSession(c)
			l.finish(c)
		}
	case stClosing:
	default:
		l.finish(c)
	}
}

// sendMessage sends a data frame and counts it as a message.
func (l *loop) sendMessage(c *conn, op byte, payload []byte) {
	if l.sendFrame(c, op, payload) {
		l.shard(c).sent.Add(1)
	}
}

func (l *loop) sendFrame(c *conn, op byte, payload []byte) bool {
	if c.fd < 0 {
		return false
	}
	l.scratch = wsproto.AppendClientFrame(l.scratch[:0], true, op, payload, maskKey(&l.rng))
	if len(c.out) > 0 && len(c.out)+len(l.scratch) > c.pool.cfg.SendQueueLimit {
		l.backpressure(c)
		return false
	}
	return l.write(c, l.scratch)
}

// maskKey draws a frame's masking key from the loop's splitmix64 state,
// seeded from crypto/rand. RFC 6455 asks for unpredictable keys so that
// script-chosen payloads cannot be aimed at intermediaries' parsers; here the
// payloads come from the test author, not from untrusted scripts, so a fast
// generator serves the purpose and keeps crypto/rand out of the message path.
func maskKey(rng *uint64) [4]byte {
	v := nextRand(rng)
	return [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

func putRand(rng *uint64, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := nextRand(rng)
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// write sends b now (as TLS records on wss://), keeping what the socket
// does not take for EPOLLOUT. It returns false if the connection failed.
func (l *loop) write(c *conn, b []byte) bool {
	if c.tls != nil {
		b = l.tlsSeal(c, b)
	}
	return l.writeRaw(c, b)
}

// writeRaw is write for bytes that go onto the socket as they are.
func (l *loop) writeRaw(c *conn, b []byte) bool {
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return true
	}
	for len(b) > 0 {
		n, err := unix.Write(int(c.fd), b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			c.out = append([]byte(nil), b...)
			return true
		}
		if err != nil {
			l.lost(c, err)
			return false
		}
		l.shard(c).bytesOut.Add(int64(n))
		b = b[n:]
	}
	return true
}

// flush sends pending bytes after EPOLLOUT.
func (l *loop) flush(c *conn) bool {
	out := c.out
	c.out = nil
	if !l.writeRaw(c, out) {
		return false
	}
	return c.fd >= 0
}

func sockaddr(a interface {
	Is4() bool
	As4() [4]byte
	As16() [16]byte
}, port uint16) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(port), Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: int(port), Addr: a.As16()}
}
