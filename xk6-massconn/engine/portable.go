package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// portable runs connections with the gws client, one goroutine per
// connection. It serves every target on systems without epoll (and on
// Linux only if the event loops could not start). It costs tens of KB per
// connection instead of a few hundred bytes.
type portable struct {
	mu      sync.Mutex
	conns   map[*portConn]struct{}
	beating bool
	stop    chan struct{}
}

type portConn struct {
	ws      *gws.Conn
	idx     int64 // connection number within the pool
	opened  time.Time
	closing bool // guarded by portable.mu
	// nextBeat is when the heartbeat goroutine next beats on it; guarded
	// by portable.mu.
	nextBeat time.Time

	// mu serialises the message layer between the read loop and the
	// heartbeat goroutine.
	mu       sync.Mutex
	proto    protocol.State
	rejected bool   // the adapter rejected (or dropped) the session; guarded by mu
	dropCode int    // the adapter dropped the session with this code; guarded by mu
	kept     []byte // protocol.Conn.Keep; guarded by mu
	// done is closed when the read loop has ended.
	done chan struct{}
}

func (pt *portable) shard(p *Pool) *shard { return &p.shards[len(p.shards)-1] }

// dial runs one connection attempt in its own goroutine.
func (pt *portable) dial(p *Pool, idx int64) {
	go pt.run(p, idx)
}

func (pt *portable) run(p *Pool, idx int64) {
	s := pt.shard(p)
	s.attempted.Add(1)
	cfg := &p.cfg
	t := &p.targets[idx%int64(len(p.targets))]
	header := p.dialHeader(idx)
	if len(cfg.Subprotocols) > 0 {
		header.Set("Sec-WebSocket-Protocol", strings.Join(cfg.Subprotocols, ", "))
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout}
	if n := len(cfg.LocalAddrs); n > 0 {
		dialer.LocalAddr = &net.TCPAddr{IP: cfg.LocalAddrs[idx%int64(n)].AsSlice()}
	}
	pc := &portConn{idx: idx, done: make(chan struct{})}
	h := &portHandler{pool: p, pt: pt, pc: pc, idx: idx}
	started := time.Now()
	p.live.Add(1)
	//nolint:bodyclose // only the status of a refused upgrade is read; gws closes the connection under it.
	ws, resp, err := gws.NewClient(h, &gws.ClientOption{
		Addr:               p.dialURL(t, idx),
		RequestHeader:      header,
		HandshakeTimeout:   cfg.ConnectTimeout,
		TlsConfig:          cfg.TLS.Clone(),
		ReadMaxPayloadSize: int(cfg.MaxMessageSize),
		CheckUtf8Enabled:   true,
		// gws negotiates and inflates per connection (with context
		// takeover if the server insists); simpler than a shared
		// inflater for the goroutine-per-connection engine.
		PermessageDeflate: gws.PermessageDeflate{Enabled: cfg.Compression},
		NewDialer:         func() (gws.Dialer, error) { return resolvedDialer{dialer, p.addrs.at(idx)}, nil },
	})
	if err != nil {
		p.live.Add(-1)
		r, status := portableReason(err, resp)
		s.fail(r, status)
		p.releaseSlot()
		p.settle(1)
		return
	}
	pc.ws, pc.opened = ws, time.Now()
	s.opening(pc.opened.Sub(started), cfg.SampleLimit)
	pt.mu.Lock()
	if pt.conns == nil {
		pt.conns = map[*portConn]struct{}{}
	}
	pt.conns[pc] = struct{}{}
	if cfg.Heartbeat.Every > 0 {
		pc.nextBeat = firstPortableBeat(pc.opened, cfg.Heartbeat.Every)
	}
	closing := p.closing.Load()
	pc.closing = closing
	if cfg.Heartbeat.Every > 0 && !pt.beating {
		pt.beating = true
		pt.stop = make(chan struct{})
		go pt.heartbeat(p)
	}
	pt.mu.Unlock()
	p.releaseSlot()
	p.settle(1)
	if closing {
		_ = ws.WriteClose(1000, nil)
	}
	ws.ReadLoop()
	pt.mu.Lock()
	delete(pt.conns, pc)
	pt.mu.Unlock()
	_ = ws.NetConn().Close()
	p.live.Add(-1)
	close(pc.done)
}

// heartbeat serves every portable connection of the pool from one
// goroutine: each connection beats every period at a phase of its own
// (firstPortableBeat), looked up every beatScan.
func (pt *portable) heartbeat(p *Pool) {
	hb := p.cfg.Heartbeat
	tick := time.NewTicker(min(hb.Every, beatScan))
	defer tick.Stop()
	for {
		var now time.Time
		select {
		case <-pt.stop:
			return
		case now = <-tick.C:
		}
		for _, pc := range pt.due(now, hb.Every) {
			if hb.Ping {
				var stamp [pingLen]byte
				_ = pc.ws.WritePing(pingPayload(&stamp, mono()))
				continue
			}
			pc.mu.Lock()
			p.beatText(&pc.proto, &portOut{pool: p, pt: pt, pc: pc})
			pc.mu.Unlock()
		}
	}
}

// beatScan is how often the portable heartbeat looks for connections due,
// as often as the event loops scan theirs.
const beatScan = 100 * time.Millisecond

// firstPortableBeat is when a connection opened at opened first beats: at
// a uniformly random point of one period, so that connections opened in a
// burst do not beat in a burst.
func firstPortableBeat(opened time.Time, every time.Duration) time.Time {
	return opened.Add(rand.N(every) + 1)
}

// due is the connections whose beat came by now; each one's next beat is
// a period later.
func (pt *portable) due(now time.Time, every time.Duration) []*portConn {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	var conns []*portConn
	for pc := range pt.conns {
		if !pc.nextBeat.After(now) {
			conns = append(conns, pc)
			pc.nextBeat = pc.nextBeat.Add(every)
			if pc.nextBeat.Before(now) {
				pc.nextBeat = now.Add(every)
			}
		}
	}
	return conns
}

func (pt *portable) closeAll(p *Pool, grace time.Duration) {
	pt.mu.Lock()
	if pt.beating {
		close(pt.stop)
		pt.beating = false
	}
	var conns []*portConn
	for pc := range pt.conns {
		pc.closing = true
		conns = append(conns, pc)
	}
	pt.mu.Unlock()
	deadline := time.Now().Add(grace)
	for _, pc := range conns {
		_ = pc.ws.WriteClose(1000, nil)
		// The read loop ends when the server answers; past the grace
		// period the socket is cut, which ends it too.
		_ = pc.ws.SetReadDeadline(deadline)
	}
}

func (pt *portable) forceClose() {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for pc := range pt.conns {
		_ = pc.ws.NetConn().Close()
	}
}

type portHandler struct {
	pool *Pool
	pt   *portable
	pc   *portConn
	idx  int64
}

func (h *portHandler) OnOpen(ws *gws.Conn) {
	h.pc.mu.Lock()
	h.pool.opened(&h.pc.proto, h.idx, h.out(ws))
	h.pc.mu.Unlock()
}

func (h *portHandler) out(ws *gws.Conn) *portOut {
	return &portOut{pool: h.pool, pt: h.pt, pc: h.pc, ws: ws}
}

// portOut is protocol.Conn for a portable connection; calls hold pc.mu.
type portOut struct {
	pool *Pool
	pt   *portable
	pc   *portConn
	ws   *gws.Conn // nil: pc.ws
}

func (o *portOut) conn() *gws.Conn {
	if o.ws != nil {
		return o.ws
	}
	return o.pc.ws
}

func (o *portOut) Send(msg []byte) {
	if !o.pc.rejected && o.conn().WriteMessage(gws.Opcode(o.pool.dataOp()), msg) == nil {
		o.pt.shard(o.pool).sent.Add(1)
	}
}

// Vars are the connection's template variables, for the adapter's
// per-connection messages.
func (o *portOut) Vars() template.Vars { return o.pool.vars(o.pc.idx) }

func (o *portOut) Deliver(payload []byte) {
	if !o.pc.rejected {
		o.pool.deliver(o.pt.shard(o.pool), o.pc.idx, time.Now().UnixNano(), payload)
	}
}

func (o *portOut) Reject(code string) {
	if o.pc.rejected {
		return
	}
	o.pc.rejected = true
	o.pt.shard(o.pool).reject(code)
	_ = o.conn().WriteClose(1000, nil)
}

func (o *portOut) Drop(code int) {
	if o.pc.rejected {
		return
	}
	o.pc.rejected, o.pc.dropCode = true, code
	_ = o.conn().WriteClose(uint16(code), nil) //nolint:gosec // a close code
}

func (o *portOut) Kept() []byte { return o.pc.kept }

func (o *portOut) Keep(partial []byte) bool {
	if int64(len(partial)) > o.pool.cfg.MaxMessageSize {
		o.pc.rejected = true // over for the message layer; gws reports the close
		o.pt.shard(o.pool).fail(rProtocol, 0)
		_ = o.conn().WriteClose(1009, nil)
		return false
	}
	o.pc.kept = append(o.pc.kept[:0], partial...)
	if len(partial) == 0 {
		o.pc.kept = nil
	}
	return true
}

func (h *portHandler) OnClose(ws *gws.Conn, err error) {
	p := h.pool
	s := h.pt.shard(p)
	h.pt.mu.Lock()
	closing := h.pc.closing
	h.pt.mu.Unlock()
	session := time.Since(h.pc.opened)
	h.pc.mu.Lock()
	rejected, dropCode := h.pc.rejected, h.pc.dropCode
	h.pc.mu.Unlock()
	var ce *gws.CloseError
	var violation interface{ Uint16() uint16 }
	switch {
	case dropCode != 0 && !closing:
		s.drop(dropCode, session, p.cfg.SampleLimit)
	case closing || rejected:
		s.endSession(session, p.cfg.SampleLimit)
	case errors.As(err, &ce):
		code := int(ce.Code)
		if code == 0 {
			code = 1005
		}
		h.pc.mu.Lock()
		p.serverClosed(s, &h.pc.proto, code, session)
		h.pc.mu.Unlock()
	case errors.As(err, &violation):
		// gws found a protocol error in the server's frames and closed.
		s.fail(rProtocol, 0)
		s.endSession(session, p.cfg.SampleLimit)
	default:
		s.drop(1006, session, p.cfg.SampleLimit)
	}
}

func (h *portHandler) OnPing(ws *gws.Conn, payload []byte) { _ = ws.WritePong(payload) }
func (h *portHandler) OnPong(_ *gws.Conn, payload []byte) {
	if d, ok := pongRTT(payload, mono()); ok {
		h.pt.shard(h.pool).pingSample(d, h.pool.cfg.SampleLimit)
	}
}

func (h *portHandler) OnMessage(ws *gws.Conn, m *gws.Message) {
	defer m.Close()
	p := h.pool
	s := h.pt.shard(p)
	s.bytesIn.Add(int64(m.Data.Len()))
	h.pc.mu.Lock()
	// A rejected session is over for the message layer; only an adapter
	// rejects, so in raw mode every message still counts.
	p.message(s, &h.pc.proto, m.Opcode == gws.OpcodeText, !h.pc.rejected, m.Bytes(), h.out(ws))
	h.pc.mu.Unlock()
}

// portableReason maps a gws dial/handshake error to a failure reason.
func portableReason(err error, resp *http.Response) (reasonID, int) {
	var (
		recErr   tls.RecordHeaderError
		alert    tls.AlertError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		netErr   net.Error
	)
	switch {
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		return rHTTP, resp.StatusCode
	case resp != nil:
		return rHandshake, 0
	case errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &verify),
		errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return rTLS, 0
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return rTimeout, 0
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return rReset, 0
	}
	return reasonOf(err), 0
}

// resolvedDialer dials the address the pool resolved for the connection
// (Config.Resolver) instead of resolving the URL's host again.
type resolvedDialer struct {
	*net.Dialer
	addr netip.AddrPort
}

func (d resolvedDialer) Dial(network, _ string) (net.Conn, error) {
	return d.Dialer.Dial(network, d.addr.String())
}
