package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/fleet"
	"github.com/massconn/massconn/fleet/limit"
)

// searchFlags are run's flags for --scenario limit, the capacity search.
type searchFlags struct {
	start, step, max int64
	factor           float64
	hold             time.Duration
	slo              limit.SLO
	budget           budgetList
}

func registerSearchFlags(fs *flag.FlagSet) *searchFlags {
	f := &searchFlags{}
	fs.Int64Var(&f.start, "start", 0, "--scenario limit: connections of the first step; 0 = a quarter of what one k6 process may hold here")
	fs.Int64Var(&f.step, "step", 0, "--scenario limit: connections added each step (or --factor); neither = --factor 2")
	fs.Float64Var(&f.factor, "factor", 0, "--scenario limit: multiply the connections by this each step (above 1), instead of --step")
	fs.Int64Var(&f.max, "max", 0, "--scenario limit: connections of the last step; 0 = the load generator's budget on this machine (memory, ports, conntrack, open files)")
	fs.DurationVar(&f.hold, "step-hold", fleet.DefaultStepHold, "--scenario limit: how long each step holds its connections while a message goes out each --insert-every / --publish-every")
	fs.DurationVar(&f.slo.P99, "slo-p99", limit.DefaultSLOP99, "--scenario limit: the service level's fan-out p99 while every connection is open")
	fs.Int64Var(&f.slo.Failures, "slo-failures", limit.DefaultSLOFailures, "--scenario limit: failed plus dropped connections a step may have")
	fs.DurationVar(&f.slo.ConnectP95, "slo-connect-p95", limit.DefaultSLOConnectP95, "--scenario limit: the service level's connect time p95")
	fs.Var(&f.budget, "lg-budget", "--scenario limit: NAME=CONNECTIONS replaces what the search reads from this machine for one of the load generator's limits ("+
		strings.Join(fleet.BudgetNames, ", ")+"), e.g. the machine the load will really come from (repeatable)")
	return f
}

// config is the search's configuration from the flags; set are the flags
// given on the command line.
func (f *searchFlags) config(set map[string]bool, stdout io.Writer) (limit.Config, error) {
	cfg := limit.Config{Start: f.start, Step: f.step, Factor: f.factor, Max: f.max, SLO: f.slo}
	if !set["step"] && !set["factor"] {
		cfg.Factor = 2
	}
	if f.max == 0 {
		m := int64(0)
		for _, b := range fleet.LoadGeneratorBudget(f.budget) {
			if m == 0 || b.Connections < m {
				m = b.Connections
			}
		}
		cfg.Max = m
		fmt.Fprintf(stdout, "massconn-fleet limit: up to %d connections (the load generator's budget here); set --max to change\n", m)
	}
	if f.start == 0 {
		n, _, err := fleet.DefaultConnections()
		if err != nil {
			return cfg, err
		}
		cfg.Start = min(max(n/4, 1), max(cfg.Max, 1))
	}
	return cfg, cfg.Check()
}

// budgetList collects --lg-budget NAME=CONNECTIONS.
type budgetList map[string]int64

func (b *budgetList) String() string { return fmt.Sprint(map[string]int64(*b)) }
func (b *budgetList) Set(s string) error {
	name, v, ok := strings.Cut(s, "=")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || n < 0 || !slices.Contains(fleet.BudgetNames, name) {
		return fmt.Errorf("need NAME=CONNECTIONS (NAME one of %s), got %q", strings.Join(fleet.BudgetNames, ", "), s)
	}
	if *b == nil {
		*b = budgetList{}
	}
	(*b)[name] = n
	return nil
}

// searchOnly are the flags only the capacity search reads.
var searchOnly = []string{"start", "step", "factor", "max", "step-hold", "slo-p99", "slo-failures", "slo-connect-p95", "lg-budget"}

// checkSearchFlags refuses flags given to the wrong kind of run: the
// search's to a single run, a single run's count or hold to the search.
func checkSearchFlags(search bool, set map[string]bool) error {
	if search {
		for _, name := range []string{"connections", "duration"} {
			if set[name] {
				return fmt.Errorf("--%s is for one run: the capacity search's counts are --start, --step or --factor and --max, its hold --step-hold", name)
			}
		}
		return nil
	}
	for _, name := range searchOnly {
		if set[name] {
			return fmt.Errorf("--%s is for the capacity search: add --scenario limit", name)
		}
	}
	return nil
}

// runSearch runs the capacity search with run's configuration.
func runSearch(ctx context.Context, f *searchFlags, set map[string]bool, rc fleet.RunConfig, stdout io.Writer) (int, error) {
	cfg, err := f.config(set, stdout)
	if err != nil {
		return 2, err
	}
	r, err := fleet.Search(ctx, fleet.SearchConfig{Run: rc, Limit: cfg, StepHold: f.hold, Budget: f.budget})
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "\n%s\nFull report: %s/report.html (report.json, report.md; each step's report in %s/step-*)\n", r.Limit.Summary, rc.Out, rc.Out)
	return 0, nil
}

// setFlags are the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
