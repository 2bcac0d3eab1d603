package report

import (
	"fmt"
	"math"
	"strings"
)

// Limit is a capacity search (--scenario limit): one fleet run per step
// of connections, each judged against the service level, until one
// breaks it, the load generator would reach its own limit, or --max.
type Limit struct {
	// Holds is the largest step that met the service level (0: none did).
	Holds int64 `json:"holds"`
	// BreaksAt is the step that broke it; nil when none did.
	BreaksAt *int64 `json:"breaks_at"`
	// BrokeOn says what broke, e.g. "fan-out p99 2.4 s > 1 s"; nil when
	// nothing did.
	BrokeOn *string `json:"broke_on"`
	// LimitedBy is "target", "load generator" or nil (the search reached
	// --max with every step met).
	LimitedBy *string `json:"limited_by"`
	// LoadGenerator names the load generator's limit when it stopped the
	// search, e.g. "ports: 28,232 (ip_local_port_range) for 30,000".
	LoadGenerator string `json:"load_generator_limit,omitempty"`
	// Summary is the search's result in one line.
	Summary string   `json:"summary"`
	SLO     LimitSLO `json:"slo"`
	// Budget is what the load generator may hold by each of this
	// machine's limits, as the search saw them before the first step.
	Budget  []LimitBudget `json:"load_generator_budget,omitempty"`
	Steps   []LimitStep   `json:"steps"`
	Seconds float64       `json:"seconds"` // the whole search
}

// LimitSLO is the service level every step is judged by.
type LimitSLO struct {
	FanoutP99Ms  float64 `json:"fanout_p99_ms"`
	Failures     int64   `json:"failures"` // failed plus dropped connections a step may have
	ConnectP95Ms float64 `json:"connect_p95_ms"`
}

// LimitBudget is one of the load generator's limits as a connection count.
type LimitBudget struct {
	Name        string `json:"name"`
	Connections int64  `json:"connections"`
	Detail      string `json:"detail"`
}

// LimitStep is one step's measurements.
type LimitStep struct {
	Connections      int64            `json:"connections"`
	Open             int64            `json:"open"`
	Failures         int64            `json:"failures"`
	FailuresByReason map[string]int64 `json:"failures_by_reason,omitempty"`
	Drops            int64            `json:"drops"`
	DropsByCode      map[string]int64 `json:"drops_by_code,omitempty"`
	ConnectP95Ms     float64          `json:"connect_p95_ms"`
	FanoutP50Ms      *float64         `json:"fanout_p50_ms"` // nil: no message arrived while all were open
	FanoutP99Ms      *float64         `json:"fanout_p99_ms"`
	// DeliveredRatio is the share of the messages published while every
	// connection was open that reached every connection (the delivery
	// check); nil when it could not be checked.
	DeliveredRatio *float64 `json:"delivered_ratio"`
	// Publishes and PublishFailures are the run's messages sent and those
	// that failed (the target refused or did not answer them).
	Publishes       int64 `json:"publishes"`
	PublishFailures int64 `json:"publish_failures"`
	// The target's (or our servers') RSS and CPU per connection, when
	// measured (--target-pid, or our own servers).
	TargetRSSPerConn   float64 `json:"target_rss_bytes_per_conn,omitempty"`
	TargetCPUPerConnUS float64 `json:"target_cpu_us_per_conn,omitempty"`
	// Shares of the machine's CPU (all cores) over the step's hold window,
	// or its connect phase when no hold was reached.
	K6CPUShare      float64 `json:"k6_cpu_share"`
	TargetCPUShare  float64 `json:"target_cpu_share"`
	MachineCPUShare float64 `json:"machine_cpu_share"`
	// Broke lists what broke the service level at this step.
	Broke   []string `json:"broke,omitempty"`
	Seconds float64  `json:"seconds"`
	Dir     string   `json:"dir"` // the step's own report
}

// knee draws p99, failures and the target's RSS per connection against
// connections, one panel each, with the SLO line on the p99 panel.
func (l *Limit) knee() string {
	const width, panelH, left, right, top, gap = 900, 150, 80, 20, 20, 45
	height := top + 3*(panelH+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	xMax := 1.0
	for _, s := range l.Steps {
		xMax = math.Max(xMax, float64(s.Connections))
	}
	plotW := float64(width - left - right)
	x := func(n int64) float64 { return float64(left) + plotW*float64(n)/xMax }
	panels := []struct {
		title, unit string
		value       func(LimitStep) (float64, bool)
		slo         float64 // 0: no line
	}{
		{"fan-out p99 while all were open", "ms", func(s LimitStep) (float64, bool) { return deref(s.FanoutP99Ms) }, l.SLO.FanoutP99Ms},
		{"failed and dropped connections", "", func(s LimitStep) (float64, bool) { return float64(s.Failures + s.Drops), true }, 0},
		{"target RSS per connection", "B", func(s LimitStep) (float64, bool) { return s.TargetRSSPerConn, s.TargetRSSPerConn > 0 }, 0},
	}
	for i, p := range panels {
		y0 := float64(top + gap/2 + i*(panelH+gap))
		yMax := p.slo * 1.2
		for _, s := range l.Steps {
			if v, ok := p.value(s); ok {
				yMax = math.Max(yMax, v)
			}
		}
		yMax = niceCeil(yMax)
		y := func(v float64) float64 { return y0 + panelH - panelH*v/yMax }
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-8, esc(p.title))
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#999"/>`+"\n", left, y0, plotW, panelH)
		for k := 0; k <= 4; k++ {
			v := yMax * float64(k) / 4
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, short(v, p.unit))
		}
		for _, s := range l.Steps {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", x(s.Connections), y0+panelH+14, num(s.Connections))
		}
		if p.slo > 0 {
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="6 4"/>`, left, float64(left)+plotW, y(p.slo), y(p.slo))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" fill="#d62728">SLO p99 %s</text>`+"\n", float64(left)+plotW-4, y(p.slo)-4, msLabel(p.slo))
		}
		var pts []string
		for _, s := range l.Steps {
			if v, ok := p.value(s); ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.Connections), y(v)))
				color := "#1f77b4"
				if len(s.Broke) > 0 {
					color = "#d62728"
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`, x(s.Connections), y(v), color)
			}
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// msLabel renders a bound in ms as people say it: "1 s", "250 ms".
func msLabel(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%g s", v/1000)
	}
	return fmt.Sprintf("%g ms", v)
}

// figuresFrom says which step the rest of the report's figures are.
func (l *Limit) figuresFrom() string {
	for _, s := range l.Steps {
		if s.Connections == l.Holds {
			return fmt.Sprintf("The figures below are the step that held, %s connections (its own report: %s); each step's report is in its directory.", num(s.Connections), s.Dir)
		}
	}
	if len(l.Steps) > 0 {
		return fmt.Sprintf("No step held: the figures below are the first step's, %s connections (%s).", num(l.Steps[0].Connections), l.Steps[0].Dir)
	}
	return "No step ran."
}

// stepRows are the steps as table cells.
func (l *Limit) stepRows() (head []string, rows [][]string) {
	head = []string{"connections", "open", "failures", "drops", "connect p95", "fan-out p50 / p99", "delivered", "target RSS/conn", "k6 CPU", "s", "broke"}
	ms := func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.0f ms", *v)
	}
	for _, s := range l.Steps {
		delivered := "–"
		if s.DeliveredRatio != nil {
			delivered = fmt.Sprintf("%.1f%%", 100**s.DeliveredRatio)
		}
		rss := "–"
		if s.TargetRSSPerConn > 0 {
			rss = fmt.Sprintf("%.0f B", s.TargetRSSPerConn)
		}
		rows = append(rows, []string{num(s.Connections), num(s.Open), num(s.Failures), num(s.Drops),
			fmt.Sprintf("%.0f ms", s.ConnectP95Ms), ms(s.FanoutP50Ms) + " / " + ms(s.FanoutP99Ms), delivered, rss,
			fmt.Sprintf("%.0f%%", 100*s.K6CPUShare), fmt.Sprintf("%.0f", s.Seconds), strings.Join(s.Broke, "; ")})
	}
	return head, rows
}

func writeLimitMarkdown(b *strings.Builder, l *Limit) {
	if l == nil {
		return
	}
	fmt.Fprintf(b, "## The capacity search\n\n**%s**\n\n", l.Summary)
	head, rows := l.stepRows()
	fmt.Fprintf(b, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, r := range rows {
		fmt.Fprintf(b, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintf(b, "\n%s\n\n", l.figuresFrom())
}

func writeLimitHTML(b *strings.Builder, l *Limit) {
	if l == nil {
		return
	}
	fmt.Fprintf(b, "<section class=\"card\"><h2>The capacity search <span class=\"hint\">%s</span></h2>\n", esc(l.Summary))
	b.WriteString(l.knee())
	head, rows := l.stepRows()
	b.WriteString("<table>\n<tr>")
	for _, h := range head {
		fmt.Fprintf(b, "<th>%s</th>", esc(h))
	}
	b.WriteString("</tr>\n")
	for _, r := range rows {
		b.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(b, "<td>%s</td>", esc(c))
		}
		b.WriteString("</tr>\n")
	}
	fmt.Fprintf(b, "</table>\n<p class=\"meta\">%s</p>\n</section>\n", esc(l.figuresFrom()))
}
