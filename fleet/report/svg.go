package report

import (
	"fmt"
	"math"
	"strings"
)

// SVG draws three panels sharing the time axis: open connections, fan-out
// latency p50/p99 per second (not for a run that publishes nothing), and
// client/server RSS.
func SVG(r *Report) string {
	const (
		width  = 900
		panelH = 180
		left   = 80
		right  = 20
		top    = 40
		gap    = 50
	)
	tMax := 1.0
	for _, p := range r.Series {
		tMax = math.Max(tMax, p.T)
	}
	type line struct {
		name  string
		color string
		value func(Point) (float64, bool)
	}
	panels := []struct {
		title string
		unit  string
		lines []line
	}{
		{"open connections (sum over k6 processes)", "", []line{
			{"open", "#1f77b4", func(p Point) (float64, bool) { return float64(p.Open), true }},
		}},
		{"insert-to-client latency per second", "ms", []line{
			{"p50", "#2ca02c", func(p Point) (float64, bool) { return deref(p.LatencyP50) }},
			{"p99", "#d62728", func(p Point) (float64, bool) { return deref(p.LatencyP99) }},
		}},
		{"resident memory (VmRSS)", "MiB", []line{
			{"k6 clients", "#9467bd", func(p Point) (float64, bool) { return p.ClientRSSMB, p.ClientRSSMB > 0 }},
			{"servers", "#ff7f0e", func(p Point) (float64, bool) { return p.ServerRSSMB, p.ServerRSSMB > 0 }},
		}},
	}
	if r.publishesNothing() {
		panels = append(panels[:1], panels[2:]...)
	}
	height := top + len(panels)*(panelH+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(r.Title))
	plotW := float64(width - left - right)
	for i, panel := range panels {
		y0 := float64(top + gap/2 + i*(panelH+gap))
		yMax := 0.0
		for _, ln := range panel.lines {
			for _, p := range r.Series {
				if v, ok := ln.value(p); ok {
					yMax = math.Max(yMax, v)
				}
			}
		}
		yMax = niceCeil(yMax)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-8, esc(panel.title))
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#999"/>`+"\n", left, y0, plotW, panelH)
		for k := 0; k <= 4; k++ {
			v := yMax * float64(k) / 4
			y := y0 + panelH - panelH*float64(k)/4
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, left, float64(left)+plotW, y, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, short(v, panel.unit))
		}
		for k := 0; k <= 5; k++ {
			t := tMax * float64(k) / 5
			x := float64(left) + plotW*float64(k)/5
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%.0fs</text>`+"\n", x, y0+panelH+14, t)
		}
		for j, ln := range panel.lines {
			var pts []string
			for _, p := range r.Series {
				v, ok := ln.value(p)
				if !ok {
					continue
				}
				x := float64(left) + plotW*p.T/tMax
				y := y0 + panelH
				if yMax > 0 {
					y -= panelH * v / yMax
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			}
			if len(pts) > 0 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", ln.color, strings.Join(pts, " "))
			}
			lx := float64(width-right) - 110*float64(len(panel.lines)-j)
			fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="3" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
				lx, y0-13, ln.color, lx+16, y0-8, esc(ln.name))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func deref(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, for round axis labels.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64, unit string) string {
	s := ""
	switch {
	case v >= 1e6:
		s = fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		s = fmt.Sprintf("%.3gk", v/1e3)
	default:
		s = fmt.Sprintf("%.3g", v)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
