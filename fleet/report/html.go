package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// HTML renders the report as one self-contained page (inline CSS and SVG,
// nothing fetched): the verdict, then massconn's own measures over time
// (open connections, connect rate, fan-out latency percentiles, memory),
// failures by reason, drops by close code, and the parts. It is the same
// page for a one-process run and for a fleet merged from many hosts.
func HTML(r *Report) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	verdict, vclass := "PASS", "pass"
	if !r.Pass {
		verdict, vclass = "FAIL", "fail"
	}
	w("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	w("<title>%s — %s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(r.Title), verdict, htmlCSS)
	w("<header><h1>%s</h1><span class=\"verdict %s\">%s</span></header>\n", esc(r.Title), vclass, verdict)
	w("<p class=\"meta\">%s</p>\n", esc(runLine(r)))
	if r.Command != "" {
		w("<p class=\"meta\"><code>%s</code></p>\n", esc(r.Command))
	}
	if len(r.Problems) > 0 {
		w("<ul class=\"problems\">")
		for _, p := range r.Problems {
			w("<li>%s</li>", esc(p))
		}
		w("</ul>\n")
	}

	writeLimitHTML(&b, r.Limit)
	c := r.Connections
	w("<section class=\"tiles\">\n")
	tile := func(color, label, big, sub string) {
		w("<div class=\"tile\" style=\"--c:%s\"><div class=\"label\">%s</div><div class=\"big\">%s</div><div class=\"sub\">%s</div></div>\n",
			color, esc(label), esc(big), esc(sub))
	}
	tile(colConns, "held at once (peak)", num(c.PeakOpen), fmt.Sprintf("of %s targeted · %s opened", num(c.Target), num(c.Opened)))
	tile(colRate, "connect rate", rate(r.Rate.PerSecond)+"/s", fmt.Sprintf("best second %s/s · %.1f s to connect", rate(r.Rate.PeakPerSecond), r.Rate.ConnectSeconds))
	if h := r.Heartbeat; h != nil {
		tile(map[bool]string{true: colBad, false: colOK}[h.LongestSilenceMs > h.BoundSeconds*1000], "longest silence (any connection)",
			fmt.Sprintf("%.1f s", h.LongestSilenceMs/1000),
			fmt.Sprintf("heartbeat every %g s, bound %g s · %s comments · %s idle drops · server RSS %s/min",
				h.EverySeconds, h.BoundSeconds, num(h.Keepalives), num(h.IdleDrops), signedBytes(r.Memory.ServerSlopeBytesPerMin)))
	} else if r.Latency != nil {
		tile(colP50, "fan-out latency p99 (held)", fmt.Sprintf("%.1f ms", r.Latency.P99), fmt.Sprintf("p50 %.1f · p95 %.1f · max %.1f ms", r.Latency.P50, r.Latency.P95, r.Latency.Max))
	} else {
		tile(colP50, "fan-out latency", "–", "no message delivered while every connection was open")
	}
	bad := c.Failures + c.Drops
	held := fmt.Sprintf("held %.0f s", c.HeldSeconds)
	if !r.publishesNothing() || r.Messages.Received > 0 {
		held += fmt.Sprintf(" · %s messages received", num(r.Messages.Received))
	}
	tile(map[bool]string{true: colBad, false: colOK}[bad > 0], "failures · drops", num(c.Failures)+" · "+num(c.Drops), held)
	w("</section>\n")

	// Charts over time, one shared time axis.
	w("<section class=\"card\"><h2>Open connections <span class=\"hint\">sum over the k6 processes, per second</span></h2>%s</section>\n",
		timeChart(r, "", []chartLine{{"open", colConns, true, func(p Point) (float64, bool) { return float64(p.Open), true }}}))
	w("<section class=\"card\"><h2>Connect rate <span class=\"hint\">handshakes completed per second</span></h2>%s</section>\n",
		timeChart(r, "/s", []chartLine{{"opened", colRate, true, func(p Point) (float64, bool) { return float64(p.Opened), true }}}))
	if !r.publishesNothing() {
		w("<section class=\"card\"><h2>Fan-out latency, insert to client <span class=\"hint\">per second%s</span>%s</h2>%s</section>\n",
			"", legend([]chartLine{{"p50", colP50, false, nil}, {"p99", colP99, false, nil}}),
			timeChart(r, "ms", []chartLine{
				{"p99", colP99, false, func(p Point) (float64, bool) { return deref(p.LatencyP99) }},
				{"p50", colP50, true, func(p Point) (float64, bool) { return deref(p.LatencyP50) }},
			}))
	}
	if hasRSS(r) {
		w("<section class=\"card\"><h2>Resident memory (VmRSS)%s</h2>%s</section>\n",
			legend([]chartLine{{"k6 clients", colClient, false, nil}, {"servers", colServer, false, nil}}),
			timeChart(r, "MiB", []chartLine{
				{"k6 clients", colClient, false, func(p Point) (float64, bool) { return p.ClientRSSMB, p.ClientRSSMB > 0 }},
				{"servers", colServer, false, func(p Point) (float64, bool) { return p.ServerRSSMB, p.ServerRSSMB > 0 }},
			}))
	}

	w("<section class=\"pair\">\n")
	w("<div class=\"card\"><h2>Failures by reason <span class=\"hint\">connections that never opened</span></h2>%s</div>\n",
		bars(c.FailureReason, colBad, "no connection failed"))
	w("<div class=\"card\"><h2>Drops by close code <span class=\"hint\">open connections that ended early</span></h2>%s</div>\n",
		bars(c.DropCode, colP99, "no connection dropped"))
	w("</section>\n")

	w("<section class=\"card\"><h2>Latency percentiles</h2>\n<table><tr><th></th><th>count</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>\n")
	type percentileRow struct {
		name string
		p    *Percentiles
	}
	rows := []percentileRow{{"fan-out, every connection open", r.Latency}, {"fan-out, whole run", r.LatencyAll}, {"connecting (TCP + handshake)", r.Connecting}}
	if r.publishesNothing() {
		rows = rows[2:]
	}
	for _, row := range rows {
		if row.p == nil {
			w("<tr><td>%s</td><td colspan=\"5\" class=\"hint\">no samples</td></tr>\n", esc(row.name))
			continue
		}
		w("<tr><td>%s</td><td>%s</td><td>%.1f ms</td><td>%.1f ms</td><td>%.1f ms</td><td>%.1f ms</td></tr>\n",
			esc(row.name), num(row.p.Count), row.p.P50, row.p.P95, row.p.P99, row.p.Max)
	}
	if r.P99PerSecondMaxMs > 0 {
		w("<tr><td>fan-out, the worst second (second %.0f of the run)</td><td></td><td></td><td></td><td>%.1f ms</td><td></td></tr>\n",
			r.P99PerSecondMaxAt, r.P99PerSecondMaxMs)
	}
	if s := r.Servers; s != nil && s.InsertToQueue != nil {
		q := s.InsertToQueue
		w("<tr><td>server: insert to queued (histogram bounds)</td><td>%s</td><td>%s ms</td><td>%s ms</td><td>%s ms</td><td></td></tr>\n",
			num(q.Count), esc(q.Bound(q.P50)), esc(q.Bound(q.P95)), esc(q.Bound(q.P99)))
	}
	w("</table></section>\n")

	writeTargetHTML(&b, r.Target)
	writeFloorHTML(&b, r.Floor)
	writeProfileHTML(&b, r.Profile)

	w("<section class=\"card\"><h2>Parts <span class=\"hint\">one k6 process each</span></h2>\n<table><tr><th>part</th><th>segment</th><th>host</th><th>exit</th><th>opened</th><th>peak open</th><th>failures</th><th>drops</th><th>received</th><th>peak RSS</th><th></th></tr>\n")
	for _, p := range r.Parts {
		dash := ""
		if p.Dashboard != "" {
			dash = fmt.Sprintf("<a href=\"%s\">k6 dashboard</a>", esc(p.Dashboard))
		}
		exit := fmt.Sprint(p.ExitCode)
		if p.ExitCode != 0 {
			exit = "<b class=\"bad\">" + exit + "</b>"
		}
		w("<tr><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s MiB</td><td>%s</td></tr>\n",
			p.Index, esc(p.Segment), esc(p.Host), exit, num(p.Opened), num(p.PeakOpen), num(p.Failures), num(p.Drops),
			num(p.Received), mib(p.PeakRSS), dash)
	}
	w("</table></section>\n")
	m := r.Memory
	var mem []string
	if m.ClientProcesses > 0 {
		mem = append(mem, fmt.Sprintf("k6 %s MiB in %d process(es), %.0f bytes per connection", mib(m.ClientRSSBytes), m.ClientProcesses, m.ClientBytesPerConn))
	}
	if m.ServerProcesses > 0 {
		srv := fmt.Sprintf("servers %s MiB in %d process(es), %.0f bytes per connection", mib(m.ServerRSSBytes), m.ServerProcesses, m.ServerBytesPerConn)
		if m.ServerBaselineBytes > 0 {
			srv += fmt.Sprintf(" (%.0f above the %s MiB held before the first connection)", m.ServerBytesPerConnAboveBaseline, mib(m.ServerBaselineBytes))
		}
		mem = append(mem, srv)
	}
	if len(mem) > 0 {
		w("<p class=\"meta\">Memory while at least 99%% of the peak was open (%d s): %s.</p>\n", m.PlateauSeconds, esc(strings.Join(mem, "; ")))
	}
	if r.Method != "" {
		w("<p class=\"meta\">How the parts were merged: %s</p>\n", esc(r.Method))
	}
	w("<footer>massconn report · generated %s · report.json holds every figure</footer>\n</body>\n</html>\n", r.Generated.UTC().Format(time.RFC3339))
	return b.String()
}

const (
	colConns  = "#2f6fdb"
	colRate   = "#13a384"
	colP50    = "#e0782b"
	colP99    = "#c2415b"
	colClient = "#7b5cc4"
	colServer = "#d19a1f"
	colBad    = "#c2415b"
	colOK     = "#13a384"
)

const htmlCSS = `
:root { --ink:#1d2733; --muted:#6b7785; --bg:#f4f6f9; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px; padding: 18px 28px 24px; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: center; gap: 14px; }
h1 { font-size: 21px; margin: 0; }
h2 { font-size: 14px; margin: 0 0 6px; font-weight: 600; }
.verdict { font-weight: 700; padding: 3px 14px; border-radius: 99px; font-size: 14px; letter-spacing: .04em; }
.verdict.pass { background: #dff3ea; color: #0c6b4f; }
.verdict.fail { background: #fbe3e8; color: #a3233f; }
.meta { color: var(--muted); font-size: 13px; margin: 6px 0; }
.problems { background: #fbe3e8; color: #7d1830; border-radius: 8px; padding: 8px 8px 8px 28px; margin: 8px 0; font-size: 14px; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 14px; margin: 14px 0; }
.tile, .card { background: #fff; border-radius: 10px; box-shadow: 0 1px 2px rgba(20,30,40,.08); }
.tile { padding: 12px 16px; border-top: 4px solid var(--c); }
.tile .label, .hint { color: var(--muted); font-size: 12px; font-weight: 400; }
.tile .big { font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; line-height: 1.2; }
.tile .sub { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.card { padding: 12px 16px 8px; margin: 0 0 14px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.pair .card { margin: 0 0 14px; }
h2 .hint { margin-left: .6em; }
.key { font-size: 12px; font-weight: 400; color: var(--muted); margin-left: .8em; }
.key i { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin: 0 4px 0 10px; }
svg { display: block; width: 100%; height: auto; }
svg text { font-size: 11px; fill: var(--muted); font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
th { text-align: left; color: var(--muted); font-weight: 500; border-bottom: 1px solid #e3e8ee; padding: 4px 8px 4px 0; }
td { padding: 4px 8px 4px 0; border-bottom: 1px solid #f1f3f6; }
.bad { color: #a3233f; }
.none { color: #0c6b4f; font-size: 14px; padding: 10px 0 14px; }
footer { color: var(--muted); font-size: 12px; margin-top: 10px; }
`

type chartLine struct {
	name  string
	color string
	fill  bool
	value func(Point) (float64, bool)
}

func legend(lines []chartLine) string {
	var b strings.Builder
	b.WriteString(`<span class="key">`)
	for _, l := range lines {
		fmt.Fprintf(&b, `<i style="background:%s"></i>%s`, l.color, esc(l.name))
	}
	b.WriteString(`</span>`)
	return b.String()
}

// timeChart draws lines over the run's seconds as inline SVG.
func timeChart(r *Report, unit string, lines []chartLine) string {
	const (
		width, height = 1140, 170
		left, right   = 64, 14
		top, bottom   = 8, 22
	)
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	tMax := 1.0
	for _, p := range r.Series {
		tMax = math.Max(tMax, p.T)
	}
	yMax, hasData := 0.0, false
	for _, ln := range lines {
		for _, p := range r.Series {
			if v, ok := ln.value(p); ok {
				yMax, hasData = math.Max(yMax, v), true
			}
		}
	}
	yMax = niceCeil(yMax)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img">`, width, height)
	x := func(t float64) float64 { return float64(left) + plotW*t/tMax }
	y := func(v float64) float64 { return float64(top) + plotH - plotH*v/yMax }
	for k := 0; k <= 4; k++ {
		v := yMax * float64(k) / 4
		stroke := "#eef1f5"
		if k == 0 {
			stroke = "#c9d1da"
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="%s"/>`, left, float64(left)+plotW, y(v), y(v), stroke)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-8, y(v)+4, esc(short(v, unit)))
	}
	step := tickStep(tMax)
	for t := 0.0; t <= tMax+1e-9; t += step {
		anchor := "middle"
		if t == 0 {
			anchor = "start"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.0f" stroke="#f3f5f8"/>`, x(t), x(t), top, float64(top)+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(t), height-5, anchor, esc(clock(t)))
	}
	if !hasData {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" font-size="13">no samples in this run</text>`, float64(left)+plotW/2, float64(top)+plotH/2)
	}
	for _, ln := range lines {
		// One path per run of seconds that have a value.
		var cur []string
		var first, last float64
		flush := func() {
			if len(cur) == 0 {
				return
			}
			d := "M" + strings.Join(cur, "L")
			if ln.fill && len(cur) > 1 {
				fmt.Fprintf(&b, `<path d="%sL%.1f,%.1fL%.1f,%.1fZ" fill="%s" fill-opacity="0.12"/>`, d, last, y(0), first, y(0), ln.color)
			}
			fmt.Fprintf(&b, `<path class="series" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"/>`, d, ln.color)
			if len(cur) == 1 {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%s" r="2.5" fill="%s"/>`, last, strings.Split(cur[0], ",")[1], ln.color)
			}
			cur = nil
		}
		for _, p := range r.Series {
			v, ok := ln.value(p)
			if !ok {
				flush()
				continue
			}
			if len(cur) == 0 {
				first = x(p.T)
			}
			last = x(p.T)
			cur = append(cur, fmt.Sprintf("%.1f,%.1f", x(p.T), y(v)))
		}
		flush()
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// bars draws counts by key as horizontal bars, largest first.
func bars(counts map[string]int64, color, none string) string {
	keys := slices.Collect(maps.Keys(counts))
	keys = slices.DeleteFunc(keys, func(k string) bool { return counts[k] == 0 })
	if len(keys) == 0 {
		return `<div class="none">✓ ` + esc(none) + `</div>`
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			if counts[a] > counts[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var total, biggest int64
	for _, k := range keys {
		total += counts[k]
		biggest = max(biggest, counts[k])
	}
	const width, row, label, right = 540, 26, 150, 110
	height := row*len(keys) + 6
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img">`, width, height)
	for i, k := range keys {
		y := 3 + i*row
		w := float64(width-label-right) * float64(counts[k]) / float64(biggest)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-size="12">%s</text>`, label-8, y+16, esc(k))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" rx="3" fill="%s"/>`, label, y+4, math.Max(w, 2), row-8, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12">%s (%.0f%%)</text>`, float64(label)+math.Max(w, 2)+6, y+16, num(counts[k]), 100*float64(counts[k])/float64(total))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func hasRSS(r *Report) bool {
	for _, p := range r.Series {
		if p.ClientRSSMB > 0 || p.ServerRSSMB > 0 {
			return true
		}
	}
	return false
}

func runLine(r *Report) string {
	parts := []string{}
	if r.Scenario != "" {
		parts = append(parts, "scenario "+r.Scenario+transportLabel(r.Transport))
	}
	if !r.Started.IsZero() {
		parts = append(parts, fmt.Sprintf("%s to %s UTC (%s)", r.Started.UTC().Format("2006-01-02 15:04:05"),
			r.Ended.UTC().Format("15:04:05"), r.Ended.Sub(r.Started).Round(time.Second)))
	}
	hosts := map[string]bool{}
	for _, p := range r.Parts {
		hosts[p.Host] = true
	}
	parts = append(parts, fmt.Sprintf("%d k6 process(es) on %d load host(s)", len(r.Parts), len(hosts)))
	return strings.Join(parts, " · ")
}

func rate(v float64) string {
	if v >= 10 {
		return num(int64(math.Round(v)))
	}
	return fmt.Sprintf("%.1f", v)
}

// tickStep is a round number of seconds giving at most 10 ticks over span.
func tickStep(span float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if span/s <= 10 {
			return s
		}
	}
	return math.Ceil(span/10/3600) * 3600
}

// clock writes seconds into the run as 45s or 2m30s.
func clock(t float64) string {
	s := int(math.Round(t))
	if s < 60 {
		return fmt.Sprintf("%ds", s)
	}
	if s%60 == 0 {
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%dm%02ds", s/60, s%60)
}
