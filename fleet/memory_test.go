package fleet

import (
	"testing"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

// The servers' RSS per connection above what they held before k6 ran:
// two servers at 10 and 12 MiB at start, 30 and 32 MiB with 4,096
// connections held, is 10 KiB per connection (not the 15.5 KiB the whole
// RSS divides to).
func TestMemoryAboveServerBaseline(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	var pts []report.Point
	for i := range 20 {
		p := report.Point{T: float64(i), ServerRSSMB: 62, ClientRSSMB: 40}
		if i >= 2 {
			p.Open = 4096
		}
		pts = append(pts, p)
	}
	servers := []RSSRow{
		{Time: at(0.1), Role: "server", PID: 1, RSSKB: 10 << 10}, // when ready
		{Time: at(0.2), Role: "server", PID: 2, RSSKB: 12 << 10},
		{Time: at(2.5), Role: "server", PID: 1, RSSKB: 30 << 10},
		{Time: at(2.6), Role: "server", PID: 2, RSSKB: 32 << 10},
	}
	k6 := []RSSRow{{Time: at(0.5), Role: "k6", PID: 9, RSSKB: 40 << 10}}
	m := memory(pts, k6, servers)
	if m.ServerBaselineBytes != 22<<20 {
		t.Errorf("baseline %d bytes, want %d", m.ServerBaselineBytes, 22<<20)
	}
	if got, want := m.ServerBytesPerConnAboveBaseline, float64(10<<10); got != want {
		t.Errorf("%.1f bytes per connection above the baseline, want %.1f (whole RSS: %.1f)", got, want, m.ServerBytesPerConn)
	}

	// A server first sampled after k6 started has no baseline: the
	// figure is left out rather than guessed.
	m = memory(pts, k6, append(servers, RSSRow{Time: at(3), Role: "server", PID: 3, RSSKB: 20 << 10}))
	if m.ServerBaselineBytes != 0 || m.ServerBytesPerConnAboveBaseline != 0 {
		t.Errorf("baseline %d, %.1f per connection with a server sampled only after k6 started; want none", m.ServerBaselineBytes, m.ServerBytesPerConnAboveBaseline)
	}
}

// The RSS slope over the hold: servers growing 1 MiB every 10 s of a
// 100 s plateau is +6 MiB/min, whatever their level; a flat client is 0.
func TestMemorySlope(t *testing.T) {
	var pts []report.Point
	for i := range 100 {
		pts = append(pts, report.Point{T: float64(i), Open: 1000, ServerRSSMB: 500 + float64(i)/10, ClientRSSMB: 40})
	}
	m := memory(pts, nil, nil)
	if got, want := m.ServerSlopeBytesPerMin, float64(6<<20); got < want*0.999 || got > want*1.001 {
		t.Errorf("server slope %.0f B/min, want %.0f", got, want)
	}
	if m.ClientSlopeBytesPerMin != 0 {
		t.Errorf("client slope %.0f B/min, want 0", m.ClientSlopeBytesPerMin)
	}
}
