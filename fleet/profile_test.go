package fleet

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/massconn/massconn/fleet/report"
)

// syntheticProfile is a CPU profile whose samples have the given stacks
// (leaf first) and CPU nanoseconds.
func syntheticProfile(t *testing.T, samples map[string]int64) []byte {
	t.Helper()
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        10_000_000,
		DurationNanos: 10e9,
	}
	funcs := map[string]*profile.Function{}
	locs := map[string]*profile.Location{}
	loc := func(name string) *profile.Location {
		if l, ok := locs[name]; ok {
			return l
		}
		f := &profile.Function{ID: uint64(len(funcs) + 1), Name: name}
		funcs[name] = f
		p.Function = append(p.Function, f)
		l := &profile.Location{ID: uint64(len(locs) + 1), Line: []profile.Line{{Function: f}}}
		locs[name] = l
		p.Location = append(p.Location, l)
		return l
	}
	for stack, ns := range samples {
		s := &profile.Sample{Value: []int64{ns / 10_000_000, ns}}
		for _, name := range strings.Split(stack, ";") {
			s.Location = append(s.Location, loc(name))
		}
		p.Sample = append(p.Sample, s)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSummariseProfileGroupsByStack(t *testing.T) {
	const ms = 1_000_000
	b := syntheticProfile(t, map[string]int64{
		"internal/runtime/syscall/linux.Syscall6;syscall.RawSyscall6;syscall.write;github.com/massconn/massconn/server/hub.(*writer).flush": 400 * ms,
		"internal/runtime/syscall/linux.Syscall6;syscall.read;internal/poll.(*FD).Read;github.com/lxzan/gws.(*Conn).readMessage":            100 * ms,
		"runtime.futex;runtime.notesleep;runtime.stopm;runtime.schedule":                                                                    50 * ms,
		"runtime.scanobject;runtime.gcDrain;runtime.gcBgMarkWorker":                                                                         150 * ms,
		"github.com/lxzan/gws.maskXOR;github.com/lxzan/gws.(*Conn).genFrame":                                                                100 * ms,
		"github.com/massconn/massconn/server/hub.(*shard).publish;github.com/massconn/massconn/server/hub.(*Hub).Publish":                   150 * ms,
		"runtime.findRunnable;runtime.schedule":                                                                                             50 * ms,
	})
	p, err := summariseProfile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if p.CPUSeconds != 1 || p.Seconds != 10 || p.Samples != 100 {
		t.Errorf("totals: %.3f s CPU over %.1f s in %d samples", p.CPUSeconds, p.Seconds, p.Samples)
	}
	want := map[string]float64{groupWrite: 40, groupSyscall: 15, groupGC: 15, groupGWS: 10, groupHub: 15, groupOther: 5}
	sum := 0.0
	for _, g := range p.Groups {
		sum += g.Pct
		if math.Abs(g.Pct-want[g.Name]) > 1e-9 {
			t.Errorf("group %s: %.1f%%, want %.1f%%", g.Name, g.Pct, want[g.Name])
		}
	}
	if math.Abs(sum-100) > 1e-9 || len(p.Groups) != len(want) {
		t.Errorf("groups add up to %.1f%%: %+v", sum, p.Groups)
	}
	top := p.Top[0]
	if top.Name != "internal/runtime/syscall/linux.Syscall6" || math.Abs(top.FlatPct-50) > 1e-9 || math.Abs(top.CumPct-50) > 1e-9 {
		t.Errorf("top function %+v, want Syscall6 at 50%% flat", top)
	}
	var schedule *report.ProfileFunc
	for i := range p.Top {
		if p.Top[i].Name == "runtime.schedule" {
			schedule = &p.Top[i]
		}
	}
	// runtime.schedule is never a leaf: it has no flat share and is not
	// among the top functions by flat.
	if schedule != nil {
		t.Errorf("runtime.schedule listed with %+v", *schedule)
	}
	if _, err := summariseProfile(strings.NewReader("not a profile")); err == nil {
		t.Error("garbage parsed as a profile")
	}
}

// A profile the Go runtime writes parses, and its groups add up.
func TestSummariseARealGoProfile(t *testing.T) {
	var b bytes.Buffer
	if err := pprof.StartCPUProfile(&b); err != nil {
		t.Skipf("CPU profiling unavailable: %v", err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "spin"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for range 20000 {
		if _, err := f.WriteAt(buf, 0); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	pprof.StopCPUProfile()
	p, err := summariseProfile(&b)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, g := range p.Groups {
		sum += g.Pct
	}
	if p.Samples > 0 && math.Abs(sum-100) > 1e-6 {
		t.Errorf("groups add up to %.3f%%", sum)
	}
}

func TestProfileRendersInTheReport(t *testing.T) {
	r := &report.Report{Title: "t", Profile: &report.Profile{Server: "127.0.0.1:18080", File: "parts/servers/cpu-server-00.pprof",
		Seconds: 10, CPUSeconds: 4, Samples: 400,
		Groups: []report.ProfileGroup{{Name: groupWrite, Pct: 55, Seconds: 2.2}},
		Top:    []report.ProfileFunc{{Name: "internal/runtime/syscall.Syscall6", FlatPct: 50, CumPct: 50, Group: groupWrite}}}}
	md := report.Markdown(r)
	for _, want := range []string{"## Where a server's CPU goes", "(0.40 cores)", "| " + groupWrite + " | 55.0% | 2.20 s |",
		"| `internal/runtime/syscall.Syscall6` | 50.0% | 50.0% |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if html := report.HTML(r); !strings.Contains(html, "<code>internal/runtime/syscall.Syscall6</code>") {
		t.Error("html lacks the top function")
	}
	r.Profile = &report.Profile{NotTaken: "not asked for (--profile 0)"}
	if md := report.Markdown(r); !strings.Contains(md, "No server profile: not asked for (--profile 0).") {
		t.Errorf("markdown does not say why there is no profile:\n%s", md)
	}
}
