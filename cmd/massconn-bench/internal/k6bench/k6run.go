// Package k6bench holds the k6 benchmarks of massconn-bench (k6, k6-tls,
// steps, adapters): each runs k6 binaries one phase after another against
// servers it starts on this machine, reads k6's RSS and CPU from /proc while
// they run, and prints one report. This file is what they share: running
// one k6 phase with a deadline and a sampler, the idle baseline, the stock
// k6 build, the gws echo server and the readers of k6's outputs.
package k6bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/massconn/massconn/cmd/massconn-bench/internal/benchenv"
	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/launch"
	"github.com/massconn/massconn/internal/procfs"
	"github.com/massconn/massconn/internal/tempdb"
	"github.com/massconn/massconn/server/client"
)

// env, envSet and envInt read the benchmarks' environment (benchenv).
var (
	env    = benchenv.Or
	envSet = benchenv.OrSet
	envInt = benchenv.Int
)

// envInts reads several envInt at once into the pointers of vars.
func envInts(vars map[string]*int) error {
	for name, p := range vars {
		n, err := envInt(name, *p)
		if err != nil {
			return err
		}
		*p = n
	}
	return nil
}

// runBench is the life of one benchmark once its configuration is read: a
// bad configuration (configErr) exits 2 with its reason; otherwise measure
// runs with a work directory, SIGINT and SIGTERM cancelling ctx, and a
// failure exits 1 with the logs kept.
func runBench(name string, defaultTimeout int, configErr error, stderr io.Writer, measure func(context.Context, *bench) error) int {
	if configErr != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, configErr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(name, defaultTimeout, stderr)
	if err == nil {
		err = measure(ctx, b)
		b.finish(err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// startServer starts bin/massconn-server on a free port against a
// throwaway PostgreSQL and waits until it is ready (its listener
// connected); stop ends both.
func (b *bench) startServer(ctx context.Context, bin string, maxConns int) (listen string, srv *launch.Proc, stop func(), err error) {
	pg, err := tempdb.New()
	if err != nil {
		return "", nil, nil, fmt.Errorf("throwaway PostgreSQL: %w", err)
	}
	stop = func() { _ = pg.Stop() }
	port, err := freeport.Loopback()
	if err != nil {
		stop()
		return "", nil, nil, err
	}
	listen = fmt.Sprintf("127.0.0.1:%d", port)
	srv, err = launch.Start(launch.Spec{Name: "massconn-server", Log: b.path("server.log"), Bin: bin,
		Args: []string{"serve", "--listen", listen, "--database-url", pg.URL(),
			"--max-conns", strconv.Itoa(maxConns), "--log-level", "warn"}})
	if err != nil {
		stop()
		return "", nil, nil, err
	}
	stop = func() {
		_ = srv.Stop(15 * time.Second)
		_ = pg.Stop()
	}
	if err := srv.WaitHealthy(ctx, 60*time.Second, 200*time.Millisecond, func() (bool, error) {
		return client.New(listen, 0).Ready(ctx)
	}); err != nil {
		stop()
		return "", nil, nil, err
	}
	return listen, srv, stop, nil
}

// bench is what every phase of one benchmark run shares.
type bench struct {
	name    string        // "bench-k6", for messages
	work    string        // logs and summaries; kept when the run fails
	timeout time.Duration // K6_TIMEOUT: bound on every k6 run
	stderr  io.Writer
}

func newBench(name string, defaultTimeout int, stderr io.Writer) (*bench, error) {
	secs, err := envInt("K6_TIMEOUT", defaultTimeout)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "massconn-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	return &bench{name: name, work: work, timeout: time.Duration(secs) * time.Second, stderr: stderr}, nil
}

// finish removes the work directory after a successful run and keeps it,
// named, after a failed one.
func (b *bench) finish(err error) {
	if err != nil {
		fmt.Fprintf(b.stderr, "%s: failed; logs kept in %s\n", b.name, b.work)
		return
	}
	_ = os.RemoveAll(b.work)
}

func (b *bench) path(name string) string { return filepath.Join(b.work, name) }

// k6Run is one k6 process of a phase.
type k6Run struct {
	name  string   // log and summary file names
	bin   string   // k6 binary
	args  []string // `k6 run` arguments, script last
	env   []string
	every time.Duration // sampling interval (default 200 ms)
	// sample is called every interval with k6's pid while it runs.
	sample func(pid int)
}

// k6Result is what a phase reads after k6 has exited.
type k6Result struct {
	cpu time.Duration // user+sys of the k6 process, from its rusage
	log string        // its output
}

// run runs r to its end, bounded by the benchmark's K6_TIMEOUT (past it
// k6 is stopped with SIGTERM and the phase fails).
func (b *bench) run(ctx context.Context, r k6Run) (k6Result, error) {
	p, err := launch.Start(launch.Spec{Name: r.name + " k6 run", Log: b.path(r.name + ".log"), Bin: r.bin, Args: r.args, Env: r.env})
	if err != nil {
		return k6Result{}, err
	}
	every := r.every
	if every == 0 {
		every = 200 * time.Millisecond
	}
	deadline := time.After(b.timeout)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var stopped error
loop:
	for {
		if r.sample != nil {
			r.sample(p.PID())
		}
		select {
		case <-p.Exited():
			break loop
		case <-deadline:
			stopped = fmt.Errorf("k6 still running after %v (K6_TIMEOUT); stopped it", b.timeout)
			p.Signal(syscall.SIGTERM)
			deadline = nil
		case <-ctx.Done():
			stopped = ctx.Err()
			p.Signal(syscall.SIGTERM)
			<-p.Exited()
			break loop
		case <-tick.C:
		}
	}
	res := k6Result{cpu: p.CPU()}
	log, _ := os.ReadFile(p.Log)
	res.log = string(log)
	if err := p.Wait(context.Background()); err != nil || stopped != nil {
		return res, fmt.Errorf("%s run failed (%w); end of its log:\n%s", r.name, errors.Join(stopped, err), launch.LastLines(res.log, 30))
	}
	return res, nil
}

// idle runs script with one idle VU (IDLE_SECONDS=6) and returns k6's
// highest RSS in KiB and its CPU: the baseline "net" figures subtract.
func (b *bench) idle(ctx context.Context, bin, script string) (int64, time.Duration, error) {
	var peak int64
	res, err := b.run(ctx, k6Run{
		name: "idle", bin: bin, env: []string{"IDLE_SECONDS=6"},
		args:   []string{"run", "--quiet", "--no-summary", "--no-usage-report", script},
		sample: func(pid int) { peak = max(peak, rssKB(pid)) },
	})
	if err != nil {
		return 0, 0, fmt.Errorf("idle run of %s: %w", bin, err)
	}
	return peak, res.cpu, nil
}

// rssKB is VmRSS of pid in KiB, 0 once it is gone.
func rssKB(pid int) int64 {
	kb, err := procfs.VmRSS(pid)
	if err != nil {
		return 0
	}
	return kb
}

// k6Version is the k6 release both k6 binaries are built from: K6_VERSION
// (the Makefile passes it down) or else the one xk6-massconn/go.mod pins,
// the single source.
func k6Version() (string, error) {
	if v := os.Getenv("K6_VERSION"); v != "" {
		return v, nil
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "go.k6.io/k6")
	cmd.Dir = "xk6-massconn"
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("K6_VERSION is not set and go list -m go.k6.io/k6 in xk6-massconn failed (run from the repository root or set K6_VERSION): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// stockK6 returns the path of a stock k6 (no extension) of the same
// version: STOCK_K6 (default bin/k6-stock), built once with xk6 and cached.
func (b *bench) stockK6(ctx context.Context) (string, error) {
	path := env("STOCK_K6", "bin/k6-stock")
	version, err := k6Version()
	if err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, path, "version").Output(); err == nil && strings.Contains(string(out), version) {
		return path, nil
	}
	fmt.Fprintf(b.stderr, "%s: building stock k6 %s (no extension) into %s\n", b.name, version, path)
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	out, err := exec.CommandContext(ctx, env("XK6", "bin/xk6"), "build", version, "--output", tmp).CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("xk6 build %s: %w\n%s", version, err, launch.LastLines(string(out), 20))
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("stock k6: %w", err)
	}
	return path, nil
}

// echoServer is the gws echo server of massconn-engine-bench (-serve),
// built from xk6-massconn; it exits when its stdin closes.
type echoServer struct {
	proc            *launch.Proc
	wsPort, tlsPort string
}

// startEcho builds and starts the echo server with extra flags (-tls-dir
// DIR for a wss:// port too) and waits until it names its ports.
func (b *bench) startEcho(ctx context.Context, extra ...string) (*echoServer, error) {
	bin := b.path("engine-bench")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./engine/cmd/massconn-engine-bench")
	build.Dir = "xk6-massconn"
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build massconn-engine-bench: %w\n%s", err, out)
	}
	tls := slices.Contains(extra, "-tls-dir")
	return b.startPeer(ctx, launch.Spec{Name: "echo server", Log: b.path("echo.out"), Bin: bin,
		Args: append([]string{"-serve", "127.0.0.1:0"}, extra...)}, tls)
}

// startPeer starts an echo peer that prints "listening PORT" (and, with
// tls, "listening-tls PORT") once it accepts, and exits when its stdin
// closes; it waits for the port(s).
func (b *bench) startPeer(ctx context.Context, spec launch.Spec, tls bool) (*echoServer, error) {
	spec.Stdin = true
	p, err := launch.Start(spec)
	if err != nil {
		return nil, err
	}
	e := &echoServer{proc: p}
	err = p.WaitHealthy(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		out, _ := os.ReadFile(p.Log)
		e.wsPort = lineField(string(out), "listening")
		e.tlsPort = lineField(string(out), "listening-tls")
		return e.wsPort != "" && (!tls || e.tlsPort != ""), nil
	})
	if err != nil {
		_ = p.Stop(15 * time.Second)
		return nil, err
	}
	return e, nil
}

// lineField is the word after "key " on the first line that starts so.
func lineField(out, key string) string {
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, key+" "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// summary is k6's --summary-export: metric -> stat -> value.
type summary map[string]map[string]float64

func readSummary(path string) (summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read k6 summary: %w", err)
	}
	var s struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := summary{}
	for name, stats := range s.Metrics {
		out[name] = map[string]float64{}
		for k, v := range stats {
			if f, ok := v.(float64); ok {
				out[name][k] = f
			}
		}
	}
	return out, nil
}

// get is one metric's stat; a missing one is an error naming it (the
// script's k6 options must ask for it).
func (s summary) get(metric, stat string) (float64, error) {
	v, ok := s[metric][stat]
	if !ok {
		return 0, fmt.Errorf("k6 summary has no %s.%s", metric, stat)
	}
	return v, nil
}

// logInts reads NAME=NUMBER fields from the first line of log that holds
// marker (e.g. "BENCH open="): the figures the bench scripts print.
func logInts(log, marker string, names ...string) (map[string]int64, error) {
	i := strings.Index(log, marker)
	if i < 0 {
		return nil, fmt.Errorf("k6 log has no %q line; end of it:\n%s", marker, launch.LastLines(log, 20))
	}
	line, _, _ := strings.Cut(log[i:], "\n")
	out := map[string]int64{}
	for _, n := range names {
		m := regexp.MustCompile(`\b` + regexp.QuoteMeta(n) + `=([0-9]+)`).FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("k6 log line %q has no %s=", line, n)
		}
		out[n], _ = strconv.ParseInt(m[1], 10, 64)
	}
	return out, nil
}
