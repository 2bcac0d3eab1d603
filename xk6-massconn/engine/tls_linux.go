//go:build linux

package engine

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/tlsrecord"
)

// wss:// in the event loop.
//
// The handshake is crypto/tls's: a tls.Client over tlsTransport, an
// in-memory net.Conn, runs on a goroutine of its own while the attempt
// holds its MaxInFlight slot, so at most MaxInFlight of them exist. The
// loop stays the only owner of the socket: it hands the goroutine the
// server's bytes and writes what crypto/tls wrote. It hands them over one
// record at a time, and crypto/tls stops reading when the handshake is
// done, so whatever followed the server's Finished (session tickets, and
// later everything else) stays with the loop.
//
// Once established, a TLS 1.3 session moves to tlsrecord, with the traffic
// secrets crypto/tls reports through Config.KeyLogWriter: two AEAD states
// and two secrets, no buffers, which keeps an idle wss:// connection at a
// small multiple of a ws:// one. A TLS 1.2 session keeps its tls.Conn,
// driven by the loop over the same transport in non-blocking mode (reads
// return a temporary net.Error when no bytes are buffered, which crypto/tls
// does not make sticky); it costs the tls.Conn's memory, about 8 KB.

// tlsUpdateAfter is how many records one TLS 1.3 write key seals before the
// session moves to the next; tests lower it to exercise KeyUpdate.
var tlsUpdateAfter atomic.Uint64

// tlsKeyUpdatesRead counts the server's KeyUpdates, for the tests.
var tlsKeyUpdatesRead atomic.Int64

// tlsConn is a connection's TLS state; exactly one of hs, sess and legacy
// is set.
type tlsConn struct {
	hs     *tlsHandshake      // the handshake is in progress
	sess   *tlsrecord.Session // TLS 1.3, record layer in the engine
	legacy *tls.Conn          // TLS 1.2 (or older), record layer in crypto/tls
	tr     *tlsTransport      // legacy's transport
	rin    []byte             // a record straddling reads; nil otherwise
}

// tlsLoop holds the buffers a loop shares among its TLS connections.
type tlsLoop struct {
	pending []byte // handshake bytes that go out before the next records
	seal    []byte // records being written
	plain   []byte // plaintext read from a legacy tls.Conn
}

// tlsHandshake is the state shared by the loop and one handshake
// goroutine, guarded by mu.
type tlsHandshake struct {
	l  *loop
	c  *conn
	tc *tls.Conn
	tr *tlsTransport

	mu          sync.Mutex
	in          []byte // server bytes not yet read by crypto/tls
	recordLeft  int    // bytes of the record being read that crypto/tls has not had yet
	out         []byte // bytes crypto/tls wrote that the loop has not taken
	flushQueued bool
	done        bool
	err         error
	lost        error // the socket ended (io.EOF or its error) during the handshake

	wake  chan struct{} // the loop added bytes to in
	abort chan struct{} // closed when the attempt ends before the handshake does

	// Written by the handshake goroutine before done, read by the loop
	// after it.
	clientSecret, serverSecret []byte
}

// startTLS begins the TLS handshake of a connected socket. The connection
// counts as in its handshake (stHandshake) until the 101 response.
func (l *loop) startTLS(c *conn, t *target) bool {
	conf := c.pool.cfg.TLS.Clone()
	if conf == nil {
		conf = &tls.Config{}
	}
	if conf.ServerName == "" {
		if host, _, err := net.SplitHostPort(t.host); err == nil {
			conf.ServerName = host
		}
	}
	h := &tlsHandshake{l: l, c: c, wake: make(chan struct{}, 1), abort: make(chan struct{})}
	conf.KeyLogWriter = &tlsKeyLog{h: h, user: conf.KeyLogWriter}
	h.tr = &tlsTransport{hs: h}
	h.tc = tls.Client(h.tr, conf)
	c.tls = &tlsConn{hs: h}
	c.state = stHandshake
	go h.run()
	return true
}

func (h *tlsHandshake) run() {
	err := h.tc.Handshake()
	h.mu.Lock()
	h.done, h.err = true, err
	h.mu.Unlock()
	h.l.submit(command{kind: cmdTLS, hs: h})
}

// feed passes server bytes to the handshake goroutine.
func (h *tlsHandshake) feed(data []byte) {
	h.mu.Lock()
	h.in = append(h.in, data...)
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// read gives crypto/tls at most the rest of the current record, waiting
// for the loop when nothing is buffered.
func (h *tlsHandshake) read(p []byte) (int, error) {
	for {
		h.mu.Lock()
		if h.recordLeft == 0 && len(h.in) >= tlsrecord.HeaderLen {
			h.recordLeft = tlsrecord.Size(h.in)
		}
		if n := min(len(p), h.recordLeft, len(h.in)); n > 0 {
			copy(p, h.in[:n])
			h.in = h.in[n:]
			h.recordLeft -= n
			h.mu.Unlock()
			return n, nil
		}
		if h.lost != nil {
			// Nothing more will come; a header cut short cannot complete.
			h.mu.Unlock()
			return 0, h.lost
		}
		flush := len(h.out) > 0 && !h.flushQueued
		h.flushQueued = h.flushQueued || flush
		h.mu.Unlock()
		if flush {
			h.l.submit(command{kind: cmdTLS, hs: h})
		}
		select {
		case <-h.wake:
		case <-h.abort:
			return 0, net.ErrClosed
		}
	}
}

func (h *tlsHandshake) write(p []byte) {
	h.mu.Lock()
	h.out = append(h.out, p...)
	h.mu.Unlock()
}

// tlsCommand is the loop's side of a handshake goroutine's report: bytes
// to write, the handshake's outcome, or both.
func (l *loop) tlsCommand(h *tlsHandshake) {
	c := h.c
	if c.tls == nil || c.tls.hs != h {
		return // the attempt ended (timeout, reset, Close) before this report
	}
	h.mu.Lock()
	out, done, err, rest, left, lost := h.out, h.done, h.err, h.in, h.recordLeft, h.lost
	h.out, h.flushQueued = nil, false
	if done {
		h.in = nil
	}
	h.mu.Unlock()
	if !done || err != nil || left != 0 {
		if len(out) > 0 && lost == nil && !l.writeRaw(c, out) {
			return
		}
		if done && c.fd >= 0 {
			l.fail(c, handshakeReason(err, lost), 0)
		}
		return
	}
	if lost != nil {
		// The server hung up right after its Finished: nothing will
		// answer the upgrade request.
		l.fail(c, handshakeReason(io.EOF, lost), 0)
		return
	}
	t := c.tls
	st := h.tc.ConnectionState()
	if st.Version == tls.VersionTLS13 {
		sess, err := tlsrecord.NewSession(st.CipherSuite, h.clientSecret, h.serverSecret, tlsUpdateAfter.Load())
		if err != nil {
			l.fail(c, rTLS, 0)
			return
		}
		t.sess = sess
	} else {
		h.tr.hs = nil
		h.tr.sink = &l.tls.seal
		t.legacy, t.tr = h.tc, h.tr
	}
	t.hs = nil
	// The client's last handshake flight and the upgrade request leave in
	// one write: a write on loopback costs as much as a small handshake
	// step.
	l.tls.pending = out
	ok := l.sendUpgrade(c)
	l.tls.pending = nil
	if !ok || len(rest) == 0 {
		return
	}
	l.tlsInput(c, bytes.Clone(rest))
}

// handshakeReason is the failure reason of a handshake that returned err,
// lost being how the socket ended meanwhile, if it did: a TLS failure
// (certificate, alert, version) unless crypto/tls only ran out of bytes.
func handshakeReason(err, lost error) reasonID {
	switch {
	case lost == nil:
		return rTLS
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return rReset
	case errors.Is(err, lost):
		return reasonOf(lost)
	}
	return rTLS
}

// tlsLost lets a handshake in progress read what the server sent before
// the socket ended, so that an alert followed by a FIN (a certificate or
// version refusal) is reported as a TLS failure, not as a reset. It
// reports false when c is not in a TLS handshake.
func (l *loop) tlsLost(c *conn, err error) bool {
	if c.tls == nil || c.tls.hs == nil {
		return false
	}
	if err == nil {
		err = io.EOF
	}
	h := c.tls.hs
	h.mu.Lock()
	if h.lost == nil {
		h.lost = err
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return true
}

// tlsInput takes bytes read from the socket of a TLS connection.
func (l *loop) tlsInput(c *conn, data []byte) {
	t := c.tls
	switch {
	case t.hs != nil:
		t.hs.feed(data)
	case t.legacy != nil:
		l.legacyInput(c, t, data)
	default:
		l.recordInput(c, t, data)
	}
}

func (l *loop) recordInput(c *conn, t *tlsConn, data []byte) {
	if len(t.rin) > 0 {
		t.rin = append(t.rin, data...)
		data = t.rin
	}
	for c.fd >= 0 && c.tls == t {
		n, err := tlsrecord.Next(data)
		if err != nil {
			l.tlsBroken(c, err)
			return
		}
		if n == 0 {
			break
		}
		gen, _ := t.sess.Generations()
		plain, err := t.sess.Open(data[:n])
		data = data[n:]
		if now, _ := t.sess.Generations(); now != gen {
			tlsKeyUpdatesRead.Add(1)
		}
		if err != nil {
			l.tlsBroken(c, err)
			return
		}
		if t.sess.KeyUpdateOwed() {
			l.tls.seal = t.sess.Seal(l.tls.seal[:0], nil)
			if !l.writeRaw(c, l.tls.seal) {
				return
			}
		}
		if len(plain) > 0 {
			l.consume(c, plain)
		}
	}
	if c.fd < 0 || c.tls != t || len(data) == 0 {
		if c.tls == t {
			t.rin = nil
		}
		return
	}
	// Keep the partial record, sized for the whole record once its
	// header is here so that it grows once.
	need := len(data)
	if len(data) >= tlsrecord.HeaderLen {
		need = tlsrecord.Size(data)
	}
	if len(t.rin) > 0 && cap(t.rin) >= need {
		t.rin = t.rin[:copy(t.rin, data)]
		return
	}
	buf := make([]byte, len(data), need)
	copy(buf, data)
	t.rin = buf
}

func (l *loop) legacyInput(c *conn, t *tlsConn, data []byte) {
	if l.tls.plain == nil {
		l.tls.plain = make([]byte, tlsrecord.MaxPlaintext)
	}
	t.tr.in = append(t.tr.in, data...)
	for c.fd >= 0 && c.tls == t {
		n, err := t.legacy.Read(l.tls.plain)
		if n > 0 {
			l.consume(c, l.tls.plain[:n])
			if c.fd < 0 || c.tls != t {
				return // the data ended the session (close frame, violation)
			}
		}
		var wb errWouldBlock
		if errors.As(err, &wb) {
			break
		}
		if err != nil {
			l.tlsBroken(c, err)
			return
		}
	}
	if c.tls == t && len(t.tr.in) == 0 {
		t.tr.in = nil
	}
}

// tlsBroken ends a connection whose TLS session ended: close_notify or an
// alert from the server, or records that do not parse or decrypt.
func (l *loop) tlsBroken(c *conn, err error) {
	if errors.Is(err, io.EOF) {
		// close_notify: the same as the server's FIN.
		l.lost(c, nil)
		return
	}
	switch c.state {
	case stOpen, stClosing:
		l.lost(c, err)
	default:
		l.fail(c, rTLS, 0)
	}
}

// tlsSeal turns plaintext to send into TLS records in the loop's buffer.
func (l *loop) tlsSeal(c *conn, b []byte) []byte {
	t := c.tls
	switch {
	case t.sess != nil:
		l.tls.seal = t.sess.Seal(append(l.tls.seal[:0], l.tls.pending...), b)
	case t.legacy != nil:
		l.tls.seal = append(l.tls.seal[:0], l.tls.pending...)
		// The transport's writes append to l.tls.seal and never fail.
		_, _ = t.legacy.Write(b)
	default:
		return nil // still in the handshake: nothing of ours to send yet
	}
	return l.tls.seal
}

// trim drops an idle TLS 1.3 session's AEAD states; the loop's periodic
// scan calls it, so a session idle for a scan period holds only its keys.
func (t *tlsConn) trim() {
	if t.sess != nil {
		t.sess.Trim()
	}
}

// close ends a handshake in progress and drops the session's buffers.
func (t *tlsConn) close() {
	if t.hs != nil {
		close(t.hs.abort)
		t.hs = nil
	}
}

// tlsKeyLog receives the key log lines of one handshake and keeps the
// TLS 1.3 application traffic secrets; lines also go to the user's
// KeyLogWriter, if the TLS config had one.
type tlsKeyLog struct {
	h    *tlsHandshake
	user io.Writer
}

func (k *tlsKeyLog) Write(line []byte) (int, error) {
	fields := bytes.Fields(line)
	if len(fields) == 3 {
		var dst *[]byte
		switch string(fields[0]) {
		case "CLIENT_TRAFFIC_SECRET_0":
			dst = &k.h.clientSecret
		case "SERVER_TRAFFIC_SECRET_0":
			dst = &k.h.serverSecret
		}
		if dst != nil {
			secret := make([]byte, hex.DecodedLen(len(fields[2])))
			if _, err := hex.Decode(secret, fields[2]); err == nil {
				*dst = secret
			}
		}
	}
	if k.user != nil {
		return k.user.Write(line)
	}
	return len(line), nil
}

// errWouldBlock is what tlsTransport's reads return in non-blocking mode
// when no bytes are buffered. Temporary() == true keeps crypto/tls from
// treating it as the end of the connection.
type errWouldBlock struct{}

func (errWouldBlock) Error() string   { return "massconn: no TLS bytes buffered yet" }
func (errWouldBlock) Timeout() bool   { return true }
func (errWouldBlock) Temporary() bool { return true }

// tlsTransport is the net.Conn under a tls.Client. During the handshake it
// belongs to the handshake goroutine (hs set); afterwards, for TLS 1.2, to
// the loop, reading from in and appending writes to *sink.
type tlsTransport struct {
	hs   *tlsHandshake
	in   []byte
	sink *[]byte
}

func (tr *tlsTransport) Read(p []byte) (int, error) {
	if tr.hs != nil {
		return tr.hs.read(p)
	}
	if len(tr.in) == 0 {
		return 0, errWouldBlock{}
	}
	n := copy(p, tr.in)
	tr.in = tr.in[n:]
	return n, nil
}

func (tr *tlsTransport) Write(p []byte) (int, error) {
	if tr.hs != nil {
		tr.hs.write(p)
	} else {
		*tr.sink = append(*tr.sink, p...)
	}
	return len(p), nil
}

func (tr *tlsTransport) Close() error                     { return nil }
func (tr *tlsTransport) LocalAddr() net.Addr              { return tlsAddr{} }
func (tr *tlsTransport) RemoteAddr() net.Addr             { return tlsAddr{} }
func (tr *tlsTransport) SetDeadline(time.Time) error      { return nil }
func (tr *tlsTransport) SetReadDeadline(time.Time) error  { return nil }
func (tr *tlsTransport) SetWriteDeadline(time.Time) error { return nil }

type tlsAddr struct{}

func (tlsAddr) Network() string { return "tcp" }
func (tlsAddr) String() string  { return "massconn-loop" }
