package fleet

import (
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/fleet/verdict"
)

// build computes every figure of the report from the parts: each part's
// own figures and the pooled samples first (addPart), then what spans the
// parts (window, percentiles, series, memory), then the verdict.
func build(parts []*partInput, serverRSS []RSSRow, rows *RowsRecord, opts MergeOptions) *report.Report {
	r := &report.Report{
		Title: opts.Title, Scenario: opts.Scenario, Transport: opts.Transport, Command: opts.Command,
		Generated: time.Now().UTC(), Method: MergeMethod,
		Connections: report.Connections{Target: opts.Target, FailureReason: map[string]int64{}, DropCode: map[string]int64{}},
	}
	if r.Scenario == "" {
		r.Scenario = scenarioOf(parts[0].info.Script)
	}
	if r.Title == "" {
		r.Title = "massconn " + r.Scenario
	}
	if r.Connections.Target == 0 {
		r.Connections.Target = connectionsArg(parts[0].info.Args)
	}
	r.Started, r.Ended = parts[0].info.Started, parts[0].info.Ended
	pl := &pooled{startMin: math.Inf(1), endMax: math.Inf(-1)}
	for _, p := range parts {
		pl.addPart(r, p)
	}

	// The rate and the "all open" window come from the scripts' wall-clock
	// gauges; without them (a script that does not record them) the window
	// is the run itself.
	allOpen := r.Started
	if !math.IsInf(pl.startMin, 0) && !math.IsInf(pl.endMax, 0) {
		r.Rate.ConnectSeconds = math.Max(0.001, (pl.endMax-pl.startMin)/1000)
		r.Rate.PerSecond = float64(r.Connections.Opened) / r.Rate.ConnectSeconds
		allOpen = time.UnixMilli(int64(pl.endMax))
	}
	holdEnd := pl.holdEnd
	if holdEnd.After(allOpen) {
		r.Connections.HeldSeconds = holdEnd.Sub(allOpen).Seconds()
	}
	var heldLat []wsample
	for _, s := range pl.lat {
		if !s.t.Before(allOpen) && !s.t.After(holdEnd) {
			heldLat = append(heldLat, s)
		}
	}
	r.Latency = quantiles(heldLat)
	r.LatencyAll = quantiles(pl.lat)
	r.Connecting = quantiles(pl.conn)

	r.Series = series(r.Started, r.Ended, parts, pl.clientRSS, serverRSS, pl.lat)
	for _, pt := range r.Series {
		r.Connections.PeakOpen = max(r.Connections.PeakOpen, pt.Open)
		r.Rate.PeakPerSecond = math.Max(r.Rate.PeakPerSecond, float64(pt.Opened))
		if pt.LatencyP99 != nil && *pt.LatencyP99 > r.P99PerSecondMaxMs {
			r.P99PerSecondMaxMs, r.P99PerSecondMaxAt = *pt.LatencyP99, pt.T
		}
	}
	var heldRecv float64
	for _, p := range parts {
		for _, s := range p.metrics.received {
			if s.t.After(allOpen) && !s.t.After(holdEnd) {
				heldRecv += s.v
			}
		}
	}
	if r.Connections.HeldSeconds > 0 {
		r.Messages.ReceivedPerSecond = heldRecv / r.Connections.HeldSeconds
	}
	r.Memory = memory(r.Series, pl.clientRSS, serverRSS)
	r.Machine, r.Profile, r.Target = opts.Machine, opts.Profile, opts.TargetSide
	r.Heartbeat = heartbeatFigures(parts, opts.Heartbeat, r.Connections.DropCode)
	r.Floor = floorFigures(opts.Floor, r)
	if r.Target != nil {
		r.Target.Fill(r.Memory, r.Floor)
	}
	judge(r, parts, rows, opts, allOpen, holdEnd)
	return r
}

// heartbeatFigures are the heartbeat scenario's: the connections' longest
// silences (exact maximum, percentiles of the samples), the comments they
// received and the idle drops; nil for the other scenarios (every = 0).
func heartbeatFigures(parts []*partInput, every time.Duration, drops map[string]int64) *report.Heartbeat {
	if every <= 0 {
		return nil
	}
	h := &report.Heartbeat{EverySeconds: every.Seconds(), BoundSeconds: (every + HeartbeatSlack).Seconds(), IdleDrops: drops["idle"]}
	var silences []sample
	for _, p := range parts {
		silences = append(silences, p.metrics.silence...)
		h.Keepalives += int64(sum(p.metrics.keepalives))
	}
	for _, s := range silences {
		h.LongestSilenceMs = math.Max(h.LongestSilenceMs, s.v)
	}
	h.Silence = quantiles(weighted(silences, nil))
	return h
}

// pooled is what build gathers over the parts before the figures that
// span them: the connect window, every latency and connect-time sample,
// the earliest end of a hold and every k6 RSS row.
type pooled struct {
	startMin, endMax float64 // connect start and end, Unix ms, over all parts
	lat, conn        []wsample
	holdEnd          time.Time // when the first part stopped holding
	clientRSS        []RSSRow
}

// addPart adds part p to the report: its own figures as a report.Part, its
// counters to the fleet's totals and its samples to the pool.
func (pl *pooled) addPart(r *report.Report, p *partInput) {
	m := p.metrics
	if p.info.Started.Before(r.Started) {
		r.Started = p.info.Started
	}
	if p.info.Ended.After(r.Ended) {
		r.Ended = p.info.Ended
	}
	for _, s := range m.connectStart {
		pl.startMin = math.Min(pl.startMin, s.v)
	}
	for _, s := range m.connectEnd {
		pl.endMax = math.Max(pl.endMax, s.v)
	}
	pl.lat = append(pl.lat, weighted(m.latency, m.received)...)
	pl.conn = append(pl.conn, weighted(m.connecting, m.sessions)...)
	byTag(m.failures, r.Connections.FailureReason)
	byTag(m.drops, r.Connections.DropCode)

	part := partFigures(p)
	r.Connections.Opened += part.Opened
	r.Connections.Failures += part.Failures
	r.Connections.Drops += part.Drops
	r.Messages.Received += part.Received
	r.Messages.Sent += int64(sum(m.sent))
	pl.clientRSS = append(pl.clientRSS, p.rss...)
	r.Parts = append(r.Parts, part)
	if e := lastOpen(p.open, p.info.Ended); pl.holdEnd.IsZero() || e.Before(pl.holdEnd) {
		pl.holdEnd = e
	}
}

// partFigures is one part's row of the report: its counters, peak open
// connections and RSS, k6's thresholds and checks, and its dashboard.
func partFigures(p *partInput) report.Part {
	m := p.metrics
	part := report.Part{
		Index: p.info.Index, Segment: p.info.Segment, Host: p.info.Host, ExitCode: p.info.ExitCode,
		Opened:     int64(sum(m.sessions)),
		Failures:   int64(sum(m.failures)),
		Drops:      int64(sum(m.drops)),
		Received:   int64(sum(m.received)),
		PeakOpen:   int64(peak(p.open)),
		Thresholds: map[string]bool{},
		Checks:     map[string][2]int{},
	}
	for _, row := range p.rss {
		part.PeakRSS = max(part.PeakRSS, row.RSSKB*1024)
	}
	for metric, mv := range p.summary.Metrics {
		for expr, crossed := range mv.Thresholds {
			part.Thresholds[metric+": "+expr] = crossed
		}
	}
	for name, c := range p.summary.RootGroup.Checks {
		part.Checks[name] = [2]int{c.Passes, c.Fails}
	}
	if _, err := os.Stat(filepath.Join(p.dir, DashboardFile)); err == nil {
		part.Dashboard = filepath.Join(p.dir, DashboardFile) // MergeToDir copies it next to the report
	}
	return part
}

// judge sets the verdict (package verdict) from the report's figures,
// the parts' exits and hold ends, and the published messages.
func judge(r *report.Report, parts []*partInput, rows *RowsRecord, opts MergeOptions, allOpen, holdEnd time.Time) {
	// The hold ends when the first process stopped holding: its own record,
	// else when its open count first fell (a second late at most).
	for _, p := range parts {
		for _, s := range p.metrics.holdEnd {
			if t := time.UnixMilli(int64(s.v)); t.Before(holdEnd) {
				holdEnd = t
			}
		}
	}
	var exits []verdict.Exit
	for _, p := range parts {
		if p.info.ExitCode != 0 {
			exits = append(exits, verdict.Exit{Part: p.info.Index, Code: p.info.ExitCode})
		}
	}
	published, noRecord := rows.published()
	v := verdict.Judge(verdict.Input{
		Connections: r.Connections, Latency: r.Latency, P99Bound: opts.P99Bound, Exits: exits,
		Delivery: verdict.DeliveryInput{
			Published: published, NoRecord: noRecord, Sequences: sequences(parts),
			AllOpen: allOpen, HoldEnd: holdEnd,
		},
		RequireDelivery: opts.RequireDelivery, RunProblems: opts.RunProblems,
		Heartbeat: heartbeatInput(r.Heartbeat),
	})
	r.Problems, r.Pass, r.P99BoundMs, r.Delivery = v.Problems, v.Pass, v.P99BoundMs, v.Delivery
}

// heartbeatInput is the verdict's view of the heartbeat figures.
func heartbeatInput(h *report.Heartbeat) *verdict.HeartbeatInput {
	if h == nil {
		return nil
	}
	in := &verdict.HeartbeatInput{
		Every:            time.Duration(h.EverySeconds * float64(time.Second)),
		LongestSilenceMs: h.LongestSilenceMs, IdleDrops: h.IdleDrops,
	}
	if h.Silence != nil {
		in.Measured = int64(h.Silence.Samples)
	}
	return in
}
