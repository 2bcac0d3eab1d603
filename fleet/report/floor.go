package report

import (
	"fmt"
	"math"
	"strings"
)

// Floor is this machine's physical floor, measured in the same run before
// the load started (internal/floor: raw syscalls on loopback socket pairs),
// and the run's own CPU costs next to it: what the servers, the k6 clients,
// PostgreSQL and the machine as a whole spent per connection and per
// delivered message.
type Floor struct {
	// NotMeasured says why there is no floor (--floor=false, an error);
	// the CPU windows are still filled.
	NotMeasured  string `json:"not_measured,omitempty"`
	Pairs        int    `json:"pairs"`         // loopback socket pairs held while measuring
	MessageBytes int    `json:"message_bytes"` // one delivered row on the wire, as Message says
	// Message is what MessageBytes measured: "WebSocket frame" or "SSE
	// event" (the run's transport); empty in reports from before it was
	// kept, whose floors were all frames.
	Message        string  `json:"message,omitempty"`
	MeasureSeconds float64 `json:"measure_seconds"`
	WriteUS        float64 `json:"write_us"` // one write of MessageBytes (the loopback receive path runs inside it)
	ReadUS         float64 `json:"read_us"`  // the peer's read of it
	// The same write and read while an epoll reader on another thread
	// reads each message as it arrives (internal/floor's WriteConcurrent).
	WriteConcurrentUS float64 `json:"write_reader_awake_us,omitempty"`
	ReadConcurrentUS  float64 `json:"read_writer_awake_us,omitempty"`
	ConnectUS         float64 `json:"connect_accept_us"`
	UpgradeUS         float64 `json:"upgrade_us"` // a bare WebSocket opening handshake, both ends
	Cores             int     `json:"cores"`
	// The servers' keep-alive: every KeepAliveEveryS seconds each
	// connection costs KeepAliveMessages deliveries (a ping and its pong:
	// 2; an SSE comment: 1); 0 when not known (a target) or off.
	KeepAliveEveryS   float64 `json:"keepalive_every_seconds,omitempty"`
	KeepAliveMessages int     `json:"keepalive_messages,omitempty"`

	// Connect is the connect phase: from starting the k6 processes until
	// every connection was open (or connecting stalled).
	Connect *CPUWindow `json:"connect_phase,omitempty"`
	// Hold is a stretch of the hold with every connection open, from a few
	// seconds after the last one opened to the last progress sample before
	// the first closed.
	Hold *CPUWindow `json:"hold_window,omitempty"`

	// Rows are the comparisons, computed by Compute: the floor's figure,
	// the run's, and the ratio.
	Rows []FloorRow `json:"comparisons,omitempty"`

	// AgainstTarget says the processes measured as the servers are someone
	// else's server's (Report.Target): the rows name them "target".
	AgainstTarget bool `json:"against_target,omitempty"`
}

// serversName names the server side in the rows: "servers" or "target".
func (f *Floor) serversName() string {
	if f.AgainstTarget {
		return "target"
	}
	return "servers"
}

// servers is serversName's possessive: "servers'" or "target's".
func (f *Floor) servers() string {
	if f.AgainstTarget {
		return "target's"
	}
	return "servers'"
}

// CPUWindow is the CPU time (user+sys, from /proc) the run's processes and
// the whole machine used over one stretch of the run.
type CPUWindow struct {
	Seconds     float64 `json:"seconds"`
	Connections int64   `json:"connections"` // opened over the window (connect phase) or held (hold window)
	// Deliveries are the messages the servers queued to subscribers over
	// the window, from their /healthz messages_sent (the counter behind
	// massconn_messages_sent_total); 0 in the connect phase.
	Deliveries     int64   `json:"deliveries"`
	DeliveriesFrom string  `json:"deliveries_from,omitempty"`
	ServersCPU     float64 `json:"servers_cpu_seconds"`
	K6CPU          float64 `json:"k6_cpu_seconds"`
	RunnerCPU      float64 `json:"fleet_runner_cpu_seconds"` // massconn-fleet itself: progress, /healthz polls, sampling
	PostgresCPU    float64 `json:"postgres_cpu_seconds"`     // -1: not measured (your own PostgreSQL)
	MachineBusy    float64 `json:"machine_busy_seconds"`     // /proc/stat, all cores: everything but idle and iowait; -1: not read
	MachineIdle    float64 `json:"machine_idle_seconds"`
	Stale          bool    `json:"stale_counts,omitempty"` // a server did not answer at an end: its last count was used
}

// Other is the machine's busy CPU not in servers, k6, PostgreSQL or the
// fleet runner: the kernel's own threads (softirq), other processes. The
// processes' 10 ms ticks and the machine's are rounded apart, so a quiet
// machine can come out a tick below zero: that is 0.
func (w *CPUWindow) Other() float64 {
	pg := max(w.PostgresCPU, 0)
	return max(0, w.MachineBusy-w.ServersCPU-w.K6CPU-pg-w.RunnerCPU)
}

// FloorRow is one comparison: the floor's figure and the run's, in µs
// (ms for the fan-out), and run/floor.
type FloorRow struct {
	Floor      string  `json:"floor"`       // which floor figure
	FloorValue float64 `json:"floor_value"` // µs, or ms for the fan-out bound
	Run        string  `json:"run"`         // which figure of the run
	RunValue   float64 `json:"run_value"`
	Unit       string  `json:"unit"`
	Ratio      float64 `json:"ratio"` // run / floor; 0 when either is missing
}

// Compute fills Rows from the floor, the CPU windows, the held fan-out p99
// (ms, 0 if none) and the connections it went to.
func (f *Floor) Compute(fanoutP99Ms float64, connections int64) {
	f.Rows = nil
	floorOK := f.NotMeasured == ""
	add := func(floorName string, floorValue float64, run string, runValue float64, unit string) {
		if !floorOK {
			floorValue = 0
		}
		row := FloorRow{Floor: floorName, FloorValue: floorValue, Run: run, RunValue: runValue, Unit: unit}
		if floorValue > 0 && runValue > 0 {
			row.Ratio = runValue / floorValue
		}
		f.Rows = append(f.Rows, row)
	}
	const us = 1e6
	if h := f.Hold; h != nil && h.Deliveries > 0 {
		d := float64(h.Deliveries)
		add("write", f.WriteUS, f.servers()+" CPU per delivered message", h.ServersCPU*us/d, "µs")
		if f.WriteConcurrentUS > 0 {
			add("write, reader awake", f.WriteConcurrentUS, f.servers()+" CPU per delivered message", h.ServersCPU*us/d, "µs")
		}
		add("read", f.ReadUS, "k6 (client) CPU per delivered message", h.K6CPU*us/d, "µs")
		if f.ReadConcurrentUS > 0 {
			add("read by an epoll loop keeping up with the writes", f.ReadConcurrentUS, "k6 (client) CPU per delivered message", h.K6CPU*us/d, "µs")
		}
		add("write + read", f.WriteUS+f.ReadUS, f.serversName()+" + k6 CPU per delivered message", (h.ServersCPU+h.K6CPU)*us/d, "µs")
		if h.MachineBusy >= 0 {
			add("write + read", f.WriteUS+f.ReadUS, "machine's busy CPU per delivered message", h.MachineBusy*us/d, "µs")
		}
	}
	if h := f.Hold; h != nil && h.Deliveries > 0 && h.Seconds > 0 && f.Cores > 0 {
		// The most deliveries a second the machine could sustain: every
		// core doing nothing but the floor's write and read.
		most := 0.0
		if f.WriteUS+f.ReadUS > 0 {
			most = float64(f.Cores) * us / (f.WriteUS + f.ReadUS)
		}
		add(fmt.Sprintf("%d cores / (write + read)", f.Cores), most,
			"deliveries per second sustained over the hold window", float64(h.Deliveries)/h.Seconds, "/s")
	}
	if c := f.Connect; c != nil && c.Connections > 0 {
		n := float64(c.Connections)
		accept := f.ConnectUS + f.UpgradeUS
		add("connect+accept + upgrade", accept, f.servers()+" CPU per accepted connection", c.ServersCPU*us/n, "µs")
		add("connect+accept + upgrade", accept, "k6 (client) CPU per connection", c.K6CPU*us/n, "µs")
	}
	if fanoutP99Ms > 0 && connections > 0 && f.Cores > 0 {
		add(f.fanoutBoundName(connections), f.fanoutBound(connections),
			"fan-out p99 with every connection open", fanoutP99Ms, "ms")
		// In a fan-out the clients read while the servers write, so each
		// delivery costs the write with a reader awake and the read of an
		// epoll loop keeping up: the bound of the floor doing what the
		// run does. The row above is the floor's lowest, with the two
		// ends taking turns, which no fan-out can have.
		if f.WriteConcurrentUS > 0 && f.ReadConcurrentUS > 0 {
			add(fmt.Sprintf("%s × (write, reader awake + read by an epoll loop) / %d cores", num(connections), f.Cores),
				f.boundFor(connections, f.WriteConcurrentUS+f.ReadConcurrentUS),
				"fan-out p99 with every connection open", fanoutP99Ms, "ms")
		}
	}
	if share := f.KeepAliveShare(connections); share > 0 && floorOK {
		// Not a comparison: what the keep-alive alone takes of the
		// machine at the floor, before any connect or row.
		f.Rows = append(f.Rows, FloorRow{
			Floor:      fmt.Sprintf("%s / %gs × %d × (write + read) / %d cores", num(connections), f.KeepAliveEveryS, f.KeepAliveMessages, f.Cores),
			FloorValue: share, Run: "share of the machine the keep-alive alone takes at the floor, at the peak held", Unit: "%",
		})
	}
}

// KeepAliveShare is the percentage of the machine's cores the servers'
// keep-alive for connections takes at the floor: connections /
// KeepAliveEveryS keep-alives a second, each KeepAliveMessages deliveries
// of the floor's write + read. 0 when not known.
func (f *Floor) KeepAliveShare(connections int64) float64 {
	if f.KeepAliveEveryS <= 0 || f.KeepAliveMessages <= 0 || connections <= 0 || f.Cores <= 0 {
		return 0
	}
	perSecond := float64(connections) / f.KeepAliveEveryS
	return perSecond * float64(f.KeepAliveMessages) * (f.WriteUS + f.ReadUS) / 1e6 / float64(f.Cores) * 100
}

// AddBurst adds the row of the worst second: the highest of the run's
// per-second fan-out p99s (ms, 0 if none) against the same bound as the
// fan-out p99's, for the connections it went to. Call it after Compute.
func (f *Floor) AddBurst(perSecondP99MaxMs float64, connections int64) {
	if perSecondP99MaxMs <= 0 || connections <= 0 || f.Cores <= 0 {
		return
	}
	row := FloorRow{
		Floor: f.fanoutBoundName(connections), Run: "highest per-second fan-out p99 of the run",
		RunValue: perSecondP99MaxMs, Unit: "ms",
	}
	if f.NotMeasured == "" {
		row.FloorValue = f.fanoutBound(connections)
		if row.FloorValue > 0 {
			row.Ratio = perSecondP99MaxMs / row.FloorValue
		}
	}
	f.Rows = append(f.Rows, row)
}

// fanoutBound is the floor's bound on a fan-out to connections, in ms: one
// row to N connections cannot finish before N deliveries' CPU has been
// spent on all cores at once.
func (f *Floor) fanoutBound(connections int64) float64 {
	return f.boundFor(connections, f.WriteUS+f.ReadUS)
}

// boundFor is connections deliveries of deliveryUS each spread over every
// core, in ms.
func (f *Floor) boundFor(connections int64, deliveryUS float64) float64 {
	return float64(connections) * deliveryUS / float64(f.Cores) / 1e3
}

func (f *Floor) fanoutBoundName(connections int64) string {
	return fmt.Sprintf("%s × (write + read) / %d cores", num(connections), f.Cores)
}

func (r FloorRow) cells() (floorV, runV, ratio string) {
	format := func(v float64) string {
		switch {
		case v <= 0:
			return "–"
		case r.Unit == "/s":
			return num(int64(math.Round(v))) + r.Unit
		}
		return fmt.Sprintf("%.1f %s", v, r.Unit)
	}
	ratio = "–"
	if r.Ratio > 0 {
		ratio = fmt.Sprintf("%.2f×", r.Ratio)
	}
	return format(r.FloorValue), format(r.RunValue), ratio
}

// floorLine is the floor in one sentence.
func (f *Floor) floorLine() string {
	if f.NotMeasured != "" {
		return "Floor not measured: " + f.NotMeasured + "."
	}
	awake := ""
	if f.WriteConcurrentUS > 0 {
		awake = fmt.Sprintf(" (with an epoll reader awake on another thread at the same time: write %.1f µs, read %.1f µs)", f.WriteConcurrentUS, f.ReadConcurrentUS)
	}
	message := f.Message
	if message == "" {
		message = "WebSocket frame"
	}
	return fmt.Sprintf("Floor measured before the load, in %.1f s (raw syscalls, %s loopback socket pairs, %d-byte message = one delivered row's %s): "+
		"write %.1f µs, read %.1f µs%s, connect+accept %.1f µs, WebSocket upgrade %.1f µs, on %d cores.",
		f.MeasureSeconds, num(int64(f.Pairs)), f.MessageBytes, message, f.WriteUS, f.ReadUS, awake, f.ConnectUS, f.UpgradeUS, f.Cores)
}

// shareRows are the CPU windows as rows: component, seconds, share of the
// machine's capacity over the window (busy + idle).
func (w *CPUWindow) shareRows(servers string) [][3]string {
	capacity := w.MachineBusy + w.MachineIdle
	share := func(v float64) string {
		if w.MachineBusy < 0 || capacity <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f%%", 100*v/capacity)
	}
	sec := func(v float64) string { return fmt.Sprintf("%.2f s", v) }
	rows := [][3]string{
		{servers, sec(w.ServersCPU), share(w.ServersCPU)},
		{"k6 (clients)", sec(w.K6CPU), share(w.K6CPU)},
	}
	if w.PostgresCPU >= 0 {
		rows = append(rows, [3]string{"PostgreSQL", sec(w.PostgresCPU), share(w.PostgresCPU)})
	} else {
		rows = append(rows, [3]string{"PostgreSQL", "not measured", "–"})
	}
	rows = append(rows, [3]string{"fleet runner (massconn-fleet)", sec(w.RunnerCPU), share(w.RunnerCPU)})
	if w.MachineBusy >= 0 {
		rows = append(rows,
			[3]string{"other (kernel threads, other processes on the machine)", sec(w.Other()), share(w.Other())},
			[3]string{"idle", sec(w.MachineIdle), share(w.MachineIdle)},
			[3]string{"machine busy", sec(w.MachineBusy), share(w.MachineBusy)})
	}
	return rows
}

func (w *CPUWindow) describe(name string) string {
	s := fmt.Sprintf("%s: %.1f s, %s connections", name, w.Seconds, num(w.Connections))
	if w.Deliveries > 0 {
		s += fmt.Sprintf(", %s deliveries (%s)", num(w.Deliveries), w.DeliveriesFrom)
	}
	if w.Stale {
		s += "; a server did not answer at an end of the window, its last count was used"
	}
	return s
}

// namedWindow is a CPU window with its name, for rendering.
type namedWindow struct {
	name string
	w    *CPUWindow
}

func (f *Floor) windows() []namedWindow {
	var out []namedWindow
	if f.Connect != nil {
		out = append(out, namedWindow{"connect phase", f.Connect})
	}
	if f.Hold != nil {
		out = append(out, namedWindow{"hold window", f.Hold})
	}
	return out
}

// writeFloorMarkdown renders the Floor section.
func writeFloorMarkdown(b *strings.Builder, f *Floor) {
	if f == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Floor: this machine's physical limit, measured in this run\n\n%s\n\n", f.floorLine())
	if len(f.Rows) > 0 {
		w("| floor | floor value | this run | run value | ratio |\n|---|---|---|---|---|\n")
		for _, r := range f.Rows {
			fv, rv, ratio := r.cells()
			w("| %s | %s | %s | %s | %s |\n", r.Floor, fv, r.Run, rv, ratio)
		}
		w("\n")
	}
	if f.Hold == nil {
		w("No hold window: the connections were never all open for long enough, so there is no CPU per delivered message.\n\n")
	}
	for _, win := range f.windows() {
		w("CPU by component, %s.\n\n| component | CPU | share of the machine |\n|---|---|---|\n", win.w.describe(win.name))
		for _, row := range win.w.shareRows(f.serversName()) {
			w("| %s | %s | %s |\n", row[0], row[1], row[2])
		}
		w("\n")
	}
	w("CPU is user+sys from /proc/PID/stat (10 ms ticks) of every server, k6 and PostgreSQL process, and the machine's from /proc/stat. " +
		"The connect phase's k6 CPU includes k6's start-up.\n\n")
}

// writeFloorHTML renders the Floor section as a card.
func writeFloorHTML(b *strings.Builder, f *Floor) {
	if f == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("<section class=\"card\"><h2>Floor <span class=\"hint\">this machine's physical limit, measured in this run</span></h2>\n")
	w("<p class=\"meta\">%s</p>\n", esc(f.floorLine()))
	if len(f.Rows) > 0 {
		w("<table><tr><th>floor</th><th>floor value</th><th>this run</th><th>run value</th><th>ratio</th></tr>\n")
		for _, r := range f.Rows {
			fv, rv, ratio := r.cells()
			w("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", esc(r.Floor), esc(fv), esc(r.Run), esc(rv), esc(ratio))
		}
		w("</table>\n")
	}
	for _, win := range f.windows() {
		w("<h2 style=\"margin-top:10px\">CPU by component <span class=\"hint\">%s</span></h2>\n", esc(win.w.describe(win.name)))
		w("<table><tr><th>component</th><th>CPU</th><th>share of the machine</th></tr>\n")
		for _, row := range win.w.shareRows(f.serversName()) {
			w("<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n", esc(row[0]), esc(row[1]), esc(row[2]))
		}
		w("</table>\n")
	}
	w("</section>\n")
}

func (p *Profile) headline() string {
	if p.NotTaken != "" {
		return "No server profile: " + p.NotTaken + "."
	}
	return fmt.Sprintf("Go CPU profile of the server on %s for %.0f s during the hold: %.2f s of CPU in %s samples (%.2f cores); the profile is %s (go tool pprof).",
		p.Server, p.Seconds, p.CPUSeconds, num(p.Samples), p.CPUSeconds/max(p.Seconds, 0.001), p.File)
}

// writeProfileMarkdown renders where the profiled server's CPU went.
func writeProfileMarkdown(b *strings.Builder, p *Profile) {
	if p == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Where a server's CPU goes\n\n%s\n\n", p.headline())
	if len(p.Groups) > 0 {
		w("| group (by each sample's stack) | share | CPU |\n|---|---|---|\n")
		for _, g := range p.Groups {
			w("| %s | %.1f%% | %.2f s |\n", g.Name, g.Pct, g.Seconds)
		}
		w("\n")
	}
	if len(p.Top) > 0 {
		w("| function | flat | cumulative | group |\n|---|---|---|---|\n")
		for _, f := range p.Top {
			w("| `%s` | %.1f%% | %.1f%% | %s |\n", f.Name, f.FlatPct, f.CumPct, f.Group)
		}
		w("\n")
	}
}

// writeProfileHTML renders the profile summary as a card.
func writeProfileHTML(b *strings.Builder, p *Profile) {
	if p == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("<section class=\"card\"><h2>Where a server's CPU goes <span class=\"hint\">Go CPU profile during the hold</span></h2>\n<p class=\"meta\">%s</p>\n", esc(p.headline()))
	if len(p.Groups) > 0 {
		w("<table><tr><th>group (by each sample's stack)</th><th>share</th><th>CPU</th></tr>\n")
		for _, g := range p.Groups {
			w("<tr><td>%s</td><td>%.1f%%</td><td>%.2f s</td></tr>\n", esc(g.Name), g.Pct, g.Seconds)
		}
		w("</table>\n")
	}
	if len(p.Top) > 0 {
		w("<table><tr><th>function</th><th>flat</th><th>cumulative</th><th>group</th></tr>\n")
		for _, f := range p.Top {
			w("<tr><td><code>%s</code></td><td>%.1f%%</td><td>%.1f%%</td><td>%s</td></tr>\n", esc(f.Name), f.FlatPct, f.CumPct, esc(f.Group))
		}
		w("</table>\n")
	}
	w("</section>\n")
}
