package fleet

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/freeport"
)

// ServerProfileFile is the CPU profile of one server taken during the hold.
const ServerProfileFile = "cpu-server-00.pprof"

// Profile groups: where a server's CPU goes.
const (
	groupWrite    = "kernel: socket writes (write syscalls)"
	groupSyscall  = "kernel: other syscalls (read, epoll, futex, ...)"
	groupGC       = "Go GC (mark, sweep, assists)"
	groupGWS      = "gws framing (github.com/lxzan/gws)"
	groupHub      = "hub fan-out (server/hub)"
	groupOther    = "other (runtime scheduler, net/http, JSON, ...)"
	profileTopN   = 15
	writeSearchIn = 6 // frames above a syscall searched for the write that made it
)

// runtime functions that are a system call themselves: the kernel's time
// in them is charged to them.
var runtimeSyscalls = map[string]bool{
	"runtime.futex": true, "runtime.epollwait": true, "runtime.usleep": true, "runtime.nanosleep": true,
	"runtime.madvise": true, "runtime.mmap": true, "runtime.munmap": true, "runtime.osyield": true,
	"runtime.write1": true, "runtime.read": true, "runtime.tgkill": true, "runtime.rtsigprocmask": true,
	"runtime.sysMmap": true, "runtime.sysMunmap": true, "runtime.timer_settime": true,
}

// gcRoots are the functions under which every sample is the garbage
// collector's work.
var gcRoots = []string{
	"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge",
	"runtime.gcStart", "runtime.markroot", "runtime.sweepone", "runtime.gcDrain",
}

func isSyscallFunc(name string) bool {
	// internal/runtime/syscall/linux.Syscall6 in Go 1.26; the older
	// runtime/internal/syscall before it.
	for _, p := range []string{"syscall.", "internal/runtime/syscall", "runtime/internal/syscall", "golang.org/x/sys/unix."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return runtimeSyscalls[name]
}

// classify puts one sample, by its stack (leaf first), in a group.
func classify(stack []string) string {
	if len(stack) == 0 {
		return groupOther
	}
	for _, f := range stack {
		if slices.Contains(gcRoots, f) {
			return groupGC
		}
	}
	leaf := stack[0]
	switch {
	case isSyscallFunc(leaf):
		for _, f := range stack[:min(len(stack), writeSearchIn)] {
			if strings.Contains(strings.ToLower(f), "write") {
				return groupWrite
			}
		}
		return groupSyscall
	case strings.HasPrefix(leaf, "github.com/lxzan/gws"):
		return groupGWS
	case strings.HasPrefix(leaf, "github.com/massconn/massconn/server/hub"):
		return groupHub
	}
	return groupOther
}

// summariseProfile reads a Go CPU profile and says where its CPU went.
func summariseProfile(r io.Reader) (*report.Profile, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("parse CPU profile: %w", err)
	}
	vi := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, fmt.Errorf("not a CPU profile: sample types %v", p.SampleType)
	}
	if p.SampleType[vi].Unit != "nanoseconds" {
		return nil, fmt.Errorf("CPU profile in %q, want nanoseconds", p.SampleType[vi].Unit)
	}
	out := &report.Profile{Seconds: time.Duration(p.DurationNanos).Seconds()}
	var total int64
	flat := map[string]int64{}
	cum := map[string]int64{}
	groups := map[string]int64{}
	groupOf := map[string]string{}
	for _, s := range p.Sample {
		v := s.Value[vi]
		out.Samples += s.Value[0]
		total += v
		var stack []string
		for _, loc := range s.Location {
			// Inlined functions come first in a location's lines.
			for _, ln := range loc.Line {
				if ln.Function != nil {
					stack = append(stack, ln.Function.Name)
				}
			}
		}
		g := classify(stack)
		groups[g] += v
		if len(stack) > 0 {
			flat[stack[0]] += v
			if _, ok := groupOf[stack[0]]; !ok {
				groupOf[stack[0]] = g
			}
		}
		seen := map[string]bool{}
		for _, f := range stack {
			if !seen[f] {
				seen[f] = true
				cum[f] += v
			}
		}
	}
	out.CPUSeconds = time.Duration(total).Seconds()
	if total == 0 {
		return out, nil
	}
	pct := func(v int64) float64 { return 100 * float64(v) / float64(total) }
	for _, name := range []string{groupWrite, groupSyscall, groupGWS, groupHub, groupGC, groupOther} {
		out.Groups = append(out.Groups, report.ProfileGroup{Name: name, Pct: pct(groups[name]), Seconds: time.Duration(groups[name]).Seconds()})
	}
	names := make([]string, 0, len(flat))
	for n := range flat {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(flat[b], flat[a]), cmp.Compare(a, b)) })
	for _, n := range names[:min(len(names), profileTopN)] {
		out.Top = append(out.Top, report.ProfileFunc{Name: n, FlatPct: pct(flat[n]), CumPct: pct(cum[n]), Group: groupOf[n]})
	}
	return out, nil
}

// fetchProfile takes a CPU profile of d from a server's pprof listener
// into path.
func fetchProfile(ctx context.Context, pprofAddr string, d time.Duration, path string) error {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, max(1, int(d.Round(time.Second).Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile from %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("CPU profile from %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("CPU profile from %s: %w", url, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	return nil
}

// readServerProfile summarises the profile in dir, if one was taken.
func readServerProfile(dir string) (*report.Profile, error) {
	path := filepath.Join(dir, ServerProfileFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := summariseProfile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.File = path
	return p, nil
}

// profiler is the run's one server CPU profile, taken during the hold.
type profiler struct {
	addr     string // the profiled server's pprof listener; "" = none
	notTaken string
	length   time.Duration
	done     chan struct{} // closed when the profile request ended; nil before it started
	err      error
	path     string
}

// planProfile gives server 0 a pprof listener when a profile is asked
// for and the server binary has --pprof.
func (r *localRun) planProfile() {
	if r.cfg.Profile <= 0 {
		r.prof.notTaken = "not asked for (--profile 0)"
		return
	}
	help, _ := exec.Command(r.cfg.Server, "serve", "-h").CombinedOutput()
	if !strings.Contains(string(help), "-pprof") {
		r.prof.notTaken = r.cfg.Server + " has no --pprof flag (an older build?)"
		r.logf("no server profile: %s", r.prof.notTaken)
		return
	}
	port, err := freeport.Loopback()
	if err != nil {
		r.prof.notTaken = fmt.Sprintf("no free port for the pprof listener: %v", err)
		return
	}
	r.prof.addr = fmt.Sprintf("127.0.0.1:%d", port)
	r.plan.Servers[0].Extra = append(r.plan.Servers[0].Extra, "--pprof", r.prof.addr)
}

// startProfile starts the CPU profile of server 0, as the hold settles,
// for --profile or what remains of the hold if that is shorter.
func (r *localRun) startProfile() {
	if r.prof.addr == "" || r.prof.done != nil {
		return
	}
	length := r.cfg.Profile
	if hold, err := time.ParseDuration(r.cfg.Duration); err == nil {
		// The hold window starts ~5 s after the last connection opened;
		// keep a progress sample's margin before the first closes.
		length = min(length, hold-8*time.Second)
	}
	if length < 2*time.Second {
		r.prof.notTaken = fmt.Sprintf("the hold (%s) is too short to profile", r.cfg.Duration)
		r.logf("no server profile: %s", r.prof.notTaken)
		r.prof.addr = ""
		return
	}
	r.prof.length = length
	r.prof.path = filepath.Join(r.serverDir, ServerProfileFile)
	r.prof.done = make(chan struct{})
	r.logf("CPU profile of server %s for %v (--profile 0 to skip)", r.plan.Servers[0].Listen, length)
	go func() {
		defer close(r.prof.done)
		r.prof.err = fetchProfile(r.runCtx, r.prof.addr, length, r.prof.path)
	}()
}

// waitProfile waits for a profile in progress (before the servers stop).
func (r *localRun) waitProfile() {
	if r.prof.done != nil {
		<-r.prof.done
	}
}

// profileResult is the summary for the report, or why there is none.
func (r *localRun) profileResult() *report.Profile {
	switch {
	case r.prof.notTaken != "":
		return &report.Profile{NotTaken: r.prof.notTaken}
	case r.prof.done == nil:
		return &report.Profile{NotTaken: "the hold never settled with every connection open"}
	case r.prof.err != nil:
		return &report.Profile{NotTaken: r.prof.err.Error()}
	}
	p, err := readServerProfile(r.serverDir)
	if err != nil {
		return &report.Profile{NotTaken: err.Error()}
	}
	p.Server = r.plan.Servers[0].Listen
	if rel, err := filepath.Rel(r.cfg.Out, p.File); err == nil {
		p.File = rel
	}
	return p
}
