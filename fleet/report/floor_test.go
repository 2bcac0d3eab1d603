package report

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func sampleFloor() *Floor {
	return &Floor{
		Pairs: 9000, MessageBytes: 220, MeasureSeconds: 1.5,
		WriteUS: 8, ReadUS: 2, ConnectUS: 20, UpgradeUS: 15, Cores: 2,
		Connect: &CPUWindow{Seconds: 4, Connections: 2000, ServersCPU: 0.14, K6CPU: 0.3, PostgresCPU: 0.01, MachineBusy: 0.6, MachineIdle: 7.4},
		Hold: &CPUWindow{Seconds: 10, Connections: 2000, Deliveries: 20000, DeliveriesFrom: "servers' messages_sent",
			ServersCPU: 0.32, K6CPU: 0.1, PostgresCPU: 0.02, RunnerCPU: 0.01, MachineBusy: 0.5, MachineIdle: 19.5},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestFloorComputeComparesEachFigureWithItsFloor(t *testing.T) {
	f := sampleFloor()
	f.Compute(80, 2000)
	want := []struct {
		run        string
		floor, val float64
	}{
		{"servers' CPU per delivered message", 8, 16},        // 0.32 s / 20,000
		{"k6 (client) CPU per delivered message", 2, 5},      // 0.1 s / 20,000
		{"servers + k6 CPU per delivered message", 10, 21},   // 0.42 s / 20,000
		{"machine's busy CPU per delivered message", 10, 25}, // 0.5 s / 20,000
		// 2 cores × 1e6 / 10 µs at most; 20,000 deliveries in 10 s.
		{"deliveries per second sustained over the hold window", 200000, 2000},
		{"servers' CPU per accepted connection", 35, 70},   // 0.14 s / 2,000 against connect+accept + upgrade
		{"k6 (client) CPU per connection", 35, 150},        // 0.3 s / 2,000
		{"fan-out p99 with every connection open", 10, 80}, // 2,000 × 10 µs / 2 cores = 10 ms
	}
	if len(f.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(f.Rows), len(want), f.Rows)
	}
	for i, w := range want {
		r := f.Rows[i]
		if r.Run != w.run || !near(r.FloorValue, w.floor) || !near(r.RunValue, w.val) || !near(r.Ratio, w.val/w.floor) {
			t.Errorf("row %d = %+v, want %s: floor %g, run %g, ratio %g", i, r, w.run, w.floor, w.val, w.val/w.floor)
		}
	}
	// Compute again (a merge of the same run) replaces, not appends.
	f.Compute(80, 2000)
	if len(f.Rows) != len(want) {
		t.Errorf("second Compute left %d rows", len(f.Rows))
	}
}

// With the concurrent figures measured, the fan-out p99 is also put
// against the bound of the floor's ends working at once.
func TestFloorComputeAddsTheConcurrentFanoutBound(t *testing.T) {
	f := sampleFloor()
	f.WriteConcurrentUS, f.ReadConcurrentUS = 11, 5
	f.Compute(80, 2000)
	last := f.Rows[len(f.Rows)-1]
	want := "2,000 × (write, reader awake + read by an epoll loop) / 2 cores"
	// 2,000 × 16 µs / 2 cores = 16 ms.
	if last.Floor != want || last.Run != "fan-out p99 with every connection open" || !near(last.FloorValue, 16) || !near(last.Ratio, 5) {
		t.Errorf("last row = %+v, want %q: floor 16 ms, ratio 5", last, want)
	}
	prev := f.Rows[len(f.Rows)-2]
	if !strings.HasPrefix(prev.Floor, "2,000 × (write + read)") || !near(prev.FloorValue, 10) {
		t.Errorf("the (write + read) bound row is gone or changed: %+v", prev)
	}
}

// The keep-alive's share of the machine at the floor: 2,000 connections
// pinged every 10 s are 200 pings a second, each a ping and a pong of
// write + read (10 µs): 4 ms of CPU a second on 2 cores, 0.2 %.
func TestFloorComputeReckonsTheKeepAlive(t *testing.T) {
	f := sampleFloor()
	f.KeepAliveEveryS, f.KeepAliveMessages = 10, 2
	f.Compute(80, 2000)
	last := f.Rows[len(f.Rows)-1]
	if last.Floor != "2,000 / 10s × 2 × (write + read) / 2 cores" || last.Unit != "%" || !near(last.FloorValue, 0.2) || last.Ratio != 0 {
		t.Errorf("keep-alive row = %+v, want 0.2 %% and no ratio", last)
	}
	if got := f.KeepAliveShare(1_000_000); !near(got, 100) { // 1,000,000 / 10 s × 2 × 10 µs / 2 cores
		t.Errorf("KeepAliveShare(1,000,000) = %g %%, want 100", got)
	}
	f.NotMeasured = "skipped"
	f.Compute(80, 2000)
	for _, r := range f.Rows {
		if r.Unit == "%" {
			t.Errorf("a keep-alive row without a floor: %+v", r)
		}
	}
}

func TestFloorComputeWithoutFloorOrDeliveries(t *testing.T) {
	f := sampleFloor()
	f.NotMeasured = "skipped (--floor=false)"
	f.Hold.Deliveries = 0
	f.Compute(0, 2000)
	// No deliveries: no per-message rows; no p99: no fan-out row; the
	// connection rows keep the run's figure without a floor or ratio.
	if len(f.Rows) != 2 {
		t.Fatalf("rows %+v, want the two per-connection ones", f.Rows)
	}
	for _, r := range f.Rows {
		if r.FloorValue != 0 || r.Ratio != 0 || r.RunValue <= 0 {
			t.Errorf("row without a floor: %+v", r)
		}
	}
}

func TestCPUWindowOtherIsTheRestOfTheMachine(t *testing.T) {
	w := sampleFloor().Hold
	if got := w.Other(); !near(got, 0.5-0.32-0.1-0.02-0.01) {
		t.Errorf("other %g", got)
	}
	w.MachineBusy = 0.44 // a tick below the processes' sum: rounding, not negative work
	if got := w.Other(); got != 0 {
		t.Errorf("other %g below the processes' sum, want 0", got)
	}
	w.MachineBusy = 0.5
	w.PostgresCPU = -1 // not measured: counts as 0, the rest is "other"
	if got := w.Other(); !near(got, 0.5-0.32-0.1-0.01) {
		t.Errorf("other without PostgreSQL %g", got)
	}
}

func TestFloorRendersInMarkdownHTMLAndJSON(t *testing.T) {
	r := sampleReport()
	r.Floor = sampleFloor()
	r.Floor.Compute(80, 2000)
	md := Markdown(r)
	for _, want := range []string{
		"## Floor: this machine's physical limit",
		"write 8.0 µs, read 2.0 µs, connect+accept 20.0 µs, WebSocket upgrade 15.0 µs, on 2 cores",
		"| write | 8.0 µs | servers' CPU per delivered message | 16.0 µs | 2.00× |",
		"| connect+accept + upgrade | 35.0 µs | servers' CPU per accepted connection | 70.0 µs | 2.00× |",
		"| 2,000 × (write + read) / 2 cores | 10.0 ms | fan-out p99 with every connection open | 80.0 ms | 8.00× |",
		"| 2 cores / (write + read) | 200,000/s | deliveries per second sustained over the hold window | 2,000/s | 0.01× |",
		"hold window: 10.0 s, 2,000 connections, 20,000 deliveries (servers' messages_sent)",
		"| servers | 0.32 s | 2% |", "| PostgreSQL | 0.02 s | 0% |", "| fleet runner (massconn-fleet) | 0.01 s | 0% |", "| idle | 19.50 s | 98% |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(Summary(r), "servers' CPU per delivered message") {
		t.Error("the printed summary lacks the floor comparisons")
	}
	html := HTML(r)
	for _, want := range []string{"<h2>Floor", "<td>servers' CPU per delivered message</td><td>16.0 µs</td><td>2.00×</td>", "hold window"} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Floor struct {
			Write float64 `json:"write_us"`
			Hold  struct {
				Deliveries int64 `json:"deliveries"`
			} `json:"hold_window"`
			Rows []FloorRow `json:"comparisons"`
		} `json:"floor"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Floor.Write != 8 || back.Floor.Hold.Deliveries != 20000 || len(back.Floor.Rows) != 8 {
		t.Errorf("report.json floor %+v", back.Floor)
	}

	if !strings.Contains(md, "220-byte message = one delivered row's WebSocket frame") {
		t.Errorf("markdown does not say the floor's message is a frame (a report without \"message\"):\n%s", md)
	}
	r.Floor.Message = "SSE event"
	if md := Markdown(r); !strings.Contains(md, "220-byte message = one delivered row's SSE event") {
		t.Errorf("markdown does not say the floor's message is an SSE event:\n%s", md)
	}

	r.Floor = sampleFloor()
	r.Floor.Hold = nil
	if md := Markdown(r); !strings.Contains(md, "No hold window") {
		t.Errorf("markdown does not say there is no hold window:\n%s", md)
	}

	r.Floor = &Floor{NotMeasured: "skipped (--floor=false)", Cores: 2}
	if md := Markdown(r); !strings.Contains(md, "Floor not measured: skipped (--floor=false).") {
		t.Errorf("markdown does not say the floor was skipped:\n%s", md)
	}
}

// The worst second's p99 is compared with the fan-out bound like the whole
// hold's p99, after it; with no floor it keeps its figure and no ratio.
func TestFloorAddBurstComparesTheWorstSecond(t *testing.T) {
	f := sampleFloor()
	f.Compute(80, 2000)
	f.AddBurst(240, 2000)
	last := f.Rows[len(f.Rows)-1]
	if last.Run != "highest per-second fan-out p99 of the run" || !near(last.FloorValue, 10) || !near(last.RunValue, 240) || !near(last.Ratio, 24) {
		t.Errorf("burst row %+v, want 240 ms against the 10 ms bound, 24×", last)
	}
	n := len(f.Rows)
	f.AddBurst(0, 2000)
	if len(f.Rows) != n {
		t.Errorf("a run without per-second p99s got a burst row: %+v", f.Rows[n:])
	}
	f = sampleFloor()
	f.NotMeasured = "skipped (--floor=false)"
	f.AddBurst(240, 2000)
	if r := f.Rows[0]; r.FloorValue != 0 || r.Ratio != 0 || r.RunValue != 240 {
		t.Errorf("burst row without a floor: %+v", r)
	}
}
