package pgsource

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freezingProxy forwards TCP to a target. freeze makes the connections
// made so far move no byte while staying open, as a peer behind a dead
// route does; connections made afterwards work.
type freezingProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	pairs  []*proxyPair
}

type proxyPair struct {
	in, out net.Conn
	frozen  atomic.Bool
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, pr := range p.pairs {
			pr.in.Close()
			pr.out.Close()
		}
		p.mu.Unlock()
	})
	go p.serve()
	return p
}

func (p *freezingProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		pr := &proxyPair{in: in, out: out}
		p.mu.Lock()
		p.pairs = append(p.pairs, pr)
		p.mu.Unlock()
		go pr.pipe(in, out)
		go pr.pipe(out, in)
	}
}

func (pr *proxyPair) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for pr.frozen.Load() {
			time.Sleep(5 * time.Millisecond) // hold the bytes (and the EOF) forever
		}
		if err != nil {
			dst.Close()
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			src.Close()
			return
		}
	}
}

func (p *freezingProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.pairs {
		pr.frozen.Store(true)
	}
}

// A listener connection that stops answering (half-open) is noticed by the
// ping deadline, dropped and made again; rows committed meanwhile arrive.
func TestHalfOpenListenerIsReplaced(t *testing.T) {
	db, url := openDB(t)
	host := strings.TrimPrefix(url, "postgres://postgres@")
	host = host[:strings.Index(host, "/")]
	proxy := newFreezingProxy(t, host)
	_, port, _ := net.SplitHostPort(proxy.ln.Addr().String())
	proxied := strings.Replace(url, host, "127.0.0.1:"+port, 1)

	src := New(proxied, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	src.pingInterval = 50 * time.Millisecond
	src.pingTimeout = 500 * time.Millisecond
	sink := &slowSink{more: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second): // only against hangs
			t.Errorf("Run did not return")
		}
	})
	for !src.Started() {
		time.Sleep(10 * time.Millisecond)
	}
	if err := Insert(ctx, db, "Track", 5); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, 5)
	proxy.freeze()
	if err := Insert(ctx, db, "Track", 5); err != nil {
		t.Fatal(err)
	}
	got := sink.waitFor(t, 10)
	for i, ev := range got {
		if ev.ID != int64(i+1) {
			t.Fatalf("event %d has id %d", i, ev.ID)
		}
	}
	if st := src.Stats(); st.PingFailures == 0 || st.Reconnects == 0 {
		t.Errorf("stats %+v: want a failed ping and a reconnect", st)
	}
}
