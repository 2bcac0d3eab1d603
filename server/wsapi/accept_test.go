package wsapi

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/internal/wstest"
	"github.com/massconn/massconn/server/metrics"
)

type noHealth struct{}

func (noHealth) State() string               { return "connected" }
func (noHealth) LastNotification() time.Time { return time.Time{} }
func (noHealth) LastPos() int64              { return 0 }

// BenchmarkAccept is the accept path of /ws, both ends in this process:
// TCP connect, HTTP upgrade through net/http and gws, the hub's Join and
// the read loop's start.
func BenchmarkAccept(b *testing.B) {
	h, err := hub.New(hub.Options{Topics: []string{"Track"}})
	if err != nil {
		b.Fatal(err)
	}
	a := New(Config{HandshakeTimeout: 5 * time.Second, ReadLimit: 1 << 16}, h, metrics.New(h, nil), noHealth{})
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	benchHandshakes(b, addr)
}

// benchHandshakes upgrades one connection per iteration, closing them in
// batches of 2,000 outside the timer so the open-file limit is never hit.
func benchHandshakes(b *testing.B, addr string) {
	var conns []*wstest.RawConn
	for b.Loop() {
		conns = append(conns, wstest.RawHandshake(b, addr, "/ws?topic=Track", nil))
		if len(conns) >= 2000 {
			b.StopTimer()
			for _, c := range conns {
				_ = c.Close()
			}
			conns = conns[:0]
			b.StartTimer()
		}
	}
}
