package wsapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The accept path of /ws without net/http's per-request machinery.
//
// Profiled during make bench-server, net/http's connection goroutine (its
// conn and response objects, a context per request, the bookkeeping of
// every connection until it is hijacked, a stack that grows through
// ServeMux into the handler) cost more CPU per accepted WebSocket than the
// accept and the upgrade themselves, and its garbage made the GC scan every
// idle connection's stack more often. Listen reads the first request line
// of every new connection itself: a GET of /ws is parsed with
// http.ReadRequest from a pooled reader and goes straight to serveWS (the
// same checks and answers as through net/http); anything else goes on to
// net/http, which reads the bytes already read first.

// maxRequestBytes bounds a /ws request's line and headers, as
// http.DefaultMaxHeaderBytes bounds net/http's.
const maxRequestBytes = http.DefaultMaxHeaderBytes

// requestReader reads one connection's first request; pooled, because a
// WebSocket keeps only gws's small reader after the upgrade.
type requestReader struct {
	limit   io.LimitedReader
	br      *bufio.Reader
	arrived arrivedReader
}

var requestReaders = sync.Pool{New: func() any {
	rr := &requestReader{}
	rr.br = bufio.NewReaderSize(&rr.limit, 4096)
	return rr
}}

func getRequestReader(c net.Conn) *requestReader {
	rr := requestReaders.Get().(*requestReader)
	rr.limit = io.LimitedReader{R: c, N: maxRequestBytes}
	rr.br.Reset(&rr.limit)
	return rr
}

func putRequestReader(rr *requestReader) {
	rr.limit.R = nil
	rr.arrived.raw = nil
	rr.br.Reset(nil)
	requestReaders.Put(rr)
}

// errNotArrived is arrivedReader's answer when the socket holds nothing
// (yet).
var errNotArrived = errors.New("nothing has arrived on the socket yet")

// arrivedReader reads only what a socket already holds: a read that
// would wait returns errNotArrived instead.
type arrivedReader struct {
	raw syscall.RawConn
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool // made once per pooled reader: RawConn.Read's callback escapes
}

func (ar *arrivedReader) Read(p []byte) (int, error) {
	if ar.fn == nil {
		ar.fn = func(fd uintptr) bool {
			for {
				ar.n, ar.err = unix.Read(int(fd), ar.p)
				if !errors.Is(ar.err, unix.EINTR) {
					return true // never wait for the socket
				}
			}
		}
	}
	ar.p, ar.n, ar.err = p, 0, nil
	err := ar.raw.Read(ar.fn)
	n, rerr := ar.n, ar.err
	ar.p, ar.err = nil, nil
	switch {
	case err != nil:
		return 0, err
	case errors.Is(rerr, unix.EAGAIN):
		return 0, errNotArrived
	case rerr != nil:
		return 0, rerr
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// Listen wraps ln for an http.Server serving Handler: connections whose
// first request is GET /ws are upgraded here; every other connection is
// returned by Accept (with what was read of it replayed first).
func (a *API) Listen(ln net.Listener) net.Listener {
	l := &splitListener{api: a, ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	// One accept loop per P: the loops serve requests that have arrived
	// whole themselves (see serveArrived), so with one loop every upgrade
	// would run on one core.
	for range runtime.GOMAXPROCS(0) {
		go l.acceptLoop()
	}
	return l
}

type splitListener struct {
	api      *API
	ln       net.Listener
	conns    chan net.Conn // connections for net/http
	done     chan struct{} // closed when ln fails for good; err says why
	doneOnce sync.Once
	err      error
}

func (l *splitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

func (l *splitListener) Close() error   { return l.ln.Close() }
func (l *splitListener) Addr() net.Addr { return l.ln.Addr() }

// acceptLoop accepts until ln is closed. Other accept errors (the
// open-file limit, mostly) are retried after a pause that doubles up to a
// second, as http.Server does; ln reports them.
func (l *splitListener) acceptLoop() {
	var pause time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.doneOnce.Do(func() {
					l.err = err
					close(l.done)
				})
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		if rr, served := l.serveArrived(c); !served {
			go l.route(c, rr)
		}
	}
}

// wsRequestLine is how a request for /ws starts ("GET /ws " or "GET /ws?"),
// sseRequestLine one for /sse: both are served here.
const (
	wsRequestLine  = "GET /ws"
	sseRequestLine = "GET /sse"
)

// serveArrived serves c's first request right in the accept loop when it
// is a /ws request that has arrived whole: under a burst of connections
// that is nearly every one (a client sends its request as soon as its
// connect completes, before the accept), and it saves starting and
// scheduling a goroutine per connection for the handshake (the read loop
// gets its own, small, stack either way). Nothing here waits: the socket
// is read without blocking, and the 101 or a refusal is the first write
// to an empty send buffer. Otherwise it returns what has arrived (nil for
// TLS, which needs its own handshake first) for route.
func (l *splitListener) serveArrived(c net.Conn) (*requestReader, bool) {
	sc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	rr := getRequestReader(c)
	rr.arrived.raw = raw
	rr.limit.R = &rr.arrived
	_, _ = rr.br.Peek(len(sseRequestLine) + 1) // whatever has arrived, up to the buffer
	head, _ := rr.br.Peek(rr.br.Buffered())
	rr.limit.R = c
	rr.arrived.raw = nil
	if !isWSRequestLine(head) || !bytes.Contains(head, []byte("\r\n\r\n")) {
		return rr, false
	}
	l.serveRequest(c, rr)
	return nil, true
}

// isWSRequestLine reports whether start begins with a request for /ws or
// /sse.
func isWSRequestLine(start []byte) bool {
	return hasRequestLine(start, wsRequestLine) || hasRequestLine(start, sseRequestLine)
}

func hasRequestLine(start []byte, line string) bool {
	return len(start) > len(line) && string(start[:len(line)]) == line &&
		(start[len(line)] == ' ' || start[len(line)] == '?')
}

// route serves c's first request if it is for /ws, else hands c to
// net/http. rr holds what serveArrived read of it, or is nil.
func (l *splitListener) route(c net.Conn, rr *requestReader) {
	a := l.api
	// Bounds the whole request, as ReadHeaderTimeout does in net/http;
	// serveWS clears it after the upgrade.
	if a.cfg.HandshakeTimeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(a.cfg.HandshakeTimeout))
	}
	if rr == nil {
		rr = getRequestReader(c)
	}
	start, err := rr.br.Peek(len(sseRequestLine) + 1)
	if err != nil {
		// Closed, timed out or too short to be a request before it ended:
		// net/http would close it too.
		putRequestReader(rr)
		_ = c.Close()
		return
	}
	if !isWSRequestLine(start) {
		// net/http sets its own deadlines per request.
		_ = c.SetReadDeadline(time.Time{})
		select {
		case l.conns <- &replayConn{Conn: c, rr: rr}:
		case <-l.done:
			_ = c.Close()
		}
		return
	}
	l.serveRequest(c, rr)
}

// serveRequest reads a /ws request from rr and answers it: an upgrade or a
// refusal.
func (l *splitListener) serveRequest(c net.Conn, rr *requestReader) {
	a := l.api
	r, err := http.ReadRequest(rr.br)
	if err != nil {
		putRequestReader(rr)
		w := newConnResponse(c, nil)
		http.Error(w, "malformed request: "+err.Error(), http.StatusBadRequest)
		w.finish(a.cfg.HandshakeTimeout)
		return
	}
	w := newConnResponse(c, rr)
	if r.URL.Path == "/sse" {
		a.serveSSE(w, r)
	} else {
		a.serveWS(w, r)
	}
	if !w.hijacked {
		putRequestReader(rr)
		w.finish(a.cfg.HandshakeTimeout)
		return
	}
	if !w.replaying {
		putRequestReader(rr)
	}
}

// replayConn reads what rr read ahead of net/http's or gws's reader
// first, then the connection.
type replayConn struct {
	net.Conn
	mu sync.Mutex
	rr *requestReader // nil once drained
}

func (c *replayConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if rr := c.rr; rr != nil {
		if rr.br.Buffered() > 0 {
			n, err := rr.br.Read(p) // only what is buffered: no read from c
			c.mu.Unlock()
			return n, err
		}
		c.rr = nil
		putRequestReader(rr)
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// release hands back the socket without the replay, for a connection
// that will not read what was read ahead (an event stream's client has
// nothing to say); the read-ahead reader goes back to its pool.
func (c *replayConn) release() net.Conn {
	c.mu.Lock()
	if rr := c.rr; rr != nil {
		c.rr = nil
		putRequestReader(rr)
	}
	c.mu.Unlock()
	return c.Conn
}

// CloseWrite shuts the socket for writing, as the hub does after a close
// frame (a lingering close, hub.Subscriber.closeAfterCloseFrame).
func (c *replayConn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("wsapi: %T cannot close for writing only", c.Conn)
	}
	return cw.CloseWrite()
}

// SyscallConn is the socket's: the hub's non-blocking writes go to it
// directly (the replay concerns only reads), so a connection that sent
// bytes behind its upgrade request keeps the shared writers' fast path.
// Reading through it would skip the replay; the hub only writes.
func (c *replayConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("wsapi: %T has no raw socket", c.Conn)
	}
	return sc.SyscallConn()
}

// connResponse is the http.ResponseWriter of a /ws request read by route:
// a refusal is written whole, with Connection: close, by finish; an
// upgrade hijacks the connection.
type connResponse struct {
	conn      net.Conn
	rr        *requestReader // the request's reader, for bytes read past it
	header    http.Header
	status    int
	body      bytes.Buffer
	hijacked  bool
	replaying bool // the hijacked connection replays rr's buffer first
}

func newConnResponse(c net.Conn, rr *requestReader) *connResponse {
	return &connResponse{conn: c, rr: rr, header: http.Header{}}
}

func (w *connResponse) Header() http.Header { return w.header }

func (w *connResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *connResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Hijack hands the connection to gws, which reads it with its own reader:
// a client that sent bytes right behind its request (nothing waits for
// the 101 in the protocol) gets them replayed.
func (w *connResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	if w.rr != nil && w.rr.br.Buffered() > 0 {
		w.replaying = true
		return &replayConn{Conn: w.conn, rr: w.rr}, nil, nil
	}
	return w.conn, nil, nil
}

// finish writes the response and closes the connection.
func (w *connResponse) finish(timeout time.Duration) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	w.header.Del("Content-Length")
	w.header.Set("Connection", "close")
	_ = w.header.Write(&out)
	out.WriteString("Content-Length: " + strconv.Itoa(w.body.Len()) + "\r\n\r\n")
	out.Write(w.body.Bytes())
	if timeout > 0 {
		_ = w.conn.SetWriteDeadline(time.Now().Add(timeout))
	}
	_, _ = out.WriteTo(w.conn)
	_ = w.conn.Close()
}
