package report

import (
	"fmt"
	"strings"
)

// Target is a run against someone else's server: where the connections
// went, what published the messages, and, when its processes were given
// (--target-pid), their memory and CPU per connection and per delivered
// message, measured like our servers' (they stand in the servers' place
// in Memory and the floor's CPU windows).
type Target struct {
	URLs            []string `json:"urls"`
	Publisher       string   `json:"publisher"`
	Published       int64    `json:"messages_published"`
	PublishFailures int64    `json:"publish_failures"`
	PIDs            []int    `json:"pids,omitempty"`               // the processes measured, descendants included
	NotMeasured     string   `json:"not_measured,omitempty"`       // why its side was not measured
	RSSBytes        int64    `json:"rss_bytes,omitempty"`          // over the plateau
	RSSBytesPerConn float64  `json:"rss_bytes_per_conn,omitempty"` // the same, per connection held
	RSSAbovePerConn float64  `json:"rss_bytes_per_conn_above_baseline,omitempty"`
	CPUPerConnUS    float64  `json:"cpu_us_per_connection,omitempty"`        // connect phase
	CPUPerMessageUS float64  `json:"cpu_us_per_delivered_message,omitempty"` // hold window
}

// Fill takes the target's figures from the memory and the floor's CPU
// windows, where its processes were measured as the servers.
func (t *Target) Fill(m Memory, f *Floor) {
	if t.NotMeasured != "" {
		return
	}
	t.RSSBytes, t.RSSBytesPerConn, t.RSSAbovePerConn = m.ServerRSSBytes, m.ServerBytesPerConn, m.ServerBytesPerConnAboveBaseline
	if f == nil {
		return
	}
	if c := f.Connect; c != nil && c.Connections > 0 {
		t.CPUPerConnUS = c.ServersCPU * 1e6 / float64(c.Connections)
	}
	if h := f.Hold; h != nil && h.Deliveries > 0 {
		t.CPUPerMessageUS = h.ServersCPU * 1e6 / float64(h.Deliveries)
	}
}

// lines are the target's figures as label/value pairs.
func (t *Target) lines() [][2]string {
	rows := [][2]string{
		{"target", strings.Join(t.URLs, ", ")},
		{"publisher", fmt.Sprintf("%s: %s published, %s failed", t.Publisher, num(t.Published), num(t.PublishFailures))},
	}
	if t.NotMeasured != "" {
		return append(rows, [2]string{"target's memory and CPU", "not measured: " + t.NotMeasured})
	}
	ids := make([]string, len(t.PIDs))
	for i, p := range t.PIDs {
		ids[i] = fmt.Sprint(p)
	}
	perConn := fmt.Sprintf("%s MiB = %.0f B/conn", mib(t.RSSBytes), t.RSSBytesPerConn)
	if t.RSSAbovePerConn > 0 {
		perConn += fmt.Sprintf("; %.0f B/conn above what it held before the first connection", t.RSSAbovePerConn)
	}
	us := func(v float64) string {
		if v <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f µs", v)
	}
	return append(rows,
		[2]string{"target processes measured", strings.Join(ids, ", ")},
		[2]string{"target RSS (plateau)", perConn},
		[2]string{"target CPU per connection (connect phase)", us(t.CPUPerConnUS)},
		[2]string{"target CPU per delivered message (hold)", us(t.CPUPerMessageUS)},
	)
}

func writeTargetMarkdown(b *strings.Builder, t *Target) {
	if t == nil {
		return
	}
	fmt.Fprintf(b, "## The target\n\n| | |\n|---|---|\n")
	for _, l := range t.lines() {
		fmt.Fprintf(b, "| %s | %s |\n", l[0], l[1])
	}
	b.WriteString("\nThe target's processes stand in the servers' place in the memory figures and the floor's CPU windows.\n\n")
}

func writeTargetHTML(b *strings.Builder, t *Target) {
	if t == nil {
		return
	}
	b.WriteString("<section class=\"card\"><h2>The target <span class=\"hint\">someone else's server</span></h2>\n<table>\n")
	for _, l := range t.lines() {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td></tr>\n", esc(l[0]), esc(l[1]))
	}
	b.WriteString("</table>\n</section>\n")
}
