package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// round is one insert being fanned out: every client that receives the
// row records when.
type round struct {
	id   atomic.Int64 // the row id, learnt from the first message
	ts   atomic.Int64 // insert time inside PostgreSQL, unix µs
	got  atomic.Int64
	want int64
	// Receive times, unix µs, one slot per delivery; atomic because a
	// round that timed out may still be written to while it is read.
	at   []atomic.Int64
	done chan struct{}
	dups atomic.Int64
}

func newRound(want int) *round {
	return &round{want: int64(want), at: make([]atomic.Int64, want), done: make(chan struct{})}
}

// fleet is the set of idle client connections, all over one transport:
// WebSocket for a ws:// url, server-sent events (an EventSource's GET) for
// an http:// one.
type fleet struct {
	url     string
	sse     bool
	sources []netip.Addr // client source addresses, perSource connections each
	perSrc  int

	cur        atomic.Pointer[round]
	stray      atomic.Int64 // messages for no current round
	badMsgs    atomic.Int64
	closed     atomic.Int64 // connections the server ended during the run
	closeCodes sync.Map     // close reason -> *atomic.Int64
	msgLen     atomic.Int64 // payload bytes of the last data message, for the floor's write size

	mu    sync.Mutex
	conns []net.Conn
	stop  atomic.Bool // set before the bench closes its own connections
}

// client is the per-connection state; over WebSocket it is the gws
// session too, so no map per connection.
type client struct {
	f      *fleet
	lastID int64 // only touched by this connection's read goroutine
}

func (*client) Len() int                     { return 0 }
func (*client) Load(string) (any, bool)      { return nil, false }
func (*client) Delete(string)                {}
func (*client) Store(string, any)            {}
func (*client) Range(func(string, any) bool) {}

type handler struct{ gws.BuiltinEventHandler }

// wire is the part of the server's message the bench reads.
type wire struct {
	ID int64 `json:"id"`
	TS int64 `json:"ts"`
}

func (handler) OnMessage(socket *gws.Conn, msg *gws.Message) {
	now := time.Now().UnixMicro()
	socket.Session().(*client).receive(msg.Bytes(), now)
	_ = msg.Close()
}

// receive counts one message (a WebSocket message or an event's data)
// received at now (unix µs) in the current round.
func (c *client) receive(data []byte, now int64) {
	var w wire
	c.f.msgLen.Store(int64(len(data)))
	if err := json.Unmarshal(data, &w); err != nil || w.ID == 0 || w.TS == 0 {
		c.f.badMsgs.Add(1)
		return
	}
	if w.ID <= c.lastID {
		// Delivered twice or out of order: the server broke its promise.
		if r := c.f.cur.Load(); r != nil {
			r.dups.Add(1)
		}
		return
	}
	c.lastID = w.ID
	r := c.f.cur.Load()
	if r == nil || (r.id.Load() != w.ID && !r.id.CompareAndSwap(0, w.ID)) {
		c.f.stray.Add(1)
		return
	}
	r.ts.Store(w.TS)
	n := r.got.Add(1)
	if n > r.want {
		r.dups.Add(1)
		return
	}
	r.at[n-1].Store(now)
	if n == r.want {
		close(r.done)
	}
}

func (handler) OnClose(socket *gws.Conn, err error) {
	reason := "connection lost"
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		reason = fmt.Sprintf("close %d %s", ce.Code, ce.Reason)
	}
	socket.Session().(*client).f.lost(reason)
}

// lost counts a connection the server ended during the run, by reason.
func (f *fleet) lost(reason string) {
	if f.stop.Load() {
		return
	}
	f.closed.Add(1)
	v, _ := f.closeCodes.LoadOrStore(reason, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// source is the local address for connection i: perSrc connections per
// address keeps each address's ephemeral ports far from exhausted.
func (f *fleet) source(i int) netip.Addr {
	return f.sources[min(i/f.perSrc, len(f.sources)-1)]
}

// dial opens connection i over the fleet's transport and returns its
// socket and its read loop, for the caller to start.
func (f *fleet) dial(i int) (net.Conn, func(), error) {
	if f.sse {
		return f.dialSSE(i)
	}
	src := f.source(i)
	c := &client{f: f}
	conn, resp, err := gws.NewClient(handler{}, &gws.ClientOption{
		Addr:             f.url,
		ReadBufferSize:   1024,
		HandshakeTimeout: 30 * time.Second,
		NewSession:       func() gws.SessionStorage { return c },
		NewDialer: func() (gws.Dialer, error) {
			return &net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}, nil
		},
	})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		status := ""
		if resp != nil {
			status = fmt.Sprintf(" (HTTP %d)", resp.StatusCode)
		}
		return nil, nil, fmt.Errorf("connection %d from %s: %w%s", i, src, err, status)
	}
	return conn.NetConn(), conn.ReadLoop, nil
}

// connect opens n connections, parallel at most concurrency at a time.
// It stops at the first failure: a benchmark with fewer connections than
// it says would report wrong figures.
func (f *fleet) connect(ctx context.Context, n, concurrency int) error {
	f.conns = make([]net.Conn, 0, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				conn, readLoop, err := f.dial(i)
				if err != nil {
					cancel(err)
					return
				}
				f.mu.Lock()
				f.conns = append(f.conns, conn)
				f.mu.Unlock()
				go readLoop()
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("opened %d of %d connections: %w", len(f.conns), n, err)
	}
	return nil
}

// closeAll ends every connection without waiting for the server's answer,
// with a reset (SO_LINGER 0) as the floor does: a graceful close would
// hold each client port in TIME_WAIT for a minute, and a run of five
// targets at 18,000 connections then leaves no ephemeral port for the
// next target's floor ("cannot assign requested address").
func (f *fleet) closeAll() {
	f.stop.Store(true)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// closeReport lists why connections ended during the run.
func (f *fleet) closeReport() string {
	s := ""
	f.closeCodes.Range(func(k, v any) bool {
		s += fmt.Sprintf(" %s: %d;", k, v.(*atomic.Int64).Load())
		return true
	})
	return s
}
