package engine

import (
	"testing"
	"time"
)

// TestHoldThousands opens a few thousand connections to the in-test gws
// server and holds them. The server shares this process's open-file limit,
// so the count stays well under half of it.
func TestHoldThousands(t *testing.T) {
	limit, err := fileLimit()
	if err != nil {
		t.Fatal(err)
	}
	n := min(3000, (limit-openFiles()-200)/2)
	srv := startGWSServer(t)
	p := dial(t, Config{URLs: []string{srv.url("/echo")}, Connections: n, MaxInFlight: 500, Heartbeat: Heartbeat{Every: time.Second, Ping: true}})
	st := p.Stats()
	if st.Attempted != int64(n) || st.Open != int64(n) || st.Failed != 0 {
		t.Fatalf("opening %d: %+v", n, st)
	}
	// Hold through at least one heartbeat round on every connection.
	eventually(t, "a ping from every connection", func() bool { return srv.pingCount() >= n })
	if st := p.Stats(); st.Open != int64(n) || st.Dropped != 0 {
		t.Fatalf("holding: %+v", st)
	}
	if err := p.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Open != 0 || p.live.Load() != 0 {
		t.Fatalf("after close: %+v, %d sockets", st, p.live.Load())
	}
}
