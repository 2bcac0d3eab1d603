package k6bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/internal/launch"
	"github.com/massconn/massconn/internal/procfs"
)

// k6Config is massconn-bench k6's configuration, from the environment the
// Makefile passes (make bench-k6 STOCK_CONNS=500 ...).
type k6Config struct {
	k6, server    string
	stockConns    int
	massconnConns int // 0 = RLIMIT_NOFILE - fdHeadroom
	localAddrs    string
	// sseLocalAddrs are the SSE phase's source addresses: others than the
	// WebSocket phase's, so that the TIME_WAIT entries it leaves do not
	// take the ports the SSE phase needs.
	sseLocalAddrs string
	fdHeadroom    int
	holdMS        int
	floodConns    int
	floodSeconds  int
}

func k6ConfigFromEnv() (k6Config, error) {
	c := k6Config{
		k6: env("K6", "bin/k6"), server: env("MASSCONN_SERVER", "bin/massconn-server"),
		stockConns: 2000, fdHeadroom: 2000, holdMS: 15000, floodConns: 1000, floodSeconds: 30,
		localAddrs:    envSet("MASSCONN_LOCAL_ADDRS", "127.0.0.1,127.0.0.2"),
		sseLocalAddrs: envSet("SSE_LOCAL_ADDRS", "127.0.3.1,127.0.3.2"),
	}
	err := envInts(map[string]*int{
		"STOCK_CONNS": &c.stockConns, "MASSCONN_CONNS": &c.massconnConns, "FD_HEADROOM": &c.fdHeadroom,
		"HOLD_MS": &c.holdMS, "FLOOD_CONNS": &c.floodConns, "FLOOD_SECONDS": &c.floodSeconds,
	})
	if err == nil && (c.stockConns == 0 || c.floodConns == 0) {
		err = errors.New("STOCK_CONNS and FLOOD_CONNS must be at least 1")
	}
	return c, err
}

// usageOnly handles --help (the configuration is the environment) and
// refuses arguments.
func usageOnly(name, doc string, args []string, stderr io.Writer) (done bool, code int) {
	fs := flag.NewFlagSet("massconn-bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage: massconn-bench %s (configured by the environment)\n%s", name, doc) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, 0
		}
		return true, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "massconn-bench %s: unexpected argument %q; it is configured by environment variables (--help)\n", name, fs.Arg(0))
		return true, 2
	}
	return false, 0
}

const k6Doc = `Environment: STOCK_CONNS (2000), MASSCONN_CONNS (0 = from RLIMIT_NOFILE), FD_HEADROOM (2000),
HOLD_MS (15000), MASSCONN_LOCAL_ADDRS (127.0.0.1,127.0.0.2; empty = kernel's choice),
SSE_LOCAL_ADDRS (127.0.3.1,127.0.3.2: the http:// SSE phase's, MASSCONN_CONNS of them), FLOOD_CONNS (1000),
FLOOD_SECONDS (30), K6_TIMEOUT (240), K6 (bin/k6), STOCK_K6 (bin/k6-stock), MASSCONN_SERVER, K6_VERSION, XK6.
`

// RunK6 is massconn-bench k6 (make bench-k6): k6 process memory per held
// WebSocket connection and connections established per second, stock k6
// versus k6 with xk6-massconn, in one run against bin/massconn-server (a
// throwaway PostgreSQL behind it); the same for xk6-massconn's http://
// EventSource connections to the same server's /sse, beside its ws:// ones;
// then the metric pipeline under a message
// flood against the gws echo server. Phases run one after the other, never
// at once. Each phase first runs the same binary with one idle VU: its RSS
// is the baseline "net" subtracts; "held" is the highest of up to 10 RSS
// samples (200 ms apart) taken while the server reports every connection
// of the phase open.
func RunK6(args []string, stdout, stderr io.Writer) int {
	if done, code := usageOnly("k6", k6Doc, args, stderr); done {
		return code
	}
	cfg, err := k6ConfigFromEnv()
	if err == nil {
		err = checkBinaries(cfg.k6, cfg.server)
	}
	return runBench("bench-k6", 240, err, stderr, func(ctx context.Context, b *bench) error { return b.k6(ctx, cfg, stdout) })
}

func checkBinaries(bins ...string) error {
	for _, bin := range bins {
		if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is missing; run 'make build' first", bin)
		}
	}
	return nil
}

// holdResult is one hold phase: connections held, how fast, RSS and CPU.
type holdResult struct {
	name         string
	open, ms     int64 // connections open and the time they took
	errors       int64 // stock: BENCH error lines; massconn: failed connects
	idle, held   int64 // RSS KiB: idle baseline, highest of the first 10 samples while all were held
	peak, end    int64 // RSS KiB while all were held: highest and last of every sample
	cpu, idleCPU time.Duration
	serverCPU    time.Duration
}

// hold runs script holding conns connections and samples k6's RSS while
// the server at addr reports all of them open: held is the highest of the
// first 10 such samples, peak and end the highest and last of all.
func (b *bench) hold(ctx context.Context, name, bin, script string, conns int, serverPID int, addr string, env []string) (holdResult, k6Result, error) {
	r := holdResult{name: name}
	srv0, err := procfs.CPUTime(serverPID)
	if err != nil {
		return r, k6Result{}, fmt.Errorf("server CPU: %w", err)
	}
	samples := 0
	res, err := b.run(ctx, k6Run{
		name: name, bin: bin, env: env,
		args: []string{"run", "--no-usage-report", "--summary-trend-stats=count,max",
			"--summary-export", b.path(name + "-summary.json"), script},
		sample: func(pid int) {
			if serverConns(ctx, addr) != int64(conns) {
				return
			}
			kb := rssKB(pid)
			if samples < 10 {
				r.held = max(r.held, kb)
				samples++
			}
			r.peak = max(r.peak, kb)
			if kb > 0 {
				r.end = kb
			}
		},
	})
	if err != nil {
		return r, res, err
	}
	r.cpu = res.cpu
	srv1, err := procfs.CPUTime(serverPID)
	if err != nil {
		return r, res, fmt.Errorf("server CPU: %w", err)
	}
	r.serverCPU = srv1 - srv0
	if r.held == 0 {
		return r, res, fmt.Errorf("%s: the server never reported all %d connections open; end of the k6 log:\n%s", name, conns, launch.LastLines(res.log, 30))
	}
	return r, res, nil
}

func (b *bench) k6(ctx context.Context, cfg k6Config, stdout io.Writer) error {
	stock, err := b.stockK6(ctx)
	if err != nil {
		return err
	}
	nofile, err := procfs.OpenFileLimit(0)
	if err != nil {
		return err
	}
	if cfg.massconnConns == 0 {
		cfg.massconnConns = int(nofile) - cfg.fdHeadroom
	}
	listen, srv, stopServer, err := b.startServer(ctx, cfg.server, cfg.massconnConns+cfg.stockConns+1000)
	if err != nil {
		return err
	}
	defer stopServer()

	sources := cfg.localAddrs
	if sources == "" {
		sources = "kernel choice"
	}
	fmt.Fprintf(stdout, "== massconn k6 benchmark: %s, %d cores, RLIMIT_NOFILE %d\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), runtime.NumCPU(), nofile)
	fmt.Fprintf(stdout, "server: bin/massconn-server on %s (same machine); sources: stock 127.0.0.1, massconn %s (ws:// to /ws), sse %s (http:// to /sse)\n",
		listen, sources, cfg.sseLocalAddrs)

	wsURL := "WS_URL=ws://" + listen + "/ws?topic=Track"
	holdEnv := func(conns int) []string {
		return []string{"CONNS=" + strconv.Itoa(conns), "HOLD_UNTIL_MS=" + strconv.Itoa(cfg.holdMS), wsURL}
	}

	// Phase 1: stock k6, one VU per connection.
	stockIdle, stockIdleCPU, err := b.idle(ctx, stock, "k6scripts/bench/idle-stock.js")
	if err != nil {
		return err
	}
	st, stRes, err := b.hold(ctx, "stock", stock, "k6scripts/bench/stock-hold.js", cfg.stockConns, srv.PID(), listen, holdEnv(cfg.stockConns))
	if err != nil {
		return err
	}
	st.idle, st.idleCPU = stockIdle, stockIdleCPU
	sum, err := readSummary(b.path("stock-summary.json"))
	if err != nil {
		return err
	}
	opened, err1 := sum.get("bench_opened_at", "count")
	lastMS, err2 := sum.get("bench_opened_at", "max")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	st.open, st.ms = int64(opened), int64(lastMS)
	st.errors = int64(strings.Count(stRes.log, "BENCH error"))
	if err := waitConns(ctx, listen, 0, 60*time.Second); err != nil {
		return err
	}

	// Phase 2: xk6-massconn, one VU holding every connection.
	mcIdle, mcIdleCPU, err := b.idle(ctx, cfg.k6, "k6scripts/bench/idle-massconn.js")
	if err != nil {
		return err
	}
	mc, mcRes, err := b.hold(ctx, "massconn", cfg.k6, "k6scripts/bench/massconn-hold.js", cfg.massconnConns, srv.PID(), listen,
		append(holdEnv(cfg.massconnConns), "LOCAL_ADDRS="+cfg.localAddrs))
	if err != nil {
		return err
	}
	mc.idle, mc.idleCPU = mcIdle, mcIdleCPU
	f, err := logInts(mcRes.log, "BENCH open=", "open", "connect_ms", "failed")
	if err != nil {
		return err
	}
	mc.open, mc.ms, mc.errors = f["open"], f["connect_ms"], f["failed"]
	if err := waitConns(ctx, listen, 0, 60*time.Second); err != nil {
		return err
	}

	// Phase 2b: the same, over http:// (Server-Sent Events) to /sse: the
	// same binary, so the same idle baseline.
	sse, sseRes, err := b.hold(ctx, "sse", cfg.k6, "k6scripts/bench/massconn-hold.js", cfg.massconnConns, srv.PID(), listen,
		[]string{"CONNS=" + strconv.Itoa(cfg.massconnConns), "HOLD_UNTIL_MS=" + strconv.Itoa(cfg.holdMS),
			"WS_URL=http://" + listen + "/sse?topic=Track", "LOCAL_ADDRS=" + cfg.sseLocalAddrs})
	if err != nil {
		return err
	}
	sse.idle, sse.idleCPU = mcIdle, mcIdleCPU
	f, err = logInts(sseRes.log, "BENCH open=", "open", "connect_ms", "failed")
	if err != nil {
		return err
	}
	sse.open, sse.ms, sse.errors = f["open"], f["connect_ms"], f["failed"]
	if err := waitConns(ctx, listen, 0, 60*time.Second); err != nil {
		return err
	}

	// Phase 2c: the engine's connect rate against a server that costs
	// only the kernel, beside the connect-rate floor of this minute.
	rates, err := b.connectRates(ctx, cfg, mcIdleCPU)
	if err != nil {
		return err
	}

	// Phase 3: the metric pipeline under a message flood.
	fl, err := b.flood(ctx, cfg)
	if err != nil {
		return err
	}
	printK6Report(stdout, st, mc, fl)
	printSSERows(stdout, mc, sse)
	printConnectRates(stdout, rates)
	return nil
}

// floodResult is phase 3: messages counted and k6's RSS over the flood.
type floodResult struct {
	conns            int
	received, ms     int64
	early, late      int64 // RSS KiB 5 s in and at the end
	k6Msgs, latCount float64
}

func (b *bench) flood(ctx context.Context, cfg k6Config) (floodResult, error) {
	r := floodResult{conns: cfg.floodConns}
	echo, err := b.startEcho(ctx)
	if err != nil {
		return r, err
	}
	defer func() { _ = echo.proc.Stop(15 * time.Second) }()
	var rss []int64
	res, err := b.run(ctx, k6Run{
		name: "flood", bin: cfg.k6, every: time.Second,
		env: []string{"CONNS=" + strconv.Itoa(cfg.floodConns), "HOLD=" + strconv.Itoa(cfg.floodSeconds) + "s",
			"WS_URL=ws://127.0.0.1:" + echo.wsPort + "/"},
		args: []string{"run", "--no-usage-report", "--summary-trend-stats=count,max",
			"--summary-export", b.path("flood-summary.json"), "k6scripts/bench/massconn-flood.js"},
		sample: func(pid int) {
			if kb := rssKB(pid); kb > 0 {
				rss = append(rss, kb)
			}
		},
	})
	if err != nil {
		return r, err
	}
	f, err := logInts(res.log, "BENCH received=", "received", "ms")
	if err != nil {
		return r, err
	}
	r.received, r.ms = f["received"], f["ms"]
	n := len(rss)
	if n == 0 {
		return r, errors.New("flood: no RSS sample of k6 was taken")
	}
	// RSS 5 s into the run (connections open, flood under way) and at its end.
	r.early = rss[0]
	if n > 6 {
		r.early = rss[5]
	}
	r.late = rss[n-1]
	if n > 2 {
		r.late = rss[n-2]
	}
	sum, err := readSummary(b.path("flood-summary.json"))
	if err != nil {
		return r, err
	}
	var err1, err2 error
	r.k6Msgs, err1 = sum.get("ws_msgs_received", "count")
	r.latCount, err2 = sum.get("massconn_latency", "count")
	return r, errors.Join(err1, err2)
}

// secs is a CPU time in seconds, for the report.
func secs(d time.Duration) float64 { return d.Seconds() }

// perConnUS is d in microseconds per connection.
func perConnUS(d time.Duration, n int64) float64 { return float64(d.Microseconds()) / float64(n) }

func printHoldRow(w io.Writer, r holdResult) {
	n := float64(r.open)
	fmt.Fprintf(w, "%-9s %6d conns held (%d errors)\n", r.name, r.open, r.errors)
	fmt.Fprintf(w, "          RSS     held %.1f MiB, idle baseline %.1f MiB -> per conn gross %.0f B, net %.0f B\n",
		float64(r.held)/1024, float64(r.idle)/1024, float64(r.held)*1024/n, float64(r.held-r.idle)*1024/n)
	fmt.Fprintf(w, "          rate    %.0f conns/s established (%d in %d ms)\n", n*1000/float64(r.ms), r.open, r.ms)
	fmt.Fprintf(w, "          CPU     k6 %.2fs (%.2fs net of the idle run = %.0f us per conn: open, hold, close), server %.2fs (%.0f us per conn, same phases)\n",
		secs(r.cpu), secs(r.cpu-r.idleCPU), perConnUS(r.cpu-r.idleCPU, r.open), secs(r.serverCPU), perConnUS(r.serverCPU, r.open))
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func printK6Report(w io.Writer, s, m holdResult, f floodResult) {
	printHoldRow(w, s)
	printHoldRow(w, m)
	sNet, mNet := float64(s.held-s.idle)*1024/float64(s.open), float64(m.held-m.idle)*1024/float64(m.open)
	sGross, mGross := float64(s.held)*1024/float64(s.open), float64(m.held)*1024/float64(m.open)
	sRate, mRate := float64(s.open)*1000/float64(s.ms), float64(m.open)*1000/float64(m.ms)
	fmt.Fprintf(w, "ratios    RSS per conn: stock/massconn = %.0fx net, %.0fx gross; connect rate: massconn/stock = %.1fx\n",
		sNet/mNet, sGross/mGross, mRate/sRate)
	fmt.Fprintf(w, "goals     net RSS per conn <= 1024 B: %s (%.0f B); connect rate >= 25000/s: %s (%.0f/s)\n",
		metOrMissed(mNet <= 1024), mNet, metOrMissed(mRate >= 25000), mRate)
	fmt.Fprintf(w, "flood     %d conns, %d messages received in %.1f s (%.0f/s, counted exactly); k6 RSS %.1f MiB at 5 s -> %.1f MiB at the end (%+.1f MiB)\n",
		f.conns, f.received, float64(f.ms)/1000, float64(f.received)*1000/float64(f.ms),
		float64(f.early)/1024, float64(f.late)/1024, float64(f.late-f.early)/1024)
	fmt.Fprintf(w, "          k6 summary: ws_msgs_received count %s (exact), massconn_latency count %s (sampled values)\n",
		num(f.k6Msgs), num(f.latCount))
	cores := runtime.NumCPU()
	fmt.Fprintln(w, "notes: RSS is user-space VmRSS of the k6 process (kernel socket memory, ~5 KB per loopback socket, is not in it).")
	fmt.Fprintln(w, "       stock rate = connections / time from scenario start to the last onopen; massconn rate = open / duration of connect().")
	fmt.Fprintf(w, "       k6 and server share the same %d cores (and any other load on the machine): when k6 + server CPU per\n", cores)
	fmt.Fprintf(w, "       connection exceeds %d cores / rate, the rate is bounded by CPU, most of it the server's.\n", cores)
}

// num prints a summary value the way k6 wrote it: whole numbers without a
// fraction or exponent.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// printSSERows puts the http:// (SSE) phase beside the ws:// one of the
// same run, with the SSE goals: at most 1 KB of k6 RSS per held
// connection and at least 20,000 connects/s.
func printSSERows(w io.Writer, ws, sse holdResult) {
	printHoldRow(w, sse)
	wsNet, sseNet := float64(ws.held-ws.idle)*1024/float64(ws.open), float64(sse.held-sse.idle)*1024/float64(sse.open)
	wsRate, sseRate := float64(ws.open)*1000/float64(ws.ms), float64(sse.open)*1000/float64(sse.ms)
	fmt.Fprintf(w, "sse/ws    net RSS per conn %.0f B / %.0f B = %.2fx; connect rate %.0f/s / %.0f/s = %.2fx (same server, same run)\n",
		sseNet, wsNet, sseNet/wsNet, sseRate, wsRate, sseRate/wsRate)
	fmt.Fprintf(w, "goals sse net RSS per conn <= 1024 B: %s (%.0f B); connect rate against massconn-server, both on these cores: %.0f/s (see engine below)\n",
		metOrMissed(sseNet <= 1024), sseNet, sseRate)
}
