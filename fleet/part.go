package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Files a part writes into its directory; the merge reads them by these names.
const (
	PartInfoFile  = "part.json"
	SummaryFile   = "summary.json"
	MetricsFile   = "metrics.json.gz"
	DashboardFile = "dashboard.html"
	RSSFile       = "rss.csv"
	LogFile       = "k6.log"
)

// PartConfig is one k6 process of a fleet run.
type PartConfig struct {
	K6     string // path of k6 built with xk6-massconn
	Dir    string // where the part's files go; created if missing
	Index  int
	Parts  int
	Script string
	Args   []string // more `k6 run` arguments, e.g. "-e", "CONNECTIONS=200000"
	Host   string   // recorded in part.json; default os.Hostname

	SampleEvery time.Duration // RSS sampling interval (default 1s)
	Echo        io.Writer     // also copy k6's output here; nil = k6.log only
	OnStart     func(pid int) // called once k6 runs, e.g. to watch its memory
}

// PartInfo is part.json: what ran, where, and how it ended.
type PartInfo struct {
	Index    int       `json:"index"`
	Parts    int       `json:"parts"`
	Segment  string    `json:"segment"`
	Sequence string    `json:"sequence"`
	Host     string    `json:"host"`
	Script   string    `json:"script"`
	Args     []string  `json:"args"`
	K6PID    int       `json:"k6_pid"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	ExitCode int       `json:"exit_code"`
}

// K6RunArgs are the `k6 run` arguments of part index of parts: its segment of
// the sequence, and every output the merge reads, in dir.
func K6RunArgs(index, parts int, dir, script string, extra []string) ([]string, error) {
	if parts < 1 || index < 0 || index >= parts {
		return nil, fmt.Errorf("part index must be in 0..%d, got %d", parts-1, index)
	}
	segs := Segments(parts)
	args := []string{
		"run", "--no-usage-report",
		"--address", "", // no REST API: K processes on one host would fight over port 6565
		"--execution-segment", segs[index].String(),
		"--execution-segment-sequence", SequenceString(segs),
		"--summary-export", filepath.Join(dir, SummaryFile),
		"--out", "json=" + filepath.Join(dir, MetricsFile),
		// k6 splits VUs between segments too: the scripts run one VU per
		// process and need to know how many processes there are.
		"-e", fmt.Sprintf("FLEET_PARTS=%d", parts),
	}
	args = append(args, extra...)
	return append(args, script), nil
}

// K6Env is the environment that makes k6 export its web dashboard to dir
// without serving it (one port per process would collide), laid out by the
// massconn configuration RunPart writes there (DashboardConfigFile) and
// split by the tags its panels read.
func K6Env(dir string) []string {
	return []string{
		"K6_WEB_DASHBOARD=true",
		"K6_WEB_DASHBOARD_PORT=-1",
		"K6_WEB_DASHBOARD_PERIOD=1s",
		"K6_WEB_DASHBOARD_EXPORT=" + filepath.Join(dir, DashboardFile),
		"K6_WEB_DASHBOARD_TAGS=" + dashboardTags,
		"XK6_DASHBOARD_CONFIG=" + filepath.Join(dir, DashboardConfigFile),
	}
}

// loopsEnv gives the k6 processes of a fleet of several parts one event
// loop per core (MASSCONN_LOOPS, at most 4), unless the environment sets a
// count. The engine's default, one loop fewer than cores, is cheaper per
// message when one k6 process has the machine; beside as many servers on
// few cores, one loop per process got so little CPU that clients sent
// their upgrade requests after the servers' --handshake-timeout had
// closed their connections (see fleetHandshakeTimeout).
func loopsEnv(parts int, set string) []string {
	if parts <= 1 || set != "" {
		return nil
	}
	return []string{fmt.Sprintf("MASSCONN_LOOPS=%d", min(runtime.GOMAXPROCS(0), 4))}
}

// RunPart runs k6 for one part, sampling its RSS, and writes part.json. It
// returns the part's record; k6 failing its thresholds is in ExitCode, not
// an error. Cancelling ctx interrupts k6 the way Ctrl-C does, so it still
// writes its summary.
func RunPart(ctx context.Context, cfg PartConfig) (PartInfo, error) {
	info := PartInfo{Index: cfg.Index, Parts: cfg.Parts, Host: cfg.Host, Script: cfg.Script, Args: cfg.Args, ExitCode: -1}
	if info.Host == "" {
		info.Host, _ = os.Hostname()
	}
	args, err := K6RunArgs(cfg.Index, cfg.Parts, cfg.Dir, cfg.Script, cfg.Args)
	if err != nil {
		return info, err
	}
	segs := Segments(cfg.Parts)
	info.Segment, info.Sequence = segs[cfg.Index].String(), SequenceString(segs)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return info, fmt.Errorf("part %d: create %s: %w", cfg.Index, cfg.Dir, err)
	}
	if err := writeDashboardConfig(cfg.Dir); err != nil {
		return info, fmt.Errorf("part %d: %w", cfg.Index, err)
	}
	logf, err := os.Create(filepath.Join(cfg.Dir, LogFile))
	if err != nil {
		return info, fmt.Errorf("part %d: %w", cfg.Index, err)
	}
	defer logf.Close()
	sampler, err := NewRSSSampler(filepath.Join(cfg.Dir, RSSFile))
	if err != nil {
		return info, fmt.Errorf("part %d: %w", cfg.Index, err)
	}

	cmd := exec.CommandContext(ctx, cfg.K6, args...)
	cmd.Env = append(append(os.Environ(), K6Env(cfg.Dir)...), loopsEnv(cfg.Parts, os.Getenv("MASSCONN_LOOPS"))...)
	var out io.Writer = logf
	if cfg.Echo != nil {
		out = io.MultiWriter(logf, cfg.Echo)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute // k6 gets this long to write its summary after Ctrl-C

	info.Started = time.Now()
	if err := cmd.Start(); err != nil {
		sampler.Close()
		return info, fmt.Errorf("part %d: start %s: %w", cfg.Index, cfg.K6, err)
	}
	info.K6PID = cmd.Process.Pid
	sampler.Watch(info.K6PID, "k6")
	if cfg.OnStart != nil {
		cfg.OnStart(info.K6PID)
	}
	every := cfg.SampleEvery
	if every <= 0 {
		every = time.Second
	}
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sampler.Run(sampleCtx, every, false)
	}()

	waitErr := cmd.Wait()
	stopSampling()
	<-sampled
	info.Ended = time.Now()
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
		info.ExitCode = 0
	case errors.As(waitErr, &exitErr):
		info.ExitCode = exitErr.ExitCode()
	default:
		sampler.Close()
		return info, fmt.Errorf("part %d: k6: %w", cfg.Index, waitErr)
	}
	if err := sampler.Close(); err != nil {
		return info, fmt.Errorf("part %d: %w", cfg.Index, err)
	}
	if err := writeJSON(filepath.Join(cfg.Dir, PartInfoFile), info); err != nil {
		return info, fmt.Errorf("part %d: %w", cfg.Index, err)
	}
	return info, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil { //nolint:gosec // results are meant to be read
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// partGroup is the k6 parts of a run: their results and errors by index,
// and the pids of those started so far.
type partGroup struct {
	results []PartInfo
	errs    []error
	done    chan struct{} // closed once every part has ended

	mu     sync.Mutex
	k6PIDs []int
}

func (g *partGroup) onStart(pid int) {
	g.mu.Lock()
	g.k6PIDs = append(g.k6PIDs, pid)
	g.mu.Unlock()
}

func (g *partGroup) pids() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.k6PIDs)
}
