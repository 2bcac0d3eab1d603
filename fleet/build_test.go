package fleet

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

// The report names the run's worst second: the highest per-second fan-out
// p99, and when, next to the whole run's p99 that averages it away. And
// the floor section compares that second, and the hold's delivery rate,
// with the floor.
func TestReportNamesTheWorstSecondsP99(t *testing.T) {
	start := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	m := &partMetrics{}
	// 20 seconds of 1,000 deliveries each at 10 ms, but for second 12:
	// 100 at 900 ms, 0.5% of the run. The whole run's p99 stays at 10 ms.
	for s := range 20 {
		v, n := 10.0, 1000.0
		if s == 12 {
			v, n = 900, 100
		}
		m.latency = append(m.latency, sample{t: at(float64(s) + 0.5), v: v})
		m.received = append(m.received, sample{t: at(float64(s) + 0.5), v: n})
	}
	m.open = []sample{{t: at(0), v: 100}, {t: at(19.5), v: 100}}
	part := &partInput{
		info:    PartInfo{Index: 0, Parts: 1, Started: start, Ended: at(20)},
		summary: &summaryExport{}, metrics: m, open: m.open,
	}
	floor := &report.Floor{WriteUS: 8, ReadUS: 2, Cores: 2,
		Hold: &report.CPUWindow{Seconds: 10, Connections: 100, Deliveries: 1000, ServersCPU: 0.1, K6CPU: 0.1, MachineBusy: -1}}
	r := build([]*partInput{part}, nil, nil, MergeOptions{Floor: floor})

	if r.LatencyAll == nil || r.LatencyAll.P99 > 10 {
		t.Fatalf("whole-run latency %+v: the fixture wants a p99 of 10 ms", r.LatencyAll)
	}
	if r.P99PerSecondMaxMs != 900 || r.P99PerSecondMaxAt != 12 {
		t.Errorf("per-second p99 max %v ms at second %v, want 900 ms at second 12", r.P99PerSecondMaxMs, r.P99PerSecondMaxAt)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["fanout_p99_per_second_max_ms"] != 900.0 || back["fanout_p99_per_second_max_at_s"] != 12.0 {
		t.Errorf("report.json lacks the worst second: %v, %v", back["fanout_p99_per_second_max_ms"], back["fanout_p99_per_second_max_at_s"])
	}
	rows := map[string]report.FloorRow{}
	for _, row := range r.Floor.Rows {
		rows[row.Run] = row
	}
	// 100 connections × 10 µs / 2 cores = 0.5 ms.
	if b := rows["highest per-second fan-out p99 of the run"]; b.FloorValue != 0.5 || b.Ratio != 1800 {
		t.Errorf("worst-second row %+v, want 900 ms against 0.5 ms", b)
	}
	// 2 cores × 1e6 / 10 µs = 200,000/s at most; 1,000 in 10 s.
	if d := rows["deliveries per second sustained over the hold window"]; d.FloorValue != 200000 || d.RunValue != 100 || d.Ratio != 0.0005 {
		t.Errorf("delivery-rate row %+v, want 100/s of 200,000/s", d)
	}
}

// A heartbeat run's floor section compares no fan-out: even with latency
// samples (a target's own events), the fan-out p99 and worst-second rows
// are left out; the per-message rows stay for what was delivered.
func TestHeartbeatFloorHasNoFanOutRows(t *testing.T) {
	start := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	m := &partMetrics{}
	for s := range 10 {
		m.latency = append(m.latency, sample{t: at(float64(s) + 0.5), v: 10})
		m.received = append(m.received, sample{t: at(float64(s) + 0.5), v: 100})
	}
	m.open = []sample{{t: at(0), v: 100}, {t: at(9.5), v: 100}}
	part := &partInput{
		info:    PartInfo{Index: 0, Parts: 1, Started: start, Ended: at(10)},
		summary: &summaryExport{}, metrics: m, open: m.open,
	}
	floor := &report.Floor{WriteUS: 8, ReadUS: 2, Cores: 2,
		Hold: &report.CPUWindow{Seconds: 10, Connections: 100, Deliveries: 1000, ServersCPU: 0.1, K6CPU: 0.1, MachineBusy: -1}}
	for _, hb := range []time.Duration{0, 15 * time.Second} {
		r := build([]*partInput{part}, nil, nil, MergeOptions{Floor: floor, Heartbeat: hb})
		var fanout int
		for _, row := range r.Floor.Rows {
			if strings.Contains(row.Run, "fan-out") {
				fanout++
			}
		}
		if want := map[bool]int{true: 0, false: 2}[hb > 0]; fanout != want {
			t.Errorf("heartbeat %v: %d fan-out rows in the floor section, want %d: %+v", hb, fanout, want, r.Floor.Rows)
		}
	}
}
