// Package limit is the capacity search's judgement: which connection
// count comes next, whether a step met the service level, and why the
// search stopped. It is a pure function of the steps measured so far and
// the load generator's budget, so every rule is tested without a run.
package limit

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

// The service level's defaults.
const (
	DefaultSLOP99        = time.Second
	DefaultSLOConnectP95 = 5 * time.Second
	DefaultSLOFailures   = 0
)

// What stopped the search, as report.Limit's limited_by says it.
const (
	ByTarget        = "target"
	ByLoadGenerator = "load generator"
)

// SLO is the service level every step is judged by.
type SLO struct {
	P99        time.Duration // fan-out p99 while every connection was open
	Failures   int64         // failed plus dropped connections a step may have
	ConnectP95 time.Duration
}

// Config is the search's steps and service level.
type Config struct {
	Start  int64
	Step   int64   // added each step; 0 with Factor
	Factor float64 // multiplied each step; 0 with Step
	Max    int64
	SLO    SLO
}

// Check says what is wrong with the configuration, in one line naming
// the flag and the fix.
func (c Config) Check() error {
	switch {
	case c.Start < 1:
		return fmt.Errorf("--start %d: the first step needs at least 1 connection", c.Start)
	case c.Max < 1:
		return fmt.Errorf("--max %d: the last step needs at least 1 connection", c.Max)
	case c.Start > c.Max:
		return fmt.Errorf("--start %d is above --max %d: lower --start or raise --max", c.Start, c.Max)
	case c.Step != 0 && c.Factor != 0:
		return errors.New("--step and --factor both given: steps either add --step connections or multiply by --factor")
	case c.Step < 0 || (c.Step == 0 && c.Factor == 0):
		return fmt.Errorf("--step %d: each step must add at least 1 connection (or give --factor above 1)", c.Step)
	case c.Factor != 0 && (c.Factor <= 1 || math.IsNaN(c.Factor) || math.IsInf(c.Factor, 0)):
		return fmt.Errorf("--factor %g: each step must grow, give a factor above 1 (e.g. --factor 2)", c.Factor)
	case c.SLO.P99 <= 0:
		return fmt.Errorf("--slo-p99 %v: the fan-out p99 bound must be above 0 (e.g. --slo-p99 1s)", c.SLO.P99)
	case c.SLO.ConnectP95 <= 0:
		return fmt.Errorf("--slo-connect-p95 %v: the connect p95 bound must be above 0 (e.g. --slo-connect-p95 5s)", c.SLO.ConnectP95)
	case c.SLO.Failures < 0:
		return fmt.Errorf("--slo-failures %d: give the failures a step may have, 0 or more", c.SLO.Failures)
	}
	return nil
}

// next is the step after n, capped at Max so that Max itself is tried; 0
// when n is Max already.
func (c Config) next(n int64) int64 {
	if n >= c.Max {
		return 0
	}
	var m int64
	if c.Factor != 0 {
		m = max(n+1, int64(math.Ceil(float64(n)*c.Factor)))
	} else {
		m = n + c.Step
	}
	return min(m, c.Max)
}

// Budget is the load generator's limits on this machine, each as the
// connections it allows.
type Budget []report.LimitBudget

// tightest is the smallest limit below n, if any.
func (b Budget) tightest(n int64) (report.LimitBudget, bool) {
	var worst report.LimitBudget
	found := false
	for _, l := range b {
		if l.Connections < n && (!found || l.Connections < worst.Connections) {
			worst, found = l, true
		}
	}
	return worst, found
}

// Decision is what the search does after the steps so far: run Next, or
// stop (Done) with Result.
type Decision struct {
	Next   int64
	Done   bool
	Result report.Limit
}

// Decide judges the steps measured so far (in order, each larger) and
// says what comes next. Each step's Broke is filled in.
func Decide(cfg Config, budget Budget, steps []report.LimitStep) Decision {
	res := report.Limit{
		SLO:    report.LimitSLO{FanoutP99Ms: ms(cfg.SLO.P99), Failures: cfg.SLO.Failures, ConnectP95Ms: ms(cfg.SLO.ConnectP95)},
		Budget: budget, Steps: steps,
	}
	for i := range steps {
		steps[i].Broke = Breaks(steps[i], cfg.SLO)
	}
	next := cfg.Start
	if n := len(steps); n > 0 {
		last := steps[n-1]
		if n > 1 {
			res.Holds = steps[n-2].Connections
		}
		if len(last.Broke) > 0 {
			return Decision{Done: true, Result: broke(res, last)}
		}
		res.Holds = last.Connections
		if next = cfg.next(last.Connections); next == 0 {
			res.Summary = fmt.Sprintf("holds %s: every step up to --max %s met the service level", num(res.Holds), num(cfg.Max))
			return Decision{Done: true, Result: res}
		}
	}
	if l, over := budget.tightest(next); over {
		by := ByLoadGenerator
		res.LimitedBy = &by
		res.LoadGenerator = fmt.Sprintf("%s: %s connections (%s), the next step needs %s", l.Name, num(l.Connections), l.Detail, num(next))
		res.Summary = fmt.Sprintf("holds %s; limited by the load generator: %s", num(res.Holds), res.LoadGenerator)
		return Decision{Done: true, Result: res}
	}
	return Decision{Next: next, Result: res}
}

// broke is the result of a search whose last step broke the service
// level: the target's limit, unless the load generator's CPU is what
// saturated.
func broke(res report.Limit, last report.LimitStep) report.Limit {
	what := strings.Join(last.Broke, "; ")
	if why, ok := LoadGeneratorSaturated(last); ok {
		by := ByLoadGenerator
		res.LimitedBy, res.LoadGenerator = &by, why
		res.Summary = fmt.Sprintf("holds %s; limited by the load generator: %s (at %s: %s)", num(res.Holds), why, num(last.Connections), what)
		return res
	}
	by, at := ByTarget, last.Connections
	res.LimitedBy, res.BreaksAt, res.BrokeOn = &by, &at, &what
	res.Summary = fmt.Sprintf("holds %s, breaks at %s: %s", num(res.Holds), num(at), what)
	return res
}

// Breaks lists what in one step broke the service level; none when it
// was met.
func Breaks(s report.LimitStep, slo SLO) []string {
	var out []string
	if bad := s.Failures + s.Drops; bad > slo.Failures {
		var parts []string
		if s.Failures > 0 {
			parts = append(parts, fmt.Sprintf("%s failures: %s", num(s.Failures), reasons(s.FailuresByReason)))
		}
		if s.Drops > 0 {
			parts = append(parts, fmt.Sprintf("%s drops: %s", num(s.Drops), reasons(s.DropsByCode)))
		}
		what := strings.Join(parts, ", ")
		if slo.Failures > 0 {
			what += fmt.Sprintf(" (> --slo-failures %d)", slo.Failures)
		}
		out = append(out, what)
	}
	if missing := s.Connections - s.Open - s.Failures; missing > 0 && s.Failures+s.Drops <= slo.Failures {
		out = append(out, fmt.Sprintf("%s of %s connections never opened", num(missing), num(s.Connections)))
	}
	if s.ConnectP95Ms > ms(slo.ConnectP95) {
		out = append(out, fmt.Sprintf("connect p95 %s > %s", seconds(s.ConnectP95Ms), seconds(ms(slo.ConnectP95))))
	}
	if s.FanoutP99Ms != nil && *s.FanoutP99Ms > ms(slo.P99) {
		out = append(out, fmt.Sprintf("fan-out p99 %s > %s", seconds(*s.FanoutP99Ms), seconds(ms(slo.P99))))
	}
	if s.FanoutP99Ms == nil && s.Failures+s.Drops <= slo.Failures {
		out = append(out, "no message arrived while every connection was open")
	}
	if s.PublishFailures > 0 {
		out = append(out, fmt.Sprintf("%s of %s publishes failed", num(s.PublishFailures), num(s.Publishes)))
	}
	if s.DeliveredRatio != nil && *s.DeliveredRatio < 1 {
		out = append(out, fmt.Sprintf("%.1f%% of messages delivered", 100**s.DeliveredRatio))
	}
	return out
}

// Saturation is the share of the machine's CPU at which it counts as
// saturated.
const Saturation = 0.9

// LoadGeneratorSaturated says whether a step that broke on time (fan-out
// or connect latency, or timeouts) did so on a machine whose CPU was
// saturated by something other than the target: k6, or other processes
// on the machine the load comes from. Then the load generator's side, not
// the target, is what ran out. A target that used the largest share of a
// saturated machine is the target's limit; refused or reset connections
// are the target's answer and always count against it.
func LoadGeneratorSaturated(s report.LimitStep) (string, bool) {
	if s.MachineCPUShare < Saturation || s.Drops > 0 {
		return "", false
	}
	for reason := range s.FailuresByReason {
		if !strings.Contains(strings.ToLower(reason), "timeout") {
			return "", false
		}
	}
	other := max(0, s.MachineCPUShare-s.K6CPUShare-s.TargetCPUShare)
	if s.TargetCPUShare >= s.K6CPUShare && s.TargetCPUShare >= other {
		return "", false
	}
	what := "k6's CPU"
	if other > s.K6CPUShare {
		what = "the machine's CPU, taken by other processes"
	}
	return fmt.Sprintf("%s: the machine was %.0f%% busy, k6 used %.0f%%, the target %.0f%%, the rest %.0f%%",
		what, 100*s.MachineCPUShare, 100*s.K6CPUShare, 100*s.TargetCPUShare, 100*other), true
}

// reasons renders counts by reason, largest first: "reset 300, timeout 12".
func reasons(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) == 1 {
		return keys[0]
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s", k, num(m[k]))
	}
	if len(parts) == 0 {
		return "reason not recorded"
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// seconds renders milliseconds as people read a latency bound: "2.4 s",
// "850 ms".
func seconds(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.3g s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// num renders a count with thousands separators.
func num(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + num(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
