package wsapi

import (
	"net"
	"sync/atomic"
	"syscall"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/server/hub"
)

// An idle connection costs what its read loop costs: gws reads a
// connection in a loop that blocks in read, so a goroutine per
// connection (its stack and descriptor, a large part of what an idle
// connection holds) waits for bytes most clients never send. The
// clients of a fan-out server send nothing but pongs, so instead of
// starting that loop at once, a connection is parked: one poller (epoll,
// park_linux.go) waits for all parked connections to become readable. A
// whole pong is read right there (it only proves the client alive, as
// gws's OnPong does); any other byte, the end of the stream or an error
// hands the connection to its gws read loop, from the first unread byte,
// for the rest of its life. The hub tells the API when it closes a socket
// itself (hub.RegisterOnSocketClose), since a parked connection has no
// read to fail.

// session is a connection's gws session storage: how the callbacks find
// its subscriber, and the parking state.
type session struct {
	sub    *hub.Subscriber
	socket *gws.Conn
	// raw is the socket under gws, when it may be parked (a plain TCP
	// connection with no bytes read ahead of gws); nil otherwise.
	raw syscall.RawConn
	// slot and gen name the connection in the poller while it is parked.
	slot, gen uint32
	reading   atomic.Bool // the gws read loop has started
	// stream is set for an SSE connection (sse.go): it has no gws read
	// loop, and the poller only watches for its peer going away.
	stream *sseStream
}

// startReading starts the connection's gws read loop (for SSE, a read
// that waits for the peer to go away), once.
func (s *session) startReading() {
	if s.reading.CompareAndSwap(false, true) {
		if s.stream != nil {
			go s.stream.readUntilEnd()
			return
		}
		go s.socket.ReadLoop()
	}
}

// parkable says whether c, the connection gws was given with a fresh
// reader of its own, can be parked: a plain TCP connection (TLS keeps
// plaintext of its own in buffers the poller cannot see, and a replayed
// connection bytes read ahead).
func parkable(c net.Conn) bool {
	_, ok := c.(*net.TCPConn)
	return ok
}

// read starts serving s's reads: parked if it can be, else in its read
// loop.
func (a *API) read(s *session) {
	if s.raw == nil || !a.parker.park(s) {
		s.startReading()
	}
}

// socketClosed is the hub's word that it closed sub's socket: a parked
// connection gets its read loop, which fails at once and runs gws's close
// path (OnClose: the hub and the connection count let it go).
func (a *API) socketClosed(sub *hub.Subscriber) {
	if st, ok := sub.Owner().(*sseStream); ok {
		// Not here: the hook may run under the hub's locks.
		go st.end()
		return
	}
	socket := sub.Conn()
	if socket == nil {
		return
	}
	s, ok := socket.Session().(*session)
	if !ok {
		return
	}
	a.parker.remove(s)
	s.startReading()
}

// Close stops what the API runs by itself: the status page's sampling
// ends, as do resumes still reading the log, and every parked connection
// gets its read loop back as the poller ends. Calling it again is harmless.
func (a *API) Close() {
	a.cancel()
	<-a.history.done
	a.parker.close()
}

// wholePongs is how many bytes at the start of b are whole pong frames
// as a client must send them (FIN, no reserved bits, masked, at most 125
// bytes of payload). A pong cut short, or anything else, ends the count:
// it is gws's to read.
func wholePongs(b []byte) int {
	used := 0
	for len(b)-used >= 2 {
		first, second := b[used], b[used+1]
		if first != 0x80|byte(gws.OpcodePong) || second&0x80 == 0 {
			break
		}
		size := 2 + 4 + int(second&0x7f)
		if second&0x7f > 125 || len(b)-used < size {
			break
		}
		used += size
	}
	return used
}
