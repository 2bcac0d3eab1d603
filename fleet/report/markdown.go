package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Markdown renders the report for a person: the verdict and the figures
// first, how they were obtained after.
func Markdown(r *Report) string {
	var b strings.Builder
	writeHead(&b, r)
	writeLimitMarkdown(&b, r.Limit)
	b.WriteString("![open connections, latency and memory over time](chart.svg)\n\n")
	b.WriteString("The whole report as one page, with connect rate, failures by reason and drops by code: [report.html](report.html)\n\n")
	writeFigures(&b, r)
	writeTargetMarkdown(&b, r.Target)
	writeFloorMarkdown(&b, r.Floor)
	writeProfileMarkdown(&b, r.Profile)
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Parts\n\n| part | segment | host | exit | opened | peak open | failures | drops | received | peak RSS | dashboard |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Parts {
		dash := "-"
		if p.Dashboard != "" {
			dash = fmt.Sprintf("[html](%s)", p.Dashboard)
		}
		w("| %d | %s | %s | %d | %s | %s | %s | %s | %s | %s MiB | %s |\n", p.Index, p.Segment, p.Host, p.ExitCode,
			num(p.Opened), num(p.PeakOpen), num(p.Failures), num(p.Drops), num(p.Received), mib(p.PeakRSS), dash)
	}
	var failed []string
	for _, p := range r.Parts {
		for t, crossed := range p.Thresholds {
			if crossed {
				failed = append(failed, fmt.Sprintf("part %d: threshold %s crossed", p.Index, t))
			}
		}
		for name, pf := range p.Checks {
			if pf[1] > 0 {
				failed = append(failed, fmt.Sprintf("part %d: check %q failed %d time(s)", p.Index, name, pf[1]))
			}
		}
	}
	slices.Sort(failed)
	if len(failed) > 0 {
		w("\n")
		for _, f := range failed {
			w("- %s\n", f)
		}
	}
	w("\n## How the parts were merged\n\n%s\n\nInputs: %s\n", r.Method, strings.Join(r.Inputs, ", "))
	return b.String()
}

func byKey(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %s", k, num(m[k])))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// num writes 1234567 as 1,234,567.
func num(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// Summary is the verdict and the figures table alone: the short report
// printed at the end of a run.
func Summary(r *Report) string {
	var b strings.Builder
	writeHead(&b, r)
	writeFigures(&b, r)
	writeTargetMarkdown(&b, r.Target)
	writeFloorMarkdown(&b, r.Floor)
	return b.String()
}

func writeHead(b *strings.Builder, r *Report) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	w("# %s — %s\n\n", r.Title, verdict)
	servers := fmt.Sprintf("%d server process(es)", r.Memory.ServerProcesses)
	if r.Target != nil {
		servers = fmt.Sprintf("against %s (%d of its processes measured)", strings.Join(r.Target.URLs, ", "), len(r.Target.PIDs))
	}
	w("Scenario `%s`%s, %d k6 process(es), %s, %s → %s (%.0f s).\n\n",
		r.Scenario, transportLabel(r.Transport), len(r.Parts), servers,
		r.Started.UTC().Format("2006-01-02 15:04:05"), r.Ended.UTC().Format("15:04:05 MST"),
		r.Ended.Sub(r.Started).Seconds())
	if r.Command != "" {
		w("Command:\n\n    %s\n\n", r.Command)
	}
	for _, p := range r.Problems {
		w("- **%s**\n", p)
	}
	if len(r.Problems) > 0 {
		w("\n")
	}
}

func writeFigures(b *strings.Builder, r *Report) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	c := r.Connections
	w("## Figures (all measured in this run)\n\n| figure | value |\n|---|---|\n")
	w("| connections asked for | %s |\n", num(c.Target))
	w("| held at once (peak) | %s |\n", num(c.PeakOpen))
	w("| handshakes completed | %s |\n", num(c.Opened))
	w("| failed connections | %s %s |\n", num(c.Failures), byKey(c.FailureReason))
	w("| dropped connections | %s %s |\n", num(c.Drops), byKey(c.DropCode))
	w("| held with all open | %.0f s |\n", c.HeldSeconds)
	w("| connection rate | %s/s over %.1f s (best second %s/s) |\n",
		num(int64(r.Rate.PerSecond)), r.Rate.ConnectSeconds, num(int64(r.Rate.PeakPerSecond)))
	if l := r.Latency; l != nil {
		w("| fan-out latency, all open (ms) | p50 %.1f · p95 %.1f · p99 %.1f · max %.1f (%s deliveries, %s samples) |\n",
			l.P50, l.P95, l.P99, l.Max, num(l.Count), num(int64(l.Samples)))
	}
	if r.P99BoundMs > 0 && !r.publishesNothing() {
		w("| fan-out p99 bound (verdict) | %.0f ms |\n", r.P99BoundMs)
	}
	if d := r.Delivery; d != nil && !r.publishesNothing() {
		if d.NotChecked != "" {
			w("| every %s to every connection | not checked: %s |\n", d.Noun(), d.NotChecked)
		} else {
			verdict := "yes"
			if !d.Complete {
				verdict = "**no**"
			}
			n := d.Noun()
			w("| every %[1]s to every connection (exact) | %[2]s: %[1]ss %[3]s..%[4]s of %[5]s (%[6]s %[1]ss × %[7]s connections = %[8]s deliveries; %[9]s %[1]ss in the run) |\n",
				n, verdict, num(d.FirstID), num(d.LastID), d.Table, num(d.Rows), num(d.Sequences+d.Silent), num(d.Deliveries), num(d.RowsInserted))
			w("| sequence check | gaps %s · duplicates %s · reordered %s · silent connections %s · started late %s · ended early %s |\n",
				num(d.Gaps), num(d.Duplicates), num(d.Reordered), num(d.Silent), num(d.StartedLate), num(d.EndedEarly))
		}
	}
	if l := r.LatencyAll; l != nil {
		w("| fan-out latency, whole run (ms) | p50 %.1f · p95 %.1f · p99 %.1f · max %.1f |\n", l.P50, l.P95, l.P99, l.Max)
	}
	if r.P99PerSecondMaxMs > 0 {
		w("| highest per-second fan-out p99 | %.1f ms, in second %.0f of the run |\n", r.P99PerSecondMaxMs, r.P99PerSecondMaxAt)
	}
	if l := r.Connecting; l != nil {
		w("| connect + handshake (ms) | p50 %.1f · p95 %.1f · p99 %.1f · max %.1f |\n", l.P50, l.P95, l.P99, l.Max)
	}
	if h := r.Heartbeat; h != nil {
		w("| longest silence at any connection (heartbeat every %g s, bound %g s) | %.1f s |\n", h.EverySeconds, h.BoundSeconds, h.LongestSilenceMs/1000)
		if q := h.Silence; q != nil {
			w("| longest silence per connection (ms) | p50 %.0f · p95 %.0f · p99 %.0f · max %.0f (%s samples) |\n", q.P50, q.P95, q.P99, q.Max, num(int64(q.Samples)))
		}
		w("| heartbeat comments received · idle drops | %s · %s |\n", num(h.Keepalives), num(h.IdleDrops))
	}
	if !r.publishesNothing() || r.Messages.Received > 0 {
		w("| messages received | %s (%s/s while all open) |\n", num(r.Messages.Received), num(int64(r.Messages.ReceivedPerSecond)))
	}
	w("| messages sent by clients | %s |\n", num(r.Messages.Sent))
	m := r.Memory
	w("| client RSS (%d k6) | %s MiB = %.0f B/conn |\n", m.ClientProcesses, mib(m.ClientRSSBytes), m.ClientBytesPerConn)
	switch {
	case r.Target != nil:
		// The target's own section says it, measured or not.
	case m.ServerBaselineBytes > 0:
		w("| server RSS (%d servers) | %s MiB = %.0f B/conn; %.0f B/conn above the %s MiB they held before the first connection |\n",
			m.ServerProcesses, mib(m.ServerRSSBytes), m.ServerBytesPerConn, m.ServerBytesPerConnAboveBaseline, mib(m.ServerBaselineBytes))
	default:
		w("| server RSS (%d servers) | %s MiB = %.0f B/conn |\n", m.ServerProcesses, mib(m.ServerRSSBytes), m.ServerBytesPerConn)
	}
	w("| RSS growth over the hold | client %+.1f%% · server %+.1f%% (%d s plateau) |\n",
		m.ClientGrowthPct, m.ServerGrowthPct, m.PlateauSeconds)
	w("| RSS slope over the hold (least squares) | client %s/min · server %s/min |\n",
		signedBytes(m.ClientSlopeBytesPerMin), signedBytes(m.ServerSlopeBytesPerMin))
	if sv := r.Servers; sv != nil {
		rejected := int64(0)
		for _, n := range sv.Rejected {
			rejected += n
		}
		w("| server: connections accepted · rejected | %s · %s %s |\n", num(sv.Accepted), num(rejected), byKey(sv.Rejected))
		if !r.publishesNothing() || sv.Notifications > 0 || sv.MessagesQueued > 0 {
			w("| server: rows notified · messages queued | %s · %s |\n", num(sv.Notifications), num(sv.MessagesQueued))
		}
		w("| server: slow-client drops · ping timeouts | %s · %s |\n", num(sv.SlowClientDrops), num(sv.PingTimeouts))
		if q := sv.InsertToQueue; q != nil {
			w("| server: insert → queued to all (ms, bucket bound) | p50 %s · p95 %s · p99 %s (%s rows × servers) |\n",
				q.Bound(q.P50), q.Bound(q.P95), q.Bound(q.P99), num(q.Count))
		}
		if h := sv.Hold; h != nil && h.Connections > 0 {
			per := func(v int64) float64 { return float64(v) / float64(h.Connections) }
			w("| server memory while %s held (Go runtime) | RSS %.0f B/conn = heap in use %.0f + goroutine stacks %.0f + other; %.2f goroutines/conn |\n",
				num(h.Connections), per(h.RSSBytes), per(h.HeapInuseBytes), per(h.StackInuseBytes), per(h.Goroutines))
		}
	}
	if mm := r.Machine; mm != nil {
		pg := mib(mm.PostgresPSS) + " MiB"
		if mm.PostgresPSS < 0 {
			pg = "not measured"
		}
		w("| machine memory at its peak (%s open) | used %s of %s MiB: k6 %s · servers %s · PostgreSQL %s (PSS) · kernel TCP buffers %s MiB (%s sockets); the rest is kernel socket structures, page cache and other processes |\n",
			num(mm.Open), mib(mm.Used), mib(mm.Total), mib(mm.K6RSS), mib(mm.ServerRSS), pg, mib(mm.KernelTCP), num(mm.TCPInUse))
		if mm.ConntrackMax > 0 {
			w("| nf_conntrack entries (peak / max) | %s / %s |\n", num(mm.ConntrackPeak), num(mm.ConntrackMax))
		}
	}
	w("\n")
	w("RSS is user-space memory (VmRSS from /proc, sampled every second); the kernel's socket memory (~10 KB per loopback connection, both ends) is not in it.\n\n")
}

// transportLabel names the transport after the scenario: " over SSE".
func transportLabel(t string) string {
	switch t {
	case "ws":
		return " over WebSocket"
	case "sse":
		return " over SSE (EventSource)"
	case "":
		return ""
	}
	return " over " + t
}

// signedBytes writes a rate of bytes with its sign in KiB or MiB.
func signedBytes(b float64) string {
	switch a := math.Abs(b); {
	case a >= 1<<20:
		return fmt.Sprintf("%+.1f MiB", b/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%+.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%+.0f B", b)
}
