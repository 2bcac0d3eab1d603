package hub

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/server/internal/wstest"
)

// serverNotReading upgrades and joins like server, but never starts the
// connections' reads: a server whose poller is stopped (or far behind).
func serverNotReading(t *testing.T, h *Hub) (addr string) {
	t.Helper()
	up := gws.NewUpgrader(events{h}, &gws.ServerOption{
		NewSession: func() gws.SessionStorage { return &session{} },
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		conn.Session().(*session).sub = h.Join(conn, 1)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// A pong the server has not read yet is an answer: a server behind on its
// reads must not close the peers that answered as dead. A peer that sent
// nothing is still dropped.
func TestPingTimeoutSparesPeersWhosePongIsUnread(t *testing.T) {
	h := newHub(t, Options{Shards: 1})
	addr := serverNotReading(t, h)
	answered := wstest.RawHandshake(t, addr, "/", nil)
	waitLen(t, h, 1)
	silent := wstest.RawHandshake(t, addr, "/", nil)
	waitLen(t, h, 2)
	if _, err := answered.Write(wstest.MaskedFrame(true, 0xA, nil)); err != nil {
		t.Fatal(err)
	}
	// On loopback the pong is in the server's socket once Write returns.
	// Everyone is "silent" against a deadline in the future.
	if _, reaped := h.PingAll(-time.Hour); reaped != 1 {
		t.Fatalf("PingAll(-1h) reaped %d, want 1 (the silent peer only)", reaped)
	}
	if code, err := silent.ReadUntilClose(); err != nil || code != 0 {
		t.Errorf("silent peer: close code %d, err %v; want its connection dropped", code, err)
	}
	if h.Stats().PingTimeouts != 1 {
		t.Errorf("PingTimeouts = %d, want 1", h.Stats().PingTimeouts)
	}
}

// Connections opened together are pinged spread over the interval: at a
// fake clock stepping through one interval, no tenth of it carries much
// more than a tenth of the pings.
func TestPingerSpreadsPingsOverTheInterval(t *testing.T) {
	h := newHub(t, Options{})
	addr := serverNotReading(t, h)
	const n = 400
	for range n {
		wstest.RawHandshake(t, addr, "/", nil)
	}
	waitLen(t, h, n)
	const interval = 30 * time.Second
	start := time.Now()
	p := h.NewPinger(interval, 2*interval, start)
	var tenths [10]int
	for at := start; at.Before(start.Add(interval)); at = at.Add(p.Period()) {
		pinged, reaped := p.Tick(at)
		if reaped != 0 {
			t.Fatalf("reaped %d within the timeout", reaped)
		}
		tenths[at.Sub(start)*10/interval] += pinged
	}
	total := 0
	for _, c := range tenths {
		total += c
	}
	if total != n {
		t.Fatalf("pinged %d in one interval, want each of the %d once (per tenth: %v)", total, n, tenths)
	}
	// A tenth's count is binomial(400, 0.1): mean 40, deviation 6; 80 is
	// six deviations out.
	for i, c := range tenths {
		if c > 2*n/10 {
			t.Errorf("tenth %d of the interval carried %d of %d pings (per tenth: %v)", i, c, n, tenths)
		}
	}
	// The next interval pings everyone once more, at the same phases.
	pinged, _ := p.Tick(start.Add(2*interval - time.Nanosecond))
	if pinged != n {
		t.Errorf("a tick one interval late pinged %d, want everyone (%d) once", pinged, n)
	}
}

// A Pinger late by more than the timeout (the server stalled) does not
// count its own lateness as the peers' silence.
func TestPingerLateDoesNotReap(t *testing.T) {
	h := newHub(t, Options{})
	addr := serverNotReading(t, h)
	for range 20 {
		wstest.RawHandshake(t, addr, "/", nil)
	}
	waitLen(t, h, 20)
	start := time.Now()
	p := h.NewPinger(time.Second, 2*time.Second, start)
	if _, reaped := p.Tick(start.Add(10 * time.Second)); reaped != 0 {
		t.Fatalf("a tick 10s late reaped %d of 20 peers silent only while it was late", reaped)
	}
	// On time again, the silence counts: nothing was heard since the
	// handshakes, 10s ago and more.
	_, reaped := p.Tick(start.Add(12 * time.Second))
	if reaped != 20 {
		t.Fatalf("on time again, reaped %d of 20 silent peers, want 20", reaped)
	}
}
