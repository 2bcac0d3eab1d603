package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/massconn/massconn/fleet/publish"
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
	// TargetSide is what a run against someone else's server says about
	// it (nil for our servers).
	TargetSide *report.Target
	// Transport is how the parts connected (ws or sse), for the report;
	// "" = not said (a merge by hand).
	Transport string
	// Heartbeat is the heartbeat scenario's interval: the verdict checks
	// every connection's silence against it (plus HeartbeatSlack); 0 for
	// the other scenarios.
	Heartbeat time.Duration
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
			_, noPublished := os.Stat(filepath.Join(dir, publish.File))
			if rss == nil && len(proms) == 0 && noPublished != nil {
				return nil, fmt.Errorf("merge: %s has neither %s, %s, %s nor %s", dir, PartInfoFile, RSSFile, ServerMetricsGlob, publish.File)
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
	// Against a target, the publisher's record is what was published; its
	// failures fail the run.
	if pub, err := readPublished(serverDirs); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	} else if pub != nil {
		rows = pub.rows()
		if s := pub.Summary(); s != "" {
			opts.RunProblems = append(slices.Clone(opts.RunProblems), s)
		}
		if opts.TargetSide != nil {
			opts.TargetSide.Published, opts.TargetSide.PublishFailures = int64(len(pub.Published)), int64(len(pub.Failures))
		}
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
