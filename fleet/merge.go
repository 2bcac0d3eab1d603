package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

// MergeMethod is how the report combines the processes; the report says it.
const MergeMethod = "Counts (handshakes, failures by reason, drops by close code, messages) are exact " +
	"per-process counters summed over the processes. Open connections over time are the per-second sum of each " +
	"process's massconn_open gauge. Percentiles are never averaged: every raw latency and connect-time sample " +
	"from every process's k6 JSON output is pooled, and each is weighted by the number of values it stands for " +
	"(xk6-massconn keeps a uniform sample of at most sampleLimit values per one-second flush; the flush's exact " +
	"message or handshake count divided by the samples kept is the weight), then the weighted quantile is taken. " +
	"With no sampling (fewer values than sampleLimit) the weights are 1 and the percentiles are exact; max is the " +
	"largest sample kept. Connection rate = handshakes / (last process's connect end - first process's connect " +
	"start), from wall-clock gauges the scripts record. RSS is VmRSS of every k6 and server process sampled each second."

// MergeOptions are the report's labels.
type MergeOptions struct {
	Title    string
	Scenario string
	Command  string
	Target   int64 // connections asked for; 0 = read from the parts' CONNECTIONS
	Partial  bool  // accept a sequence with parts missing
	// P99Bound is the fan-out p99 (while all were open) the verdict allows;
	// 0 = DefaultP99Bound.
	P99Bound time.Duration
	// RequireDelivery fails the verdict when the delivery check cannot be
	// made (no rows record, a script without sequences); the local runner
	// sets it, a merge of foreign parts may not have the rows.
	RequireDelivery bool
	// Machine and RunProblems come from the local runner: memory by
	// component, and the kernel limits the run ran into.
	Machine     *report.MachineMemory
	RunProblems []string
	// Floor is the machine's floor measured in the run, with the run's CPU
	// windows; the merge adds the comparisons (report.Floor.Compute).
	Floor *report.Floor
	// Profile is one server's CPU profile summary, or why there is none.
	Profile *report.Profile
}

// partInput is everything read from one part directory.
type partInput struct {
	dir     string
	info    PartInfo
	summary *summaryExport
	metrics *partMetrics
	open    []sample // open connections over time, in time order
	rss     []RSSRow
}

// Merge reads part directories (and RSS-only directories, e.g. a server
// host's) and combines them into one report.
func Merge(dirs []string, opts MergeOptions) (*report.Report, error) {
	if len(dirs) == 0 {
		return nil, errors.New("merge: give at least one part directory")
	}
	var parts []*partInput
	var serverRSS []RSSRow
	var serverDirs []string
	for _, dir := range dirs {
		rss, err := readRSSFile(filepath.Join(dir, RSSFile))
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if _, err := os.Stat(filepath.Join(dir, PartInfoFile)); errors.Is(err, os.ErrNotExist) {
			proms, _ := filepath.Glob(filepath.Join(dir, ServerMetricsGlob))
			if rss == nil && len(proms) == 0 {
				return nil, fmt.Errorf("merge: %s has neither %s, %s nor %s", dir, PartInfoFile, RSSFile, ServerMetricsGlob)
			}
			serverRSS = append(serverRSS, rss...)
			serverDirs = append(serverDirs, dir)
			continue
		}
		p, err := readPart(dir)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		p.rss = rss
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return nil, errors.New("merge: no part directory (one with part.json) among the inputs")
	}
	if err := checkTiling(parts, opts.Partial); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].info.Index < parts[j].info.Index })
	rows, err := readRows(serverDirs)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	r := build(parts, serverRSS, rows, opts)
	r.Inputs = dirs
	sv, err := readServerMetrics(serverDirs)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	r.Servers = sv
	return r, nil
}

// MergeToDir merges and writes report.json, report.md, chart.svg and the
// parts' dashboards into out.
func MergeToDir(out string, dirs []string, opts MergeOptions) (*report.Report, error) {
	r, err := Merge(dirs, opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("merge: create %s: %w", out, err)
	}
	for i := range r.Parts {
		p := &r.Parts[i]
		if p.Dashboard == "" {
			continue
		}
		name := fmt.Sprintf("dashboard-part-%02d.html", p.Index)
		if err := copyFile(p.Dashboard, filepath.Join(out, name)); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		p.Dashboard = name
	}
	if err := report.Write(out, r); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return r, nil
}

func readPart(dir string) (*partInput, error) {
	p := &partInput{dir: dir}
	if err := readJSON(filepath.Join(dir, PartInfoFile), &p.info); err != nil {
		return nil, err
	}
	var err error
	if p.summary, err = readSummary(filepath.Join(dir, SummaryFile)); err != nil {
		if !errors.Is(err, os.ErrNotExist) || p.info.ExitCode == 0 {
			return nil, fmt.Errorf("part %d: %w", p.info.Index, err)
		}
		p.summary = &summaryExport{} // k6 failed before writing one; its exit code says so
	}
	if p.metrics, err = readK6JSON(filepath.Join(dir, MetricsFile)); err != nil {
		return nil, fmt.Errorf("part %d: %w", p.info.Index, err)
	}
	p.open = openSeries(p.metrics)
	return p, nil
}

func readRSSFile(path string) ([]RSSRow, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open rss log: %w", err)
	}
	defer f.Close()
	rows, err := ReadRSS(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rows == nil {
		rows = []RSSRow{}
	}
	return rows, nil
}

// checkTiling insists every segment of the parts' sequence is there once,
// so a missing or doubled part cannot pass for the whole fleet.
func checkTiling(parts []*partInput, partial bool) error {
	n := parts[0].info.Parts
	seen := map[int]string{}
	for _, p := range parts {
		if p.info.Parts != n || p.info.Sequence != parts[0].info.Sequence {
			return fmt.Errorf("%s is part of a %d-part sequence %q, %s of a %d-part sequence %q: not one run",
				p.dir, p.info.Parts, p.info.Sequence, parts[0].dir, n, parts[0].info.Sequence)
		}
		if prev, dup := seen[p.info.Index]; dup {
			return fmt.Errorf("part %d given twice: %s and %s", p.info.Index, prev, p.dir)
		}
		seen[p.info.Index] = p.dir
	}
	if len(seen) != n && !partial {
		var missing []string
		for i := range n {
			if _, ok := seen[i]; !ok {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		return fmt.Errorf("parts %v of %d are missing (use --partial to merge anyway)", missing, n)
	}
	return nil
}

// wsample is a value with the count it stands for.
type wsample struct {
	t    time.Time // when its flush happened
	v, w float64
}

// weighted pairs each trend sample with the count it represents: samples
// of one flush share its timestamp with the flush's exact counter delta.
func weighted(values, counts []sample) []wsample {
	countAt := map[time.Time]float64{}
	for _, c := range counts {
		countAt[c.t] += c.v
	}
	kept := map[time.Time]float64{}
	for _, s := range values {
		kept[s.t]++
	}
	out := make([]wsample, len(values))
	for i, s := range values {
		w := 1.0
		if c := countAt[s.t]; c > kept[s.t] {
			w = c / kept[s.t]
		}
		out[i] = wsample{t: s.t, v: s.v, w: w}
	}
	return out
}

// quantiles summarises a weighted sample: the p-quantile is the smallest
// value whose cumulative weight reaches p of the total.
func quantiles(ws []wsample) *report.Percentiles {
	if len(ws) == 0 {
		return nil
	}
	sorted := slices.Clone(ws)
	slices.SortFunc(sorted, func(a, b wsample) int { return cmpFloat(a.v, b.v) })
	total := 0.0
	for _, s := range sorted {
		total += s.w
	}
	q := func(p float64) float64 {
		target := p * total
		acc := 0.0
		for _, s := range sorted {
			acc += s.w
			if acc >= target-1e-9 {
				return s.v
			}
		}
		return sorted[len(sorted)-1].v
	}
	return &report.Percentiles{
		Count:   int64(math.Round(total)),
		Samples: len(sorted),
		Min:     sorted[0].v,
		P50:     q(0.50),
		P95:     q(0.95),
		P99:     q(0.99),
		Max:     sorted[len(sorted)-1].v,
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sum(ss []sample) float64 {
	t := 0.0
	for _, s := range ss {
		t += s.v
	}
	return t
}

func byTag(ss []sample, into map[string]int64) {
	for _, s := range ss {
		if s.tag != "" && s.v != 0 {
			into[s.tag] += int64(s.v)
		}
	}
}

// build computes every figure of the report from the parts: each part's
// own figures and the pooled samples first (addPart), then what spans the
// parts (window, percentiles, series, memory), then the verdict.
func build(parts []*partInput, serverRSS []RSSRow, rows *RowsRecord, opts MergeOptions) *report.Report {
	r := &report.Report{
		Title: opts.Title, Scenario: opts.Scenario, Command: opts.Command,
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
	judge(r, parts, rows, opts, allOpen, holdEnd)
	return r
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
// counters to the fleet's totals, its samples to the pool, and a problem
// when its k6 did not exit 0.
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
	if p.info.ExitCode != 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("part %d: k6 exited %d (%s)", p.info.Index, p.info.ExitCode, exitMeaning(p.info.ExitCode)))
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

// judge adds the problems the figures show (failed, dropped or missing
// connections, rows not delivered, p99 over the bound, the run's own) and
// sets the verdict.
func judge(r *report.Report, parts []*partInput, rows *RowsRecord, opts MergeOptions, allOpen, holdEnd time.Time) {
	if r.Connections.Failures > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d connections failed", r.Connections.Failures))
	}
	if r.Connections.Drops > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d connections dropped", r.Connections.Drops))
	}
	if r.Connections.Target > 0 && r.Connections.Opened < r.Connections.Target {
		r.Problems = append(r.Problems, fmt.Sprintf("%d of %d connections opened", r.Connections.Opened, r.Connections.Target))
	}
	bound := opts.P99Bound
	if bound <= 0 {
		bound = DefaultP99Bound
	}
	r.P99BoundMs = float64(bound) / float64(time.Millisecond)
	// The window ends bound before the first process stopped holding (its
	// own record; else when its open count first fell, a second late at most).
	windowEnd := holdEnd
	for _, p := range parts {
		for _, s := range p.metrics.holdEnd {
			if t := time.UnixMilli(int64(s.v)); t.Before(windowEnd) {
				windowEnd = t
			}
		}
	}
	r.Delivery = delivery(rows, sequences(parts), allOpen, windowEnd.Add(-bound), r.Connections.Opened)
	if d := r.Delivery; opts.RequireDelivery && d.NotChecked == "" && d.Rows == 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("no row of %s was inserted while every connection was open "+
			"(and %v before the end): nothing shows rows reached the connections; hold longer", d.Table, bound))
	}
	r.Problems = append(r.Problems, deliveryProblems(r.Delivery)...)
	if d := r.Delivery; opts.RequireDelivery && d.NotChecked != "" {
		r.Problems = append(r.Problems, "delivery not checked: "+d.NotChecked)
	}
	if r.Latency != nil && r.Latency.P99 > r.P99BoundMs {
		r.Problems = append(r.Problems, fmt.Sprintf("fan-out p99 %.0f ms while all were open, over the bound of %.0f ms", r.Latency.P99, r.P99BoundMs))
	}
	r.Machine = opts.Machine
	r.Floor = floorFigures(opts.Floor, r)
	r.Profile = opts.Profile
	r.Problems = append(r.Problems, opts.RunProblems...)
	r.Pass = len(r.Problems) == 0
}

func exitMeaning(code int) string {
	switch code {
	case 99:
		return "thresholds crossed"
	case 105:
		return "interrupted"
	case -1:
		return "did not finish"
	}
	return "error, see k6.log"
}

// openSeries is a part's open connections over time, in time order: the
// extension's gauge, or for stock k6 (no gauge) handshakes minus ended
// sessions. readPart computes it once per part.
func openSeries(m *partMetrics) []sample {
	if len(m.open) > 0 {
		open := slices.Clone(m.open)
		sort.SliceStable(open, func(i, j int) bool { return open[i].t.Before(open[j].t) })
		return open
	}
	type ev struct {
		t time.Time
		d float64
	}
	var evs []ev
	for _, s := range m.sessions {
		evs = append(evs, ev{s.t, s.v})
	}
	for _, s := range m.sessionEnds {
		evs = append(evs, ev{s.t, -1})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })
	out := make([]sample, 0, len(evs))
	open := 0.0
	for _, e := range evs {
		open += e.d
		out = append(out, sample{t: e.t, v: open})
	}
	return out
}

func peak(ss []sample) float64 {
	p := 0.0
	for _, s := range ss {
		p = math.Max(p, s.v)
	}
	return p
}

// lastOpen is when the part's connections started closing: the first time
// its open count fell below its peak after reaching it.
func lastOpen(open []sample, fallback time.Time) time.Time {
	pk := peak(open)
	reached := false
	for _, s := range open {
		switch {
		case s.v == pk:
			reached = true
		case reached && s.v < pk:
			return s.t
		}
	}
	return fallback
}

// series buckets the run into seconds.
func series(start, end time.Time, parts []*partInput, clientRSS, serverRSS []RSSRow, lat []wsample) []report.Point {
	n := int(math.Ceil(end.Sub(start).Seconds())) + 1
	if n < 1 || n > 7*24*3600 {
		return nil
	}
	bucket := func(t time.Time) int {
		i := int(t.Sub(start) / time.Second)
		return min(max(i, 0), n-1)
	}
	pts := make([]report.Point, n)
	for i := range pts {
		pts[i].T = float64(i)
	}
	for _, p := range parts {
		vals := carry(p.open, n, bucket)
		for i, v := range vals {
			pts[i].Open += int64(v)
		}
		for _, s := range p.metrics.sessions {
			pts[bucket(s.t)].Opened += int64(s.v)
		}
		for _, s := range p.metrics.received {
			pts[bucket(s.t)].Received += int64(s.v)
		}
	}
	perBucket := make([][]wsample, n)
	for _, s := range lat {
		b := bucket(s.t)
		perBucket[b] = append(perBucket[b], s)
	}
	for i, ws := range perBucket {
		if q := quantiles(ws); q != nil {
			p50, p99 := q.P50, q.P99
			pts[i].LatencyP50, pts[i].LatencyP99 = &p50, &p99
		}
	}
	for i, v := range rssSeries(clientRSS, n, bucket) {
		pts[i].ClientRSSMB = v / 1024
	}
	for i, v := range rssSeries(serverRSS, n, bucket) {
		pts[i].ServerRSSMB = v / 1024
	}
	return pts
}

// carry turns a gauge's samples into one value per bucket: the last value
// seen in or before it.
func carry(ss []sample, n int, bucket func(time.Time) int) []float64 {
	out := make([]float64, n)
	sorted := slices.Clone(ss)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].t.Before(sorted[j].t) })
	have := make([]bool, n)
	for _, s := range sorted {
		b := bucket(s.t)
		out[b], have[b] = s.v, true
	}
	last := 0.0
	for i := range out {
		if have[i] {
			last = out[i]
		} else {
			out[i] = last
		}
	}
	return out
}

// rssSeries sums, per bucket, the last RSS (KiB) of every process alive then.
func rssSeries(rows []RSSRow, n int, bucket func(time.Time) int) []float64 {
	byPID := map[string][]sample{}
	for _, r := range rows {
		key := r.Role + "/" + strconv.Itoa(r.PID)
		byPID[key] = append(byPID[key], sample{t: r.Time, v: float64(r.RSSKB)})
	}
	out := make([]float64, n)
	for _, key := range slices.Sorted(maps.Keys(byPID)) {
		ss := byPID[key]
		first, last := n, -1
		for _, s := range ss {
			first, last = min(first, bucket(s.t)), max(last, bucket(s.t))
		}
		vals := carry(ss, n, bucket)
		for i := first; i <= last; i++ {
			out[i] += vals[i]
		}
	}
	return out
}

// memory averages RSS over the plateau: the seconds with at least 99% of
// the peak open; the servers' also above what they held before the first
// connection.
func memory(pts []report.Point, clientRSS, serverRSS []RSSRow) report.Memory {
	m := report.Memory{ClientProcesses: countPIDs(clientRSS), ServerProcesses: countPIDs(serverRSS)}
	peakOpen := int64(0)
	for _, p := range pts {
		peakOpen = max(peakOpen, p.Open)
	}
	if peakOpen == 0 {
		return m
	}
	var plateau []report.Point
	for _, p := range pts {
		if float64(p.Open) >= 0.99*float64(peakOpen) {
			plateau = append(plateau, p)
		}
	}
	m.PlateauSeconds = len(plateau)
	// The plateau's first tenth can hold a process's first RSS sample,
	// taken before it had started: leave it out of averages and growth.
	tenth := len(plateau) / 10
	steady := plateau[tenth:]
	var c, s, open float64
	for _, p := range steady {
		c += p.ClientRSSMB
		s += p.ServerRSSMB
		open += float64(p.Open)
	}
	k := float64(len(steady))
	m.ClientRSSBytes = int64(c / k * (1 << 20))
	m.ServerRSSBytes = int64(s / k * (1 << 20))
	m.ClientBytesPerConn = float64(m.ClientRSSBytes) / (open / k)
	m.ServerBytesPerConn = float64(m.ServerRSSBytes) / (open / k)
	if base, ok := serverBaseline(clientRSS, serverRSS); ok && m.ServerRSSBytes > 0 {
		m.ServerBaselineBytes = base
		m.ServerBytesPerConnAboveBaseline = float64(m.ServerRSSBytes-base) / (open / k)
	}
	if tenth >= 1 {
		first, last := steady[:tenth], steady[len(steady)-tenth:]
		m.ClientGrowthPct = growth(first, last, func(p report.Point) float64 { return p.ClientRSSMB })
		m.ServerGrowthPct = growth(first, last, func(p report.Point) float64 { return p.ServerRSSMB })
	}
	return m
}

// serverBaseline is the servers' RSS before any k6 process ran: each
// server process's first sample (the fleet takes it when the server is
// ready, before it starts k6), summed. ok is false when some server's
// first sample is not older than every k6 sample (it started late, or its
// RSS log came from elsewhere).
func serverBaseline(clientRSS, serverRSS []RSSRow) (int64, bool) {
	if len(serverRSS) == 0 || len(clientRSS) == 0 {
		return 0, false
	}
	k6Start := clientRSS[0].Time
	for _, r := range clientRSS {
		if r.Time.Before(k6Start) {
			k6Start = r.Time
		}
	}
	first := map[int]RSSRow{}
	for _, r := range serverRSS {
		if f, ok := first[r.PID]; !ok || r.Time.Before(f.Time) {
			first[r.PID] = r
		}
	}
	var kb int64
	for _, r := range first {
		if !r.Time.Before(k6Start) {
			return 0, false
		}
		kb += r.RSSKB
	}
	return kb << 10, true
}

func growth(first, last []report.Point, f func(report.Point) float64) float64 {
	var a, b float64
	for _, p := range first {
		a += f(p)
	}
	for _, p := range last {
		b += f(p)
	}
	if a == 0 {
		return 0
	}
	return (b - a) / a * 100
}

func countPIDs(rows []RSSRow) int {
	seen := map[int]bool{}
	for _, r := range rows {
		seen[r.PID] = true
	}
	return len(seen)
}

func scenarioOf(script string) string {
	base := filepath.Base(script)
	return base[:len(base)-len(filepath.Ext(base))]
}

// connectionsArg finds -e CONNECTIONS=N among k6 arguments.
func connectionsArg(args []string) int64 {
	for i, a := range args {
		v := a
		if (a == "-e" || a == "--env") && i+1 < len(args) {
			v = args[i+1]
		}
		if n, ok := strings.CutPrefix(v, "CONNECTIONS="); ok {
			if x, err := strconv.ParseInt(n, 10, 64); err == nil {
				return x
			}
		}
	}
	return 0
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy dashboard: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copy dashboard: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy dashboard to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy dashboard to %s: %w", dst, err)
	}
	return nil
}
