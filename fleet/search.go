package fleet

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/massconn/massconn/fleet/limit"
	"github.com/massconn/massconn/fleet/report"
)

// The capacity search (--scenario limit): one whole fleet run (Run, the
// capacity scenario) per step of connections, the publisher or insert
// loop sending throughout each, every step measured from its own report
// and judged by fleet/limit, which says what comes next and why the
// search stops. Each step's report stays in its own directory; the
// search's report.json is the last step that held (or the first step,
// if none did) with the limit object added.

// SearchScenario is the scenario name of the capacity search.
const SearchScenario = "limit"

// DefaultStepHold is how long each step holds its connections.
const DefaultStepHold = 20 * time.Second

// SearchConfig is a capacity search.
type SearchConfig struct {
	// Run is every step's run; Connections, Duration and Out are the
	// search's to set.
	Run      RunConfig
	Limit    limit.Config
	StepHold time.Duration
	// Budget replaces what the search reads from this machine for the
	// limits named (open-files, ports, conntrack, memory), in connections:
	// e.g. the machine the load will really come from.
	Budget map[string]int64
}

// Search runs the capacity search and writes its report into cfg.Run.Out.
func Search(ctx context.Context, cfg SearchConfig) (*report.Report, error) {
	if err := cfg.Limit.Check(); err != nil {
		return nil, err
	}
	for name := range cfg.Budget {
		if !slices.Contains(BudgetNames, name) {
			return nil, fmt.Errorf("--lg-budget %s: unknown limit, use one of %s", name, strings.Join(BudgetNames, ", "))
		}
	}
	hold := cfg.StepHold
	if hold <= 0 {
		hold = DefaultStepHold
	}
	out := cfg.Run.Progress
	if out == nil {
		out = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(out, "massconn-fleet limit: "+format+"\n", args...) }
	budget := LoadGeneratorBudget(cfg.Budget)
	for _, b := range budget {
		logf("load generator budget: %s %d connections (%s)", b.Name, b.Connections, b.Detail)
	}
	start := time.Now()
	var steps []report.LimitStep
	var reports []*report.Report
	for {
		d := limit.Decide(cfg.Limit, budget, steps)
		if d.Done {
			d.Result.Seconds = time.Since(start).Seconds()
			logf("%s (%.0f s)", d.Result.Summary, d.Result.Seconds)
			return writeSearch(cfg, d.Result, reports)
		}
		n := d.Next
		rc := cfg.Run
		rc.Scenario, rc.Connections, rc.Duration = "capacity", n, hold.String()
		rc.Out = filepath.Join(cfg.Run.Out, fmt.Sprintf("step-%02d-%d", len(steps)+1, n))
		// The floor once, before the first step; no profile per step.
		rc.NoFloor = cfg.Run.NoFloor || len(steps) > 0
		rc.Profile = 0
		// The delivery check's window ends this long before the hold does
		// (a message published later may still be on its way): the SLO's
		// p99, but at most a third of the hold, so that a long SLO on a
		// short step still leaves messages to check. The search judges
		// the p99 by its own SLO (fleet/limit), not the step's verdict.
		rc.P99Bound = min(cfg.Limit.SLO.P99, hold/3)
		rc.Command = fmt.Sprintf("%s (step %d: %d connections)", cfg.Run.Command, len(steps)+1, n)
		logf("step %d: %d connections held %v", len(steps)+1, n, hold)
		t0 := time.Now()
		r, err := Run(ctx, rc)
		if err == nil && ctx.Err() != nil {
			// An interrupted step ends with a report of what it had: that
			// is no measurement of the target.
			err = fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		if err != nil {
			err = fmt.Errorf("step %d (%d connections): %w", len(steps)+1, n, err)
			if len(reports) > 0 {
				// What the steps before found is kept, said as unfinished.
				res := d.Result
				res.Seconds = time.Since(start).Seconds()
				res.Summary = fmt.Sprintf("unfinished: holds %d so far; %v", res.Holds, err)
				if _, werr := writeSearch(cfg, res, reports); werr != nil {
					logf("%v", werr)
				}
			}
			return nil, err
		}
		s := StepFrom(r, rc.Out, time.Since(t0))
		if br := limit.Breaks(s, cfg.Limit.SLO); len(br) > 0 {
			logf("step %d: %d connections broke the service level: %s", len(steps)+1, n, strings.Join(br, "; "))
		} else {
			logf("step %d: %d connections met the service level", len(steps)+1, n)
		}
		steps = append(steps, s)
		reports = append(reports, r)
	}
}

// writeSearch writes the search's report: the figures of the last step
// that held (else of the first step run), with the limit object.
func writeSearch(cfg SearchConfig, res report.Limit, reports []*report.Report) (*report.Report, error) {
	var r report.Report
	if len(reports) > 0 {
		r = *reports[0]
		for i, s := range res.Steps {
			if s.Connections == res.Holds {
				r = *reports[i]
			}
		}
	}
	if len(reports) > 0 {
		r.Started, r.Ended = reports[0].Started, reports[len(reports)-1].Ended
	}
	r.Scenario, r.Command, r.Limit = SearchScenario, cfg.Run.Command, &res
	r.Title = "massconn limit: " + res.Summary
	if err := report.Write(cfg.Run.Out, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// StepFrom is one step's measurements from its report.
func StepFrom(r *report.Report, dir string, took time.Duration) report.LimitStep {
	c := r.Connections
	s := report.LimitStep{
		Connections: c.Target, Open: c.PeakOpen, Failures: c.Failures, Drops: c.Drops,
		FailuresByReason: maps.Clone(c.FailureReason), DropsByCode: maps.Clone(c.DropCode),
		Seconds: took.Seconds(), Dir: dir,
	}
	if r.Connecting != nil {
		s.ConnectP95Ms = r.Connecting.P95
	}
	if l := r.Latency; l != nil && l.Count > 0 {
		p50, p99 := l.P50, l.P99
		s.FanoutP50Ms, s.FanoutP99Ms = &p50, &p99
	}
	if d := r.Delivery; d != nil && d.NotChecked == "" && d.Deliveries > 0 {
		ratio := 1.0
		if !d.Complete {
			// Every silent connection missed every message; each gap,
			// late start and early end at least one.
			missing := d.Silent*d.Rows + d.Gaps + d.StartedLate + d.EndedEarly
			ratio = max(0, 1-float64(missing)/float64(d.Deliveries))
		}
		s.DeliveredRatio = &ratio
	}
	if t := r.Target; t != nil {
		s.Publishes, s.PublishFailures = t.Published+t.PublishFailures, t.PublishFailures
		s.TargetRSSPerConn, s.TargetCPUPerConnUS = t.RSSBytesPerConn, t.CPUPerConnUS
	} else {
		s.TargetRSSPerConn = r.Memory.ServerBytesPerConn
		if f := r.Floor; f != nil && f.Connect != nil && f.Connect.Connections > 0 {
			s.TargetCPUPerConnUS = f.Connect.ServersCPU * 1e6 / float64(f.Connect.Connections)
		}
	}
	if f := r.Floor; f != nil {
		w := f.Hold
		if w == nil || w.Seconds <= 0 {
			w = f.Connect
		}
		if w != nil && w.Seconds > 0 && f.Cores > 0 {
			all := w.Seconds * float64(f.Cores)
			s.K6CPUShare, s.TargetCPUShare = w.K6CPU/all, w.ServersCPU/all
			s.MachineCPUShare = max(w.MachineBusy, 0) / all
		}
	}
	return s
}
