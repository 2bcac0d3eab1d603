package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/procfs"
	"github.com/massconn/massconn/internal/tempdb"
)

// Scenarios are the k6scripts a fleet run knows, by name.
var Scenarios = []string{"capacity", "arrival", "fanout", "soak", "baseline-stock", HeartbeatScenario}

// RunConfig is a whole run on this machine: Postgres, servers, insert loop,
// k6 parts, merge.
type RunConfig struct {
	Scenario    string
	ScriptDir   string // directory holding <scenario>.js
	Connections int64
	Duration    string // hold time given to the script as DURATION
	Out         string // results directory
	DatabaseURL string // empty: a throwaway cluster for the run
	Parts       int    // 0 = automatic
	Servers     int    // 0 = automatic
	BasePort    int
	K6          string
	Server      string
	// Transport is how the parts connect: TransportWS (ws:// to /ws) or
	// TransportSSE (http:// to /sse); "" = the scenario's or the
	// targets' (resolveTransport).
	Transport Transport
	// Heartbeat is the heartbeat scenario's interval: the servers'
	// --sse-heartbeat, and the bound on every connection's silence
	// (plus HeartbeatSlack); 0 = DefaultHeartbeat.
	Heartbeat time.Duration

	InsertEvery time.Duration
	InsertCount int  // 0 = until the run ends
	InsertAfter bool // start inserting once every connection is open (or connecting stalled)
	// P99Bound is the fan-out p99 the verdict allows (0 = DefaultP99Bound).
	P99Bound time.Duration
	// Rate is connection attempts per second for the whole fleet, shared
	// by the parts (each paces its share: RATE × its connections / total);
	// 0 = unpaced, < 0 = AutoRate.
	Rate float64
	// ServerArgs are more command-line arguments for every server process,
	// after the fleet's own (e.g. --ping-interval 120s: at a million
	// connections the default 30 s pings are a large share of 2 cores).
	ServerArgs []string

	// NoFloor skips measuring the machine's floor before the load
	// (internal/floor, a few seconds); the report's CPU windows remain.
	NoFloor bool
	// Profile is how long one server's CPU profile during the hold lasts
	// (its --pprof listener); 0 = none.
	Profile time.Duration

	// Targets, when given, are someone else's WebSocket URLs (ws:// or
	// wss://) the parts connect to instead of our servers: no database,
	// servers or insert loop; Publish makes the messages. TargetPIDs are
	// the target's processes on this machine to measure (with their
	// descendants); without them the report says the target's side was
	// not measured.
	Targets    []string
	TargetPIDs []int
	Publish    publish.Config

	Env      []string  // more KEY=VALUE for every part's script
	Progress io.Writer // progress lines and the final figures
	Command  string    // for the report
}

// Run runs one scenario on this machine and writes the merged report into
// cfg.Out: database, servers, insert loop, k6 parts, progress until the
// parts end, teardown, merge. Whatever a phase started is stopped on the
// way out, also when a later phase fails.
func Run(ctx context.Context, cfg RunConfig) (*report.Report, error) {
	r, err := newLocalRun(cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if r.againstTarget() {
		r.measureFloor(ctx)
		if err := r.startTarget(ctx); err != nil {
			return nil, err
		}
	} else {
		if err := r.startDatabase(ctx); err != nil {
			return nil, err
		}
		r.measureFloor(ctx)
		if err := r.startServers(ctx); err != nil {
			return nil, err
		}
	}
	// The run proper, ended by teardown once the parts are done.
	r.runCtx, r.cancelRun = context.WithCancel(ctx)
	r.startMessages()
	r.startParts()
	r.watchProgress()
	problems, err := r.teardown(ctx)
	if err != nil {
		return nil, err
	}
	return r.merge(problems)
}

// localRun is one Run in progress: each phase leaves what the next needs
// here, and close undoes what teardown did not.
type localRun struct {
	cfg       RunConfig
	plan      Plan
	script    string
	transport Transport
	out       io.Writer // progress; io.Discard when cfg.Progress is nil
	partsDir  string
	serverDir string
	machine   *machineSampler

	// startDatabase
	pg    *tempdb.Cluster // nil when cfg.DatabaseURL is used
	dbURL string

	// measureFloor; the CPU windows that go next to it
	floor *report.Floor
	cpu   cpuPhases
	prof  profiler

	// startServers
	sampler      *RSSSampler
	servers      []*serverProc
	serverPIDs   []int
	stopSampling context.CancelFunc
	sampling     sync.WaitGroup

	// the run proper: cancelled once the parts have ended
	runCtx    context.Context
	cancelRun context.CancelFunc
	messages  messageSource // the insert loop, or the publisher against a target
	parts     *partGroup

	// against a target: its addresses, and the publisher
	targetAddrs []netip.AddrPort
	publisher   *publishLoop
}

// againstTarget says whether the run is against someone else's server.
func (r *localRun) againstTarget() bool { return len(r.cfg.Targets) > 0 }

// newLocalRun checks the configuration, plans the fleet, creates the
// results directory with plan.json, and runs the preflight.
func newLocalRun(cfg RunConfig) (*localRun, error) {
	if !slices.Contains(Scenarios, cfg.Scenario) {
		return nil, fmt.Errorf("scenario %q unknown: use one of %s", cfg.Scenario, strings.Join(Scenarios, ", "))
	}
	script := filepath.Join(cfg.ScriptDir, cfg.Scenario+".js")
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("script for scenario %s: %w (set --scripts to the k6scripts directory)", cfg.Scenario, err)
	}
	transport, err := resolveTransport(cfg.Transport, cfg.Scenario, cfg.Targets)
	if err != nil {
		return nil, err
	}
	if cfg.Scenario == HeartbeatScenario && cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	targetAddrs, err := checkTargetRun(cfg)
	if err != nil {
		return nil, err
	}
	bins := map[string]string{"--k6": cfg.K6, "--server": cfg.Server}
	if len(cfg.Targets) > 0 {
		delete(bins, "--server") // no server of ours runs
	}
	for name, bin := range bins {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s %q: %w (run `make build`)", name, bin, err)
		}
	}
	nofile, err := procfs.OpenFileLimit(0)
	if err != nil {
		return nil, err
	}
	plan, err := NewPlan(PlanConfig{
		Connections: cfg.Connections, Parts: cfg.Parts, Servers: cfg.Servers,
		PerProcess: PerProcessLimit(nofile), BasePort: cfg.BasePort,
		Transport: transport,
	})
	if err != nil {
		return nil, err
	}
	r := &localRun{cfg: cfg, plan: plan, script: script, transport: transport, out: cfg.Progress, machine: &machineSampler{},
		cpu: cpuPhases{total: plan.Total}, targetAddrs: targetAddrs}
	r.applyTarget()
	if r.out == nil {
		r.out = io.Discard
	}
	r.partsDir = filepath.Join(cfg.Out, "parts")
	r.serverDir = filepath.Join(r.partsDir, "servers")
	if err := os.MkdirAll(r.serverDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", r.serverDir, err)
	}
	if err := writeJSON(filepath.Join(cfg.Out, "plan.json"), r.plan); err != nil {
		return nil, err
	}
	r.logf("%d %s connections as %d k6 process(es) against %s (open-file limit %d per process)",
		r.plan.Total, transport, len(r.plan.Parts), r.against(), nofile)

	changed, err := Preflight{Connections: plan.Total, MayRaise: mayRaise()}.Check()
	for _, c := range changed {
		r.logf("preflight: %s", c)
	}
	if err != nil {
		return nil, fmt.Errorf("preflight for %d connections on this machine:\n%w", plan.Total, err)
	}
	return r, nil
}

func (r *localRun) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "massconn-fleet: "+format+"\n", args...)
}

// partDir is where part i's files go.
func (r *localRun) partDir(i int) string {
	return filepath.Join(r.partsDir, fmt.Sprintf("part-%02d", i))
}

// startDatabase starts a throwaway cluster, or checks the one given, and
// migrates the schema.
func (r *localRun) startDatabase(ctx context.Context) error {
	r.dbURL = r.cfg.DatabaseURL
	if r.dbURL == "" {
		// Each server holds a listener and a small pool: size the cluster
		// for all of them (PostgreSQL's default of 100 fits about ten).
		maxConns := max(tempdb.DefaultMaxConnections, DBConnections(len(r.plan.Servers)))
		pg, err := tempdb.NewWithMaxConnections(maxConns)
		if err != nil {
			return fmt.Errorf("throwaway PostgreSQL (set DATABASE_URL to use your own): %w", err)
		}
		r.pg = pg
		r.dbURL = pg.URL()
		if pid, err := pg.PID(); err == nil {
			r.machine.pgPID = pid
		}
		r.logf("throwaway PostgreSQL at %s (max_connections %d for %d servers)", r.dbURL, maxConns, len(r.plan.Servers))
	} else if err := checkDatabase(ctx, r.dbURL, len(r.plan.Servers)); err != nil {
		return err
	}
	if o, err := exec.CommandContext(ctx, r.cfg.Server, "migrate", "--database-url", r.dbURL).CombinedOutput(); err != nil {
		return fmt.Errorf("massconn-server migrate: %w\n%s", err, o)
	}
	return nil
}

// startServers starts the servers, waits until each is ready and samples
// their RSS every second from then on.
func (r *localRun) startServers(ctx context.Context) error {
	sampler, err := NewRSSSampler(filepath.Join(r.serverDir, RSSFile))
	if err != nil {
		return err
	}
	r.planProfile()
	r.servers, err = startServers(ctx, r.cfg.Server, r.dbURL, r.plan.Servers, r.serverDir, r.serverExtraArgs())
	if err != nil {
		sampler.Close()
		return err
	}
	r.sampler = sampler
	r.noteKeepAlive(ctx)
	r.serverPIDs = make([]int, len(r.servers))
	for i, s := range r.servers {
		r.serverPIDs[i] = s.PID()
		sampler.Watch(r.serverPIDs[i], "server")
	}
	// The first sample, before any k6 starts, is the servers' start-up
	// memory the report subtracts for the cost per connection.
	sampler.Sample(time.Now())
	var sampleCtx context.Context
	sampleCtx, r.stopSampling = context.WithCancel(context.Background())
	r.sampling.Go(func() { sampler.Run(sampleCtx, time.Second, false) })
	return nil
}

// startParts starts every k6 part; r.parts.done closes when all have ended.
func (r *localRun) startParts() {
	plan := r.plan
	urls := strings.Join(plan.Parts[0].URLs, ",")
	rate := fleetRate(r.cfg.Rate, len(plan.Parts))
	userRate := slices.IndexFunc(r.cfg.Env, func(e string) bool { return strings.HasPrefix(e, "RATE=") })
	switch {
	case userRate >= 0:
		// -e RATE=N goes to the scripts as given, and the scripts pace by it.
		r.logf("admission: %s connection attempts/s for the whole fleet, from -e %s", strings.TrimPrefix(r.cfg.Env[userRate], "RATE="), r.cfg.Env[userRate])
	case rate > 0:
		r.logf("admission: %g connection attempts/s for the whole fleet, %.0f/s per k6 process (--rate to change, 0 = unpaced)",
			rate, rate/float64(len(plan.Parts)))
	}
	r.parts = &partGroup{
		results: make([]PartInfo, len(plan.Parts)),
		errs:    make([]error, len(plan.Parts)),
		done:    make(chan struct{}),
	}
	start := r.cpuSnapshot(0, 0, false)
	r.cpu.start = &start
	var wg sync.WaitGroup
	for i, p := range plan.Parts {
		args := []string{
			"-e", fmt.Sprintf("CONNECTIONS=%d", plan.Total),
			"-e", "URLS=" + urls,
			"-e", "LOCAL_ADDRS=" + strings.Join(p.LocalAddrs, ","),
			"-e", "INSERT_EVERY=" + r.messageEvery().String(),
		}
		args = append(args, r.targetEnv()...)
		args = append(args, r.heartbeatEnv()...)
		if r.cfg.Duration != "" {
			args = append(args, "-e", "DURATION="+r.cfg.Duration)
		}
		if userRate < 0 {
			args = append(args, "-e", fmt.Sprintf("RATE=%g", rate))
		}
		for _, e := range r.cfg.Env {
			args = append(args, "-e", e)
		}
		var echo io.Writer
		if len(plan.Parts) == 1 {
			echo = r.out // one process: k6's own progress is the progress
		}
		wg.Go(func() {
			r.parts.results[i], r.parts.errs[i] = RunPart(r.runCtx, PartConfig{
				K6: r.cfg.K6, Dir: r.partDir(i),
				Index: i, Parts: len(plan.Parts), Script: r.script, Args: args, Echo: echo,
				OnStart: r.parts.onStart,
			})
		})
	}
	go func() { wg.Wait(); close(r.parts.done) }()
}

// watchProgress prints a progress line every two seconds until the parts
// end; on the way it starts a waiting insert loop and takes the servers'
// memory snapshot while every connection is held.
func (r *localRun) watchProgress() {
	plan := r.plan
	t0 := time.Now()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	counter := r.openCounter()
	var best int64
	lastGain := time.Now()
	var allOpenAt time.Time
	holdSnapshot := false
	lastOpen, lastTick := int64(0), time.Now()
	for {
		select {
		case <-r.parts.done:
			return
		case <-tick.C:
		}
		open, stale := counter.total()
		if open > best {
			best, lastGain = open, time.Now()
		}
		// Inserts wait for every connection, or for connecting to stall
		// (some failed): the hold is what is measured, and a fan-out to
		// everyone already open would slow the rest of the ramp.
		if r.messages != nil && r.cfg.InsertAfter && (open >= plan.Total || (open > 0 && time.Since(lastGain) > 15*time.Second)) {
			r.messages.start()
		}
		if open >= plan.Total && stale == 0 && allOpenAt.IsZero() {
			allOpenAt = time.Now()
		}
		// One look at the servers' own memory accounting a few seconds
		// into the hold, when every connection is set up; the hold's CPU
		// window starts then too.
		settled := !allOpenAt.IsZero() && time.Since(allOpenAt) > 5*time.Second
		r.cpu.observe(r.cpuSnapshot(open, counter.sent(), stale > 0), settled)
		if !holdSnapshot && settled {
			holdSnapshot = true
			if err := saveServerMetrics(plan.Servers, r.serverDir, "hold-metrics"); err != nil {
				r.logf("%v (the report leaves out server memory while held)", err)
			}
			r.startProfile()
		}
		k6PIDs := r.parts.pids()
		r.machine.sample(open, k6PIDs, r.serverPIDs)
		r.logf("%s", progressLine(time.Since(t0), open, plan.Total, lastOpen, time.Since(lastTick), stale, len(plan.Servers),
			r.machine, pidsRSS(k6PIDs), r.serverRSSLabel()))
		lastOpen, lastTick = open, time.Now()
	}
}

// teardown, once the parts have ended: the servers' final counters, the
// insert loop stopped, the rows recorded for the delivery check, the
// servers stopped and the RSS log closed. It returns what went wrong with
// the insert loop, and the parts' errors.
func (r *localRun) teardown(ctx context.Context) ([]string, error) {
	if err := saveServerMetrics(r.plan.Servers, r.serverDir, "metrics"); err != nil {
		r.logf("%v (the report leaves out what the servers counted)", err)
	}
	r.waitProfile()
	r.cancelRun()
	var problems []string
	if r.messages != nil {
		problems = r.messages.stop()
	}
	if !r.againstTarget() {
		if err := RecordRows(ctx, r.dbURL, r.serverDir); err != nil {
			r.logf("%v (the verdict cannot check delivery)", err)
		}
	}
	if killed := stopAll(r.servers, serverStopGrace); len(killed) > 0 {
		r.logf("servers on %s did not exit %v after SIGTERM and were killed (see their logs)",
			strings.Join(killed, ", "), serverStopGrace)
	}
	if err := r.closeSampler(); err != nil {
		return nil, err
	}
	if err := errors.Join(r.parts.errs...); err != nil {
		return nil, err
	}
	return problems, nil
}

// closeSampler stops RSS sampling and closes its log (once).
func (r *localRun) closeSampler() error {
	if r.sampler == nil {
		return nil
	}
	r.stopSampling()
	r.sampling.Wait()
	err := r.sampler.Close()
	r.sampler = nil
	return err
}

// merge writes the report from the parts' and the servers' files.
func (r *localRun) merge(insertProblems []string) (*report.Report, error) {
	var dirs []string
	for i := range r.plan.Parts {
		dirs = append(dirs, r.partDir(i))
	}
	// Empty only for a heartbeat run against a target with no process
	// to measure: no rows, no publisher, no RSS.
	if entries, err := os.ReadDir(r.serverDir); err != nil || len(entries) > 0 {
		dirs = append(dirs, r.serverDir)
	}
	title := fmt.Sprintf("massconn %s: %d connections", r.cfg.Scenario, r.plan.Total)
	if r.againstTarget() {
		title += " to " + strings.Join(r.cfg.Targets, ", ")
	}
	return MergeToDir(r.cfg.Out, dirs, MergeOptions{
		Scenario: r.cfg.Scenario, Command: r.cfg.Command, Target: r.plan.Total,
		Title: title, TargetSide: r.targetSide(),
		P99Bound: r.cfg.P99Bound,
		Machine:  r.machine.result(), RunProblems: append(r.machine.limitProblems(), insertProblems...),
		Floor: r.floorResult(), Profile: r.profileResult(),
		// The stock-k6 baseline has no sequence check to judge delivery by;
		// the heartbeat scenario sends no rows.
		RequireDelivery: r.cfg.Scenario != "baseline-stock" && r.cfg.Scenario != HeartbeatScenario,
		Transport:       string(r.transport),
		Heartbeat:       r.heartbeatBound(),
	})
}

// close stops whatever is still running when Run returns early: the run's
// context, the servers (already stopped after a normal teardown), RSS
// sampling and the throwaway cluster.
func (r *localRun) close() {
	if r.cancelRun != nil {
		r.cancelRun()
	}
	stopAll(r.servers, serverStopGrace)
	_ = r.closeSampler()
	if r.publisher != nil {
		r.publisher.close()
	}
	if r.pg != nil {
		if err := r.pg.Stop(); err != nil {
			r.logf("stopping the throwaway PostgreSQL: %v", err)
		}
	}
}
