package limit

import (
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

func slo() SLO { return SLO{P99: time.Second, ConnectP95: 5 * time.Second} }

func ptr(v float64) *float64 { return &v }

// good is a step that met the default service level.
func good(n int64) report.LimitStep {
	return report.LimitStep{Connections: n, Open: n, ConnectP95Ms: 40, FanoutP50Ms: ptr(5), FanoutP99Ms: ptr(30), DeliveredRatio: ptr(1)}
}

func TestCheckNamesTheFlag(t *testing.T) {
	base := Config{Start: 1000, Step: 1000, Max: 5000, SLO: slo()}
	cases := []struct {
		name string
		edit func(*Config)
		flag string
	}{
		{"p99 zero", func(c *Config) { c.SLO.P99 = 0 }, "--slo-p99 0s"},
		{"start above max", func(c *Config) { c.Start = 6000 }, "--start 6000 is above --max 5000"},
		{"step zero", func(c *Config) { c.Step = 0 }, "--step 0"},
		{"factor one", func(c *Config) { c.Step, c.Factor = 0, 1 }, "--factor 1"},
		{"both", func(c *Config) { c.Factor = 2 }, "--step and --factor"},
		{"connect p95", func(c *Config) { c.SLO.ConnectP95 = -time.Second }, "--slo-connect-p95"},
		{"failures", func(c *Config) { c.SLO.Failures = -1 }, "--slo-failures -1"},
		{"start zero", func(c *Config) { c.Start = 0 }, "--start 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			err := c.Check()
			if err == nil || !strings.Contains(err.Error(), tc.flag) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Check() = %v, want one line naming %q", err, tc.flag)
			}
		})
	}
	if err := base.Check(); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
}

func TestStepsAddOrMultiplyAndEndAtMax(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []int64
	}{
		{Config{Start: 1000, Step: 1500, Max: 5000}, []int64{1000, 2500, 4000, 5000}},
		{Config{Start: 1000, Factor: 2, Max: 5000}, []int64{1000, 2000, 4000, 5000}},
		{Config{Start: 1, Factor: 1.1, Max: 3}, []int64{1, 2, 3}},
		{Config{Start: 7, Step: 1, Max: 7}, []int64{7}},
	} {
		tc.cfg.SLO = slo()
		var steps []report.LimitStep
		var got []int64
		for range 20 {
			d := Decide(tc.cfg, nil, steps)
			if d.Done {
				if d.Result.LimitedBy != nil || d.Result.BreaksAt != nil || d.Result.Holds != tc.cfg.Max {
					t.Errorf("%+v: result %+v, want holds --max and nothing limiting", tc.cfg, d.Result)
				}
				break
			}
			got = append(got, d.Next)
			steps = append(steps, good(d.Next))
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%+v: steps %v, want %v", tc.cfg, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%+v: steps %v, want %v", tc.cfg, got, tc.want)
			}
		}
	}
}

func TestBreakBlamesTheTargetAndSaysWhat(t *testing.T) {
	cfg := Config{Start: 1000, Step: 1000, Max: 10000, SLO: slo()}
	slow := good(3000)
	slow.FanoutP99Ms = ptr(2400)
	failed := good(3000)
	failed.Open, failed.Failures, failed.FailuresByReason = 2688, 312, map[string]int64{"reset": 312}
	dropped := good(3000)
	dropped.Drops, dropped.DropsByCode = 5, map[string]int64{"1006": 4, "1001": 1}
	connect := good(3000)
	connect.ConnectP95Ms = 6100
	lossy := good(3000)
	lossy.DeliveredRatio = ptr(0.972)
	unpublished := good(3000)
	unpublished.FanoutP99Ms, unpublished.Publishes, unpublished.PublishFailures = ptr(14159), 18, 1
	for _, tc := range []struct {
		step report.LimitStep
		want string
	}{
		{slow, "fan-out p99 2.4 s > 1 s"},
		{failed, "312 failures: reset"},
		{dropped, "5 drops: 1006 4, 1001 1"},
		{connect, "connect p95 6.1 s > 5 s"},
		{lossy, "97.2% of messages delivered"},
		{unpublished, "fan-out p99 14.2 s > 1 s; 1 of 18 publishes failed"},
	} {
		d := Decide(cfg, nil, []report.LimitStep{good(1000), good(2000), tc.step})
		r := d.Result
		if !d.Done || r.Holds != 2000 || r.BreaksAt == nil || *r.BreaksAt != 3000 || r.LimitedBy == nil || *r.LimitedBy != ByTarget ||
			r.BrokeOn == nil || *r.BrokeOn != tc.want {
			t.Errorf("result %+v (broke on %v), want holds 2000, breaks at 3000 on %q, limited by the target", r, deref(r.BrokeOn), tc.want)
		}
	}
}

func TestFailuresWithinTheSLOHold(t *testing.T) {
	cfg := Config{Start: 1000, Step: 1000, Max: 2000, SLO: slo()}
	cfg.SLO.Failures = 5
	s := good(1000)
	s.Open, s.Failures, s.FailuresByReason = 997, 3, map[string]int64{"timeout": 3}
	if d := Decide(cfg, nil, []report.LimitStep{s}); d.Done || d.Next != 2000 {
		t.Fatalf("decision %+v: 3 failures within --slo-failures 5 should go on to 2000", d)
	}
}

func TestFirstStepBreakingHoldsNothing(t *testing.T) {
	cfg := Config{Start: 1000, Step: 1000, Max: 2000, SLO: slo()}
	s := good(1000)
	s.Open, s.Failures, s.FailuresByReason = 0, 1000, map[string]int64{"refused": 1000}
	d := Decide(cfg, nil, []report.LimitStep{s})
	if !d.Done || d.Result.Holds != 0 || d.Result.BreaksAt == nil || *d.Result.BreaksAt != 1000 {
		t.Fatalf("result %+v: want holds 0, breaks at 1000", d.Result)
	}
}

func TestLoadGeneratorBudgetStopsBeforeTheStep(t *testing.T) {
	cfg := Config{Start: 1000, Step: 1000, Max: 10000, SLO: slo()}
	budget := Budget{
		{Name: "memory", Connections: 900000, Detail: "MemAvailable"},
		{Name: "ports", Connections: 2500, Detail: "ip_local_port_range"},
	}
	steps := []report.LimitStep{good(1000)}
	if d := Decide(cfg, budget, steps); d.Done || d.Next != 2000 {
		t.Fatalf("decision %+v: 2000 fits the budget", d)
	}
	d := Decide(cfg, budget, append(steps, good(2000)))
	r := d.Result
	if !d.Done || r.LimitedBy == nil || *r.LimitedBy != ByLoadGenerator || r.BreaksAt != nil || r.BrokeOn != nil || r.Holds != 2000 ||
		!strings.Contains(r.LoadGenerator, "ports: 2,500") || !strings.Contains(r.Summary, "limited by the load generator: ports") {
		t.Fatalf("result %+v: want holds 2000, limited by the load generator's ports, nothing blamed on the target", r)
	}
	// Not even the first step fits.
	d = Decide(Config{Start: 3000, Step: 1000, Max: 10000, SLO: slo()}, budget, nil)
	if !d.Done || d.Result.Holds != 0 || d.Result.LimitedBy == nil || *d.Result.LimitedBy != ByLoadGenerator {
		t.Fatalf("result %+v: the first step is over the budget", d.Result)
	}
}

func TestSaturatedLoadGeneratorIsNotBlamedOnTheTarget(t *testing.T) {
	cfg := Config{Start: 1000, Step: 1000, Max: 10000, SLO: slo()}
	slow := good(2000)
	slow.FanoutP99Ms = ptr(2400)
	slow.MachineCPUShare, slow.K6CPUShare, slow.TargetCPUShare = 0.97, 0.6, 0.3
	d := Decide(cfg, nil, []report.LimitStep{good(1000), slow})
	r := d.Result
	if !d.Done || r.LimitedBy == nil || *r.LimitedBy != ByLoadGenerator || r.BreaksAt != nil || !strings.Contains(r.LoadGenerator, "k6's CPU") {
		t.Fatalf("result %+v: want the load generator's CPU named, no break blamed on the target", r)
	}
	// Refused connections are the target's answer even on a busy machine.
	refused := slow
	refused.Failures, refused.FailuresByReason = 10, map[string]int64{"refused": 10}
	if d := Decide(cfg, nil, []report.LimitStep{good(1000), refused}); *d.Result.LimitedBy != ByTarget {
		t.Fatalf("result %+v: refusals are the target's", d.Result)
	}
	// A busy machine where the target used the most is the target's.
	busyTarget := slow
	busyTarget.K6CPUShare, busyTarget.TargetCPUShare = 0.28, 0.46
	if d := Decide(cfg, nil, []report.LimitStep{good(1000), busyTarget}); *d.Result.LimitedBy != ByTarget {
		t.Fatalf("result %+v: the target used the CPU", d.Result)
	}
	// A machine busy with other work: neither k6 nor the target, and not
	// blamed on the target.
	busyOther := slow
	busyOther.K6CPUShare, busyOther.TargetCPUShare = 0.02, 0.02
	d = Decide(cfg, nil, []report.LimitStep{good(1000), busyOther})
	if r := d.Result; *r.LimitedBy != ByLoadGenerator || r.BreaksAt != nil || !strings.Contains(r.LoadGenerator, "other processes") {
		t.Fatalf("result %+v: a machine busy with other processes is the load generator's side", r)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
