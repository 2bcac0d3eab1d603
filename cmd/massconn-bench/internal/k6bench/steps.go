package k6bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/internal/launch"
)

const stepsDoc = `Environment: STEPS_CONNS (18000), HOLD_MS (15000), RSS_MODES ("none ten"; also "templates": every connection its own user from ROWS data rows, "static": the same URL, header and message without variables), RTT_CONNS (10000), RTT_DURATION (30s), CHURN_CONNS (10000),
CHURN_RATE (3000), CHURN_HOLD_MS (20000), CHURN_MAX_IN_FLIGHT (1000), LOCAL_ADDRS (127.0.0.1-4), PHASES ("rss rtt churn"),
K6_TIMEOUT (240), K6 (bin/k6), MASSCONN_SERVER (bin/massconn-server), WSPEER_DIR (xk6-massconn/engine/testdata/wspeer).
`

type stepsConfig struct {
	k6, server, peerDir           string
	stepsConns, holdMS            int
	rttConns                      int
	rttDuration                   string
	churnConns, churnRate         int
	churnHoldMS, churnMaxInFlight int
	localAddrs                    string
	phases                        []string
	rssModes                      []string
}

// rssModeArgs are the steps-hold.js settings of each RSS_MODES mode.
var rssModeArgs = map[string][]string{
	"none":      {"-e", "STEPS=none"},
	"ten":       {"-e", "STEPS=ten"},
	"templates": {"-e", "STEPS=none", "-e", "TEMPLATES=1"},
	"static":    {"-e", "STEPS=none", "-e", "TEMPLATES=static"},
}

func (c stepsConfig) phase(name string) bool {
	for _, p := range c.phases {
		if p == name {
			return true
		}
	}
	return false
}

// RunSteps is massconn-bench steps (make bench-steps): per-connection
// programs (steps) and churn (lifetime) in xk6-massconn, each phase short:
// k6 RSS per held connection to the npm ws echo peer, idle and running a
// ten-step program (net of one idle VU); massconn_rtt of k6scripts/rtt.js
// against the same peer; churn against bin/massconn-server: reconnects per
// second sustained, failures and drops. RSS is the highest of 10 samples
// (200 ms apart) taken once the script logs that every connection was
// attempted.
func RunSteps(args []string, stdout, stderr io.Writer) int {
	if done, code := usageOnly("steps", stepsDoc, args, stderr); done {
		return code
	}
	cfg := stepsConfig{
		k6: env("K6", "bin/k6"), server: env("MASSCONN_SERVER", "bin/massconn-server"),
		peerDir:    env("WSPEER_DIR", "xk6-massconn/engine/testdata/wspeer"),
		stepsConns: 18000, holdMS: 15000, rttConns: 10000, rttDuration: env("RTT_DURATION", "30s"),
		churnConns: 10000, churnRate: 3000, churnHoldMS: 20000, churnMaxInFlight: 1000,
		localAddrs: envSet("LOCAL_ADDRS", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"),
		phases:     strings.Fields(env("PHASES", "rss rtt churn")),
		rssModes:   strings.Fields(env("RSS_MODES", "none ten")),
	}
	err := envInts(map[string]*int{
		"STEPS_CONNS": &cfg.stepsConns, "HOLD_MS": &cfg.holdMS, "RTT_CONNS": &cfg.rttConns,
		"CHURN_CONNS": &cfg.churnConns, "CHURN_RATE": &cfg.churnRate, "CHURN_HOLD_MS": &cfg.churnHoldMS,
		"CHURN_MAX_IN_FLIGHT": &cfg.churnMaxInFlight,
	})
	for _, p := range cfg.phases {
		if err == nil && p != "rss" && p != "rtt" && p != "churn" {
			err = fmt.Errorf("PHASES=%q: use a subset of rss rtt churn", strings.Join(cfg.phases, " "))
		}
	}
	for _, m := range cfg.rssModes {
		if _, ok := rssModeArgs[m]; err == nil && !ok {
			err = fmt.Errorf("RSS_MODES=%q: use a subset of none ten templates static", strings.Join(cfg.rssModes, " "))
		}
	}
	if err == nil {
		err = checkBinaries(cfg.k6, cfg.server)
	}
	if _, statErr := os.Stat(filepath.Join(cfg.peerDir, "node_modules", "ws")); err == nil && statErr != nil {
		err = fmt.Errorf("run 'make %s/node_modules' first", cfg.peerDir)
	}
	return runBench("bench-steps", 240, err, stderr, func(ctx context.Context, b *bench) error { return b.steps(ctx, cfg, stdout) })
}

// fields reads metric.stat values from a summary, in order.
func (s summary) fields(paths ...string) ([]float64, error) {
	out := make([]float64, len(paths))
	var errs []error
	for i, p := range paths {
		k := strings.LastIndex(p, ".")
		v, err := s.get(p[:k], p[k+1:])
		out[i], errs = v, append(errs, err)
	}
	return out, errors.Join(errs...)
}

// stat prints a summary value as the script did: whole numbers as such,
// others with three decimals.
func stat(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func (b *bench) steps(ctx context.Context, cfg stepsConfig, stdout io.Writer) error {
	k6 := cfg.k6
	// The ws peer runs in its own directory, for its node_modules.
	peer, err := b.startPeer(ctx, launch.Spec{Name: "npm ws echo peer", Log: b.path("echo.out"), Bin: "node",
		Args: []string{"server.js", "0"}, Dir: cfg.peerDir}, false)
	if err != nil {
		return err
	}
	defer func() { _ = peer.proc.Stop(15 * time.Second) }()
	echoURL := "ws://127.0.0.1:" + peer.wsPort + "/"
	run := func(name string, sample func(pid int), args ...string) (summary, k6Result, error) {
		return b.stepsRun(ctx, k6, name, sample, args...)
	}

	if cfg.phase("rss") {
		idle, _, err := b.idle(ctx, k6, "k6scripts/bench/idle-massconn.js")
		if err != nil {
			return err
		}
		rss := map[string]int64{}
		for _, mode := range cfg.rssModes {
			name, samples := "hold-"+mode, 0
			log := b.path(name + ".log")
			_, res, err := run(name, func(pid int) {
				if samples >= 10 {
					return
				}
				if out, _ := os.ReadFile(log); strings.Contains(string(out), `msg="held`) {
					rss[mode] = max(rss[mode], rssKB(pid))
					samples++
				}
			}, append(rssModeArgs[mode], "-e", "WS_URL="+echoURL, "-e", "CONNS="+strconv.Itoa(cfg.stepsConns),
				"-e", "HOLD_MS="+strconv.Itoa(cfg.holdMS), "-e", "LOCAL_ADDRS="+cfg.localAddrs, "k6scripts/bench/steps-hold.js")...)
			if err != nil {
				return err
			}
			for _, m := range regexp.MustCompile(`end open=[^"]*`).FindAllString(res.log, -1) {
				fmt.Fprintf(stdout, "  %s: %s\n", mode, m)
			}
		}
		n := float64(cfg.stepsConns)
		fmt.Fprintf(stdout, "k6 RSS, %d connections to the npm ws echo peer (idle VU baseline %.1f MB):\n", cfg.stepsConns, float64(idle)/1024)
		first := cfg.rssModes[0]
		for _, mode := range cfg.rssModes {
			fmt.Fprintf(stdout, "  %-10s %.1f MB held, %.0f bytes per connection", mode+":", float64(rss[mode])/1024, float64(rss[mode]-idle)*1024/n)
			if mode != first {
				fmt.Fprintf(stdout, " (%+.0f bytes vs %s)", float64(rss[mode]-rss[first])*1024/n, first)
			}
			fmt.Fprintln(stdout)
		}
	}

	if cfg.phase("rtt") {
		sum, _, err := run("rtt", nil, "-e", "URLS="+echoURL, "-e", "CONNECTIONS="+strconv.Itoa(cfg.rttConns),
			"-e", "DURATION="+cfg.rttDuration, "-e", "THINK_MIN=1s", "-e", "THINK_MAX=3s", "-e", "P99_MS=1000",
			"-e", "LOCAL_ADDRS="+cfg.localAddrs, "-e", "MAX_IN_FLIGHT=500", "k6scripts/rtt.js")
		if err != nil {
			return err
		}
		v, err := sum.fields("massconn_rtt.med", "massconn_rtt.p(99)", "massconn_rtt.max", "ws_msgs_received.count", "massconn_failures.count")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "massconn_rtt, %d connections, think 1-3 s, %s against the npm ws echo peer:\n", cfg.rttConns, cfg.rttDuration)
		fmt.Fprintf(stdout, "  p50 %s ms, p99 %s ms, max %s ms; %s answers, %s failures\n", stat(v[0]), stat(v[1]), stat(v[2]), stat(v[3]), stat(v[4]))
	}

	// The echo peer stops before the churn phase.
	if err := peer.proc.Stop(15 * time.Second); err != nil {
		return err
	}
	if !cfg.phase("churn") {
		return nil
	}
	return b.churn(ctx, cfg, run, stdout)
}

// stepsRun runs k6 with the summary stats the steps phases read.
func (b *bench) stepsRun(ctx context.Context, k6, name string, sample func(pid int), args ...string) (summary, k6Result, error) {
	res, err := b.run(ctx, k6Run{name: name, bin: k6, sample: sample,
		args: append([]string{"run", "--no-usage-report", "--summary-trend-stats=min,med,avg,p(90),p(99),max,count",
			"--summary-export", b.path(name + "-summary.json")}, args...)})
	if err != nil {
		return nil, res, err
	}
	sum, err := readSummary(b.path(name + "-summary.json"))
	return sum, res, err
}

// stepsRunner is stepsRun bound to one k6 binary.
type stepsRunner func(name string, sample func(pid int), args ...string) (summary, k6Result, error)

// churn is the steps benchmark's third phase, against massconn-server.
func (b *bench) churn(ctx context.Context, cfg stepsConfig, run stepsRunner, stdout io.Writer) error {
	listen, _, stopServer, err := b.startServer(ctx, cfg.server, cfg.churnConns*2)
	if err != nil {
		return err
	}
	defer stopServer()
	sum, res, err := run("churn", nil, "-e", "WS_URL=ws://"+listen+"/ws?topic=Track", "-e", "CONNS="+strconv.Itoa(cfg.churnConns),
		"-e", "RATE="+strconv.Itoa(cfg.churnRate), "-e", "MAX_IN_FLIGHT="+strconv.Itoa(cfg.churnMaxInFlight),
		"-e", "HOLD_MS="+strconv.Itoa(cfg.churnHoldMS), "-e", "LOCAL_ADDRS="+cfg.localAddrs, "k6scripts/bench/churn.js")
	if err != nil {
		return err
	}
	v, err := sum.fields("massconn_churn.count", "ws_sessions.count", "massconn_failures.count", "massconn_drops.count")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "churn, %d slots, lifetime 1-3 s, rate %d/s (0 = unlimited), maxInFlight %d, against massconn-server:\n",
		cfg.churnConns, cfg.churnRate, cfg.churnMaxInFlight)
	for _, m := range regexp.MustCompile(`churn [0-9]* in [^"]*`).FindAllString(res.log, -1) {
		fmt.Fprintf(stdout, "  %s\n", m)
	}
	fmt.Fprintf(stdout, "  massconn_churn %s, ws_sessions %s, massconn_failures %s, massconn_drops %s\n", stat(v[0]), stat(v[1]), stat(v[2]), stat(v[3]))
	return nil
}
