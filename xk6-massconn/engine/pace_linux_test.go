//go:build linux

package engine

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// restartableServer is a raw WebSocket server that can be "restarted":
// every connection and the listener closed, then the same address listened
// on again. After the restart it holds each upgrade for a moment before
// answering, so that handshakes the client runs at the same time overlap
// at the server, where they are counted.
type restartableServer struct {
	t    *testing.T
	addr string

	mu        sync.Mutex
	ln        net.Listener
	conns     map[net.Conn]struct{}
	slow      bool
	inFlight  int
	maxFlight int
	upgraded  int
	wg        sync.WaitGroup
}

func startRestartable(t *testing.T) *restartableServer {
	s := &restartableServer{t: t, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(func() { s.stop(); s.wg.Wait() })
	return s
}

func (s *restartableServer) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			slow := s.slow
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handle(c, slow)
			}()
		}
	}()
}

func (s *restartableServer) handle(c net.Conn, slow bool) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	s.mu.Lock()
	s.inFlight++
	s.maxFlight = max(s.maxFlight, s.inFlight)
	s.mu.Unlock()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err == nil && slow {
		// Not a timing assertion: the pause only makes overlapping
		// handshakes visible to the count.
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	if err != nil {
		return
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptFor(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
	if _, err := c.Write([]byte(resp)); err != nil {
		return
	}
	s.mu.Lock()
	s.upgraded++
	s.mu.Unlock()
	_, _ = br.WriteTo(discard{}) // hold until the client goes
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func (s *restartableServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
}

// restart drops every client and listens again on the same address, from
// now on with slow upgrades and fresh counts.
func (s *restartableServer) restart() {
	s.stop()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("listening again on %s: %v", s.addr, err)
	}
	s.mu.Lock()
	s.slow, s.maxFlight, s.upgraded = true, 0, 0
	s.mu.Unlock()
	s.serve(ln)
}

func (s *restartableServer) counts() (upgraded, maxFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upgraded, s.maxFlight
}

// After a server restart every connection redials, but never more than
// MaxInFlight handshakes at once, as the server sees them.
func TestReconnectsTakeMaxInFlightSlots(t *testing.T) {
	srv := startRestartable(t)
	const n, inFlight = 60, 4
	p := dial(t, Config{URLs: []string{"ws://" + srv.addr + "/"}, Connections: n, MaxInFlight: inFlight, Reconnect: true})
	if s := p.Stats(); s.Open != n {
		t.Fatalf("before the restart: %+v", s)
	}
	srv.restart()
	// At least n upgrades: on a loaded machine a handshake can time out at
	// the client after the server counted it, and that connection redials.
	eventually(t, "every connection to reconnect", func() bool {
		up, _ := srv.counts()
		return up >= n && p.Stats().Open == n
	})
	up, most := srv.counts()
	t.Logf("%d upgrades, at most %d reconnect handshakes at once at the server (maxInFlight %d)", up, most, inFlight)
	if most > inFlight {
		t.Fatalf("the server saw %d reconnect handshakes at once, want at most maxInFlight = %d", most, inFlight)
	}
}
