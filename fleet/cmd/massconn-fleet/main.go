// Command massconn-fleet splits one k6 test over several k6 processes (on
// one machine or many), runs a part, samples memory, and merges the parts'
// results into one report. The file layout is in docs/design.md
// (Repository layout); the flags in docs/scenarios.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/massconn/massconn/fleet"
	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/procfs"
)

const usage = `usage: massconn-fleet <command> [flags]; commands:
  plan        print the split of N connections into k6 parts and server processes
  part        run one k6 part of a split run into a part directory
  sample-rss  record VmRSS of processes (e.g. servers) into an rss.csv
  merge       merge part directories into one report (JSON, Markdown, SVG)
  run         run a whole scenario on this machine: Postgres, servers, insert loop, parts, merge
run 'massconn-fleet <command> -h' for its flags`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := dispatch(ctx, os.Args[1], os.Args[2:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "massconn-fleet:", err)
	}
	os.Exit(code)
}

func dispatch(ctx context.Context, cmd string, args []string, stdout io.Writer) (int, error) {
	switch cmd {
	case "plan":
		return cmdPlan(args, stdout)
	case "part":
		return cmdPart(ctx, args, stdout)
	case "sample-rss":
		return cmdSampleRSS(ctx, args)
	case "merge":
		return cmdMerge(args, stdout)
	case "run":
		return cmdRun(ctx, args, stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0, nil
	}
	return 2, fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("massconn-fleet "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

// flagsFailed is the exit of a command whose flags did not parse: 0 after
// -h (flag.ErrHelp; the flag package has printed the usage), else 2 with
// the flag package's error.
func flagsFailed(err error) (int, error) {
	if errors.Is(err, flag.ErrHelp) {
		return 0, nil
	}
	return 2, err
}

func defaultPerProcess() int64 {
	n, err := procfs.OpenFileLimit(0)
	if err != nil {
		return 19000
	}
	return fleet.PerProcessLimit(n)
}

func cmdPlan(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("plan")
	conns := fs.Int64("connections", 0, "fleet total of connections (required)")
	parts := fs.Int("parts", 0, "k6 processes; 0 = fewest under --per-process")
	servers := fs.Int("servers", 0, "server processes; 0 = fewest under --per-process")
	perProc := fs.Int64("per-process", defaultPerProcess(), "most connections one process may hold (default: RLIMIT_NOFILE - 1000)")
	host := fs.String("server-host", "127.0.0.1", "host name or address the servers listen on and clients dial")
	port := fs.Int("base-port", 8080, "port of server 0; server i listens on base-port+i")
	transportFlag := fs.String("transport", "", "ws: WebSocket (ws:// URLs to the servers' /ws), or sse: Server-Sent Events (http:// URLs to their /sse); default ws, as run's")
	path := fs.String("path", "", "path and query of the servers' endpoint; empty = the transport's (/ws?topic=Track or /sse?topic=Track)")
	addrs := fs.Int("addrs-per-part", 0, "source addresses per part; 0 = one per 10,000 connections")
	format := fs.String("format", "json", "json, table or env")
	if err := fs.Parse(args); err != nil {
		return flagsFailed(err)
	}
	if *conns < 1 {
		return 2, errors.New("plan: --connections is required (the fleet total, e.g. --connections 200000)")
	}
	transport, err := fleet.ParseTransport(*transportFlag)
	if err != nil {
		return 2, fmt.Errorf("plan: %w", err)
	}
	p, err := fleet.NewPlan(fleet.PlanConfig{
		Connections: *conns, Parts: *parts, Servers: *servers, PerProcess: *perProc,
		ServerHost: *host, BasePort: *port, Transport: transport, Path: *path, AddrsPerPart: *addrs,
	})
	if err != nil {
		return 2, fmt.Errorf("plan: %w", err)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			return 1, fmt.Errorf("plan: %w", err)
		}
	case "table":
		fmt.Fprintf(stdout, "total %d %s, sequence %s\n%-5s %-14s %-12s %s\n", p.Total, p.Transport, p.Sequence, "part", "segment", "connections", "local addrs")
		for _, pp := range p.Parts {
			fmt.Fprintf(stdout, "%-5d %-14s %-12d %s\n", pp.Index, pp.Segment, pp.Connections, strings.Join(pp.LocalAddrs, ","))
		}
		for _, s := range p.Servers {
			fmt.Fprintf(stdout, "server %d: --listen %s --max-conns %d\n", s.Index, s.Listen, s.MaxConns)
		}
	case "env":
		for _, pp := range p.Parts {
			fmt.Fprintf(stdout, "PART=%d SEGMENT=%s SEQUENCE=%s CONNECTIONS_PART=%d CONNECTIONS=%d LOCAL_ADDRS=%s URLS=%s\n",
				pp.Index, shq(pp.Segment), shq(p.Sequence), pp.Connections, p.Total,
				shq(strings.Join(pp.LocalAddrs, ",")), shq(strings.Join(pp.URLs, ",")))
		}
	default:
		return 2, fmt.Errorf("plan: --format must be json, table or env, got %q", *format)
	}
	return 0, nil
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func cmdPart(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	fs := newFlags("part")
	index := fs.Int("index", -1, "this part's index, 0..parts-1 (required)")
	parts := fs.Int("parts", 0, "number of parts in the fleet (required)")
	dir := fs.String("dir", "", "part directory for k6's outputs (required)")
	k6 := fs.String("k6", "bin/k6", "k6 built with xk6-massconn")
	every := fs.Duration("sample-every", time.Second, "RSS sampling interval")
	host := fs.String("host", "", "host name recorded in part.json (default: hostname)")
	quiet := fs.Bool("quiet", false, "do not copy k6's output to stdout (it is always in k6.log)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: massconn-fleet part --index I --parts K --dir PARTDIR [flags] -- SCRIPT.js [k6 run args]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagsFailed(err)
	}
	rest := fs.Args()
	if *parts < 1 || *index < 0 || *index >= *parts {
		return 2, fmt.Errorf("part: --parts K (>= 1) and --index I (0..K-1) are required, got --parts %d --index %d", *parts, *index)
	}
	if *dir == "" {
		return 2, errors.New("part: --dir is required (where summary.json, metrics.json.gz, ... go)")
	}
	if len(rest) == 0 {
		return 2, errors.New("part: give the script after the flags: -- k6scripts/capacity.js -e CONNECTIONS=200000")
	}
	// The script comes first after "--"; k6 wants it last.
	script, extra := rest[0], rest[1:]
	var echo = stdout
	if *quiet {
		echo = nil
	}
	info, err := fleet.RunPart(ctx, fleet.PartConfig{
		K6: *k6, Dir: *dir, Index: *index, Parts: *parts, Script: script, Args: extra,
		Host: *host, SampleEvery: *every, Echo: echo,
	})
	if err != nil {
		return 1, err
	}
	return info.ExitCode, nil
}

// pidList collects --pid (sample-rss) or --target-pid (run) values.
type pidList []int

func (p *pidList) String() string { return fmt.Sprint([]int(*p)) }
func (p *pidList) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("need a process id, got %q", s)
	}
	*p = append(*p, n)
	return nil
}

func cmdSampleRSS(ctx context.Context, args []string) (int, error) {
	fs := newFlags("sample-rss")
	var pids pidList
	fs.Var(&pids, "pid", "process to sample (repeatable)")
	role := fs.String("role", "server", "role written in the CSV: server or k6")
	out := fs.String("out", "", "rss.csv to write (required)")
	every := fs.Duration("every", time.Second, "sampling interval")
	if err := fs.Parse(args); err != nil {
		return flagsFailed(err)
	}
	if len(pids) == 0 || *out == "" {
		return 2, errors.New("sample-rss: --pid (at least one) and --out are required")
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return 1, fmt.Errorf("sample-rss: %w", err)
	}
	s, err := fleet.NewRSSSampler(*out)
	if err != nil {
		return 1, fmt.Errorf("sample-rss: %w", err)
	}
	for _, pid := range pids {
		s.Watch(pid, *role)
	}
	s.Run(ctx, *every, true)
	if err := s.Close(); err != nil {
		return 1, fmt.Errorf("sample-rss: %w", err)
	}
	return 0, nil
}

func cmdMerge(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("merge")
	out := fs.String("out", "", "directory for report.json, report.md, chart.svg (required)")
	title := fs.String("title", "", "report title")
	scenario := fs.String("scenario", "", "scenario name (default: the script's name)")
	target := fs.Int64("connections", 0, "connections asked for (default: the parts' -e CONNECTIONS)")
	partial := fs.Bool("partial", false, "merge even if parts of the sequence are missing")
	p99 := fs.Duration("p99-bound", fleet.DefaultP99Bound, "largest fan-out p99 (while all were open) that passes")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: massconn-fleet merge --out DIR [flags] PARTDIR... [RSSDIR...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagsFailed(err)
	}
	if *out == "" || fs.NArg() == 0 {
		return 2, errors.New("merge: --out DIR and at least one part directory are required")
	}
	r, err := fleet.MergeToDir(*out, fs.Args(), fleet.MergeOptions{
		Title: *title, Scenario: *scenario, Target: *target, Partial: *partial, P99Bound: *p99,
		Command: "massconn-fleet merge " + strings.Join(args, " "),
	})
	if err != nil {
		return 1, err
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL: " + strings.Join(r.Problems, "; ")
	}
	fmt.Fprintf(stdout, "report in %s: %s\n", *out, verdict)
	return 0, nil
}

func cmdRun(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	fs := newFlags("run")
	scenario := fs.String("scenario", "capacity", "capacity, arrival, fanout, soak, baseline-stock, heartbeat (SSE: N connections, no rows, "+
		"the server's heartbeat comment every --heartbeat; PASS = no drop and no connection silent for longer than the heartbeat plus 1s), "+
		"or limit: the capacity search, "+
		"one capacity run per step of connections (--start, --step or --factor, --max, --step-hold) until a step breaks the service level "+
		"(--slo-p99, --slo-failures, --slo-connect-p95) or the load generator would reach its own limit")
	transportFlag := fs.String("transport", "", "ws: WebSocket (ws:// to the servers' /ws), or sse: Server-Sent Events (http:// to their /sse, an EventSource per connection); "+
		"default ws, sse for --scenario heartbeat; with --target the URLs' scheme says it")
	heartbeat := fs.Duration("heartbeat", fleet.DefaultHeartbeat, "--scenario heartbeat: the servers' --sse-heartbeat, and the bound (plus 1s) on every connection's longest silence")
	conns := fs.Int64("connections", 0, "fleet total of connections; 0 = sized to this machine (one k6 process's worth)")
	duration := fs.String("duration", "", "how long the connections are held (the script's DURATION); empty = the script's default: capacity 60s, arrival 10s, fanout 30s, soak 1h")
	out := fs.String("out", "", "results directory (default results/<UTC timestamp>-<scenario>)")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL; empty = a throwaway cluster for this run")
	parts := fs.Int("parts", 0, "k6 processes; 0 = fewest under the open-file limit")
	servers := fs.Int("servers", 0, "server processes; 0 = fewest under the open-file limit")
	port := fs.Int("base-port", 18080, "port of server 0; server i listens on base-port+i")
	k6 := fs.String("k6", "bin/k6", "k6 built with xk6-massconn")
	server := fs.String("server", "bin/massconn-server", "massconn-server binary")
	scripts := fs.String("scripts", "k6scripts", "directory with the scenario scripts")
	insertEvery := fs.Duration("insert-every", time.Second, "insert loop interval")
	insertCount := fs.Int("insert-count", 0, "stop inserting after this many rows (0 = until the run ends)")
	insertAfter := fs.Bool("insert-after-open", true, "start inserting once every connection is open (or connecting stalled 15s); false = insert from the start, as the Supabase setup did")
	p99 := fs.Duration("p99-bound", fleet.DefaultP99Bound, "largest fan-out p99 (while all were open) that passes; the verdict also needs every row inserted then at every connection")
	rate := fs.Float64("rate", -1, fmt.Sprintf("connection attempts per second for the whole fleet, shared by the k6 processes; 0 = unpaced; -1 = %d/s when there are several processes", fleet.AutoRate))
	floorOn := fs.Bool("floor", true, "measure this machine's floor (CPU of a loopback write, read, connect+accept and WebSocket upgrade; a few seconds) before the load and put it next to the run's CPU per message and per connection; false = skip")
	profile := fs.Duration("profile", 10*time.Second, "take a CPU profile of one server this long during the hold (its --pprof listener) and summarise it in the report; 0 = none")
	var env multi
	var serverArgs, targets argList
	var targetPIDs pidList
	var pub publish.Config
	fs.Var(&env, "e", "KEY=VALUE passed to every part's script (repeatable), e.g. -e ARRIVAL_RATE=2000")
	fs.Var(&serverArgs, "server-arg", "one more argument for every server process (repeatable), e.g. --server-arg=--ping-interval=120s")
	fs.Var(&targets, "target", "someone else's URL to connect to instead of our servers: ws:// or wss:// (WebSocket), http:// or https:// (Server-Sent Events) "+
		"(repeatable: the connections go round-robin); needs --publish-url or --insert-sql (not for --scenario heartbeat), starts no database or server")
	fs.Var(&targetPIDs, "target-pid", "with --target: a process of the target on this machine (repeatable; its child processes too) whose memory and CPU the report shows per connection and per message")
	publish.RegisterFlags(fs, &pub)
	search := registerSearchFlags(fs)
	if err := fs.Parse(args); err != nil {
		return flagsFailed(err)
	}
	if err := checkSearchFlags(*scenario == fleet.SearchScenario, setFlags(fs)); err != nil {
		return 2, err
	}
	transport, err := fleet.ParseTransport(*transportFlag)
	if err != nil {
		return 2, err
	}
	if setFlags(fs)["heartbeat"] && *scenario != fleet.HeartbeatScenario {
		return 2, errors.New("--heartbeat is for the heartbeat scenario: add --scenario heartbeat")
	}
	if *heartbeat <= 0 {
		return 2, fmt.Errorf("--heartbeat %v: must be above 0, e.g. --heartbeat 15s", *heartbeat)
	}
	if len(targets) == 0 && (pub.Enabled() || len(targetPIDs) > 0) {
		return 2, errors.New("--publish-url, --insert-sql and --target-pid are for runs against someone else's server: add --target ws://HOST:PORT/PATH (or http://... for SSE)")
	}
	pub.DatabaseURL = *dbURL
	if *conns == 0 && *scenario != fleet.SearchScenario {
		n, why, err := fleet.DefaultConnections()
		if err != nil {
			return 1, err
		}
		*conns = n
		fmt.Fprintf(stdout, "massconn-fleet: %d connections (%s); set CONNECTIONS / --connections to change\n", n, why)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("results", time.Now().UTC().Format("20060102T150405Z")+"-"+*scenario)
	}
	rc := fleet.RunConfig{
		Scenario: *scenario, ScriptDir: *scripts, Connections: *conns, Duration: *duration, Out: dir,
		DatabaseURL: *dbURL, Parts: *parts, Servers: *servers, BasePort: *port, K6: *k6, Server: *server,
		Transport: transport, Heartbeat: *heartbeat,
		InsertEvery: *insertEvery, InsertCount: *insertCount, InsertAfter: *insertAfter, Env: env, P99Bound: *p99, Rate: *rate,
		NoFloor: !*floorOn, Profile: *profile, ServerArgs: serverArgs,
		Targets: targets, TargetPIDs: targetPIDs, Publish: pub,
		Progress: stdout, Command: "massconn-fleet run " + strings.Join(args, " "),
	}
	if *scenario == fleet.SearchScenario {
		return runSearch(ctx, search, setFlags(fs), rc, stdout)
	}
	r, err := fleet.Run(ctx, rc)
	if err != nil {
		return 1, err
	}
	printFigures(stdout, dir, r)
	if !r.Pass {
		return 1, nil
	}
	return 0, nil
}

// argList collects a repeatable flag's values as they are.
type argList []string

func (a *argList) String() string { return strings.Join(*a, " ") }
func (a *argList) Set(s string) error {
	*a = append(*a, s)
	return nil
}

type multi []string

func (m *multi) String() string { return strings.Join(*m, " ") }
func (m *multi) Set(s string) error {
	if !strings.Contains(s, "=") {
		return fmt.Errorf("-e needs KEY=VALUE, got %q", s)
	}
	*m = append(*m, s)
	return nil
}

// printFigures prints the report's verdict and figures table: the short
// report `make bench` promises.
func printFigures(w io.Writer, dir string, r *report.Report) {
	fmt.Fprintf(w, "\n%s\nFull report: %s/report.md (report.json, chart.svg, dashboard-part-*.html)\n",
		strings.TrimSuffix(report.Summary(r), "\n"), dir)
}
