// Package fanout is massconn-bench fanout, the load client of make
// bench-server. It measures one massconn-server process with
// as many idle connections as the open-file limit allows, WebSocket (a
// ws:// --url) or server-sent events (an http:// --url, each connection an
// EventSource's GET): the
// server's resident memory per idle connection, and how long one inserted
// row takes to reach the last of them. massconn-bench server (make
// bench-server) starts PostgreSQL and the server and runs it:
//
//	massconn-bench fanout --url ws://127.0.0.1:PORT/ws?topic=Track \
//	    (or --url http://127.0.0.1:PORT/sse?topic=Track) \
//	    --database-url URL --server-pid PID [--conns N] [--rounds 20]
//
// It is a benchmark, not a test: it prints figures next to their goals and
// fails only when the server lost, duplicated or dropped something.
package fanout

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"github.com/massconn/massconn/internal/floor"
	"github.com/massconn/massconn/internal/procfs"
	srvclient "github.com/massconn/massconn/server/client"
	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/pgsource"
)

// Goals from the issues that asked for this benchmark ("At the floor").
const (
	goalBytesPerConn      = 4 * 1024
	goalBytesAfterTraffic = 5 * 1024
	goalP99               = 100 * time.Millisecond
	goalCPUPerAccept      = 40 * time.Microsecond
	goalDeliveryOverWrite = 1.3 // CPU per delivered message / the floor's write
)

type config struct {
	url             string
	databaseURL     string
	serverPID       int
	conns           int
	headroom        int
	rounds          int
	spacing         time.Duration
	settle          time.Duration
	roundTimeout    time.Duration
	maxDuration     time.Duration
	dialConcurrency int
	firstSource     string
	perSource       int
	table           string
	publishURL      string
	publishSize     int
	target          string
	payloadSizeFile string
	healthAddr      string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("massconn-bench fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "", "URL of the server: ws:// for WebSocket clients, e.g. ws://127.0.0.1:8080/ws?topic=Track; http:// for server-sent events (EventSource) clients, e.g. http://127.0.0.1:8080/sse?topic=Track")
	fs.StringVar(&c.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL the server listens to (default $DATABASE_URL)")
	fs.IntVar(&c.serverPID, "server-pid", 0, "pid of the server process, for its RSS and open-file limit")
	fs.IntVar(&c.conns, "conns", 0, "idle connections to open (0: the smaller open-file limit of server and bench, minus --headroom)")
	fs.IntVar(&c.headroom, "headroom", 2000, "file descriptors left free under the open-file limit when --conns is 0")
	fs.IntVar(&c.rounds, "rounds", 20, "single-row inserts to fan out, one at a time")
	fs.DurationVar(&c.spacing, "spacing", time.Second, "time from one insert to the next")
	fs.DurationVar(&c.settle, "settle", 10*time.Second, "wait after connecting before reading the server's RSS, for its GC to settle")
	fs.DurationVar(&c.roundTimeout, "round-timeout", 30*time.Second, "give up on an insert reaching every client after this long")
	fs.DurationVar(&c.maxDuration, "max-duration", 10*time.Minute, "stop the whole run after this long")
	fs.IntVar(&c.dialConcurrency, "dial-concurrency", 32, "connection attempts in flight at once")
	fs.StringVar(&c.firstSource, "source-addr", "127.0.0.2", "first local address to connect from; the next ones follow (127.0.0.3, ...)")
	fs.IntVar(&c.perSource, "per-source", 10000, "connections per local address (each has about 28,000 ephemeral ports per target)")
	fs.StringVar(&c.table, "table", "Track", "table to insert into; the --url topic must include it")
	fs.StringVar(&c.publishURL, "publish-url", "", "instead of inserting rows, POST each message to this URL (a foreign target such as the Node.js ws server in server/testdata/nodews); no database then")
	fs.IntVar(&c.publishSize, "publish-size", 200, "bytes of each message sent with --publish-url (match massconn-server's message for a fair comparison)")
	fs.StringVar(&c.payloadSizeFile, "payload-size-file", "", "write the payload bytes of the messages received to this file (for the next target's --publish-size)")
	fs.StringVar(&c.healthAddr, "health-addr", "", "host:port answering GET /healthz as massconn-server does ({\"connections\":N,\"listener\":\"connected\"}); default: the --url's host (a target without one, such as nginx+nchan, gets a shim from massconn-bench server)")
	fs.StringVar(&c.target, "target", "massconn-server", "name of the server under test, for the report")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	checks := []struct {
		bad bool
		msg string
	}{
		{fs.NArg() > 0, fmt.Sprintf("unexpected argument %q; all options are --flags", fs.Arg(0))},
		{!strings.HasPrefix(c.url, "ws://") && !strings.HasPrefix(c.url, "http://"), fmt.Sprintf("--url %q must be a ws:// URL (WebSocket) or an http:// URL (server-sent events), e.g. ws://127.0.0.1:8080/ws?topic=Track or http://127.0.0.1:8080/sse?topic=Track", c.url)},
		{c.databaseURL == "" && c.publishURL == "", "missing --database-url (or DATABASE_URL): the PostgreSQL URL the server listens to (or --publish-url for a target fed over HTTP)"},
		{c.publishURL != "" && !strings.HasPrefix(c.publishURL, "http://"), fmt.Sprintf("--publish-url %q must be an http:// URL, e.g. http://127.0.0.1:8080/publish", c.publishURL)},
		{c.publishSize < 40, "--publish-size must be at least 40 bytes (the id and ts fields)"},
		{c.serverPID <= 0, "missing --server-pid: the pid of the massconn-server process to measure"},
		{c.conns < 0, "--conns must be 0 (automatic) or more"},
		{c.headroom < 0, "--headroom must be 0 or more"},
		{c.rounds < 1, "--rounds must be at least 1"},
		{c.spacing <= 0 || c.settle < 0 || c.roundTimeout <= 0 || c.maxDuration <= 0, "--spacing, --round-timeout and --max-duration must be positive, --settle not negative"},
		{c.dialConcurrency < 1, "--dial-concurrency must be at least 1"},
		{c.perSource < 1, "--per-source must be at least 1"},
		{!pgsource.KnownTable(c.table), fmt.Sprintf("unknown --table %q; use one of %s", c.table, strings.Join(pgsource.Tables, ", "))},
	}
	for _, ch := range checks {
		if ch.bad {
			return c, errors.New(ch.msg)
		}
	}
	return c, nil
}

// sse tells the transport: server-sent events for an http:// --url.
func (c config) sse() bool { return strings.HasPrefix(c.url, "http://") }

// transportName and unit name the transport in the report.
func (c config) transportName() string {
	if c.sse() {
		return "SSE (EventSource)"
	}
	return "WebSocket"
}

func (c config) unit() string {
	if c.sse() {
		return "event"
	}
	return "frame"
}

// sources lists the local addresses n connections need, perSource each.
func sources(first string, n, perSource int) ([]netip.Addr, error) {
	a, err := netip.ParseAddr(first)
	if err != nil || !a.Is4() || !a.IsLoopback() {
		return nil, fmt.Errorf("--source-addr %q must be an IPv4 loopback address such as 127.0.0.2", first)
	}
	var out []netip.Addr
	for range (n + perSource - 1) / perSource {
		if !a.IsLoopback() {
			return nil, fmt.Errorf("--source-addr %s with --per-source %d runs out of 127.0.0.0/8 for %d connections", first, perSource, n)
		}
		out = append(out, a)
		a = a.Next()
	}
	return out, nil
}

func Run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "massconn-bench fanout: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.maxDuration)
	defer cancel()
	if err := bench(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "massconn-bench fanout: %v\n", err)
		return 1
	}
	return 0
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// result is everything the summary prints.
type result struct {
	conns, limit          int
	rssBefore, rssIdle    int64
	rssAfter              int64
	rtBefore, rtIdle      map[string]float64
	benchRSS              int64
	last, first, delivery summary
	rounds, completeRnds  int
	delivered, missing    int64
	dups, stray, bad      int64
	closed                int64
	closeReport           string
	connectTime           time.Duration
	// Server CPU (user+sys, all threads) while the connections opened and
	// during the fan-out rounds.
	cpuConnect, cpuFanOut time.Duration
	msgLen                int
	floor                 floor.Result
	floorErr              error
}

func bench(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	u, err := url.Parse(cfg.url)
	if err != nil {
		return fmt.Errorf("--url %q: %w", cfg.url, err)
	}
	// The 10 s bound: a server busy opening 20,000 connections answers late.
	healthAddr := u.Host
	if cfg.healthAddr != "" {
		healthAddr = cfg.healthAddr
	}
	srv := srvclient.New(healthAddr, 10*time.Second)
	var res result

	serverLimit, err := procfs.OpenFileLimit(cfg.serverPID)
	if err != nil {
		return fmt.Errorf("--server-pid %d: %w", cfg.serverPID, err)
	}
	ownLimit, err := procfs.OpenFileLimit(0)
	if err != nil {
		return err
	}
	res.limit = int(min(serverLimit, ownLimit, 1<<30))
	res.conns = cfg.conns
	if res.conns == 0 {
		res.conns = res.limit - cfg.headroom
		if res.conns < 1 {
			return fmt.Errorf("open-file limit %d leaves no room for connections after --headroom %d; raise the limit (ulimit -n) or lower --headroom", res.limit, cfg.headroom)
		}
	}
	if res.conns+cfg.headroom/4 > res.limit {
		return fmt.Errorf("--conns %d does not fit under the open-file limit %d (server or bench); lower --conns", res.conns, res.limit)
	}
	srcs, err := sources(cfg.firstSource, res.conns, cfg.perSource)
	if err != nil {
		return err
	}

	var db *sql.DB
	if cfg.publishURL == "" {
		if db, err = sql.Open("postgres", cfg.databaseURL); err != nil {
			return fmt.Errorf("open --database-url: %w", err)
		}
		defer db.Close()
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("connect to --database-url: %w", err)
		}
	}

	if n, _, err := serverHealth(ctx, srv); err != nil {
		return err
	} else if n != 0 {
		return fmt.Errorf("the server already has %d connections; the per-connection figure needs a server nobody else uses", n)
	}
	if res.rssBefore, err = residentBytes(cfg.serverPID); err != nil {
		return err
	}
	res.rtBefore, _ = scrapeRuntime(ctx, srv)

	f := &fleet{url: cfg.url, sse: cfg.sse(), sources: srcs, perSrc: cfg.perSource}
	defer f.closeAll()
	logf(stderr, "opening %d connections to %s from %s.. (%d per address); open-file limit %d",
		res.conns, cfg.url, srcs[0], cfg.perSource, res.limit)
	start := time.Now()
	cpu0, err := procfs.CPUTime(cfg.serverPID)
	if err != nil {
		return err
	}
	if err := f.connect(ctx, res.conns, cfg.dialConcurrency); err != nil {
		return err
	}
	res.connectTime = time.Since(start)
	logf(stderr, "%d connections open in %.1fs", res.conns, res.connectTime.Seconds())
	if err := waitServerSees(ctx, srv, int64(res.conns)); err != nil {
		return err
	}
	cpu1, err := procfs.CPUTime(cfg.serverPID)
	if err != nil {
		return err
	}
	res.cpuConnect = cpu1 - cpu0

	logf(stderr, "idle for %v so the server's GC settles", cfg.settle)
	select {
	case <-time.After(cfg.settle):
	case <-ctx.Done():
		return fmt.Errorf("settle: %w", ctx.Err())
	}
	if res.rssIdle, err = residentBytes(cfg.serverPID); err != nil {
		return err
	}
	res.rtIdle, _ = scrapeRuntime(ctx, srv)

	logf(stderr, "fanning out %d single-row inserts, %v apart", cfg.rounds, cfg.spacing)
	cpu0, err = procfs.CPUTime(cfg.serverPID)
	if err != nil {
		return err
	}
	if err := fanOut(ctx, cfg, db, f, &res, stderr); err != nil {
		return err
	}
	cpu1, err = procfs.CPUTime(cfg.serverPID)
	if err != nil {
		return err
	}
	res.cpuFanOut = cpu1 - cpu0
	if res.rssAfter, err = residentBytes(cfg.serverPID); err != nil {
		return err
	}
	res.benchRSS, _ = residentBytes(os.Getpid())
	res.stray, res.bad, res.closed = f.stray.Load(), f.badMsgs.Load(), f.closed.Load()
	res.closeReport = f.closeReport()
	// The floor needs the file descriptors the connections held.
	f.closeAll()
	res.msgLen = int(f.msgLen.Load())
	if cfg.payloadSizeFile != "" {
		if err := os.WriteFile(cfg.payloadSizeFile, []byte(strconv.Itoa(res.msgLen)), 0o600); err != nil {
			return fmt.Errorf("--payload-size-file: %w", err)
		}
	}
	// The floor writes what the server wrote for one message: a frame, or
	// an event (id and data lines).
	wireLen := hub.FrameLen(res.msgLen)
	if cfg.sse() {
		wireLen = hub.SSELen(res.msgLen)
	}
	logf(stderr, "measuring the floor (raw syscalls) for a %d-byte %s", wireLen, cfg.unit())
	res.floor, res.floorErr = floor.Measure(floor.Options{MessageSize: wireLen, Pairs: min(9000, (res.conns+1)/2)})
	printSummary(stdout, cfg, &res)
	if res.missing > 0 || res.dups > 0 || res.closed > 0 || res.bad > 0 {
		return fmt.Errorf("the server lost %d deliveries, duplicated %d, sent %d undecodable messages and closed %d connections", res.missing, res.dups, res.bad, res.closed)
	}
	return nil
}

// waitServerSees waits until the server counts every connection (the last
// upgrades may still be registering when the clients return) and its
// PostgreSQL listener is connected.
func waitServerSees(ctx context.Context, srv *srvclient.Client, n int64) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, listening, err := serverHealth(ctx, srv)
		if err != nil {
			return err
		}
		if got == n && listening {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 60s the server reports %d connections (the bench opened %d), PostgreSQL listener connected: %v", got, n, listening)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("waiting for the server to count connections: %w", ctx.Err())
		}
	}
}

// fanOut inserts one row per round and times its arrival at every client.
func fanOut(ctx context.Context, cfg config, db *sql.DB, f *fleet, res *result, stderr io.Writer) error {
	var lasts, firsts, deliveries []time.Duration
	res.rounds = cfg.rounds
	for i := range cfg.rounds {
		start := time.Now()
		r := newRound(res.conns)
		f.cur.Store(r)
		if cfg.publishURL != "" {
			if err := publish(ctx, cfg.publishURL, int64(i+1), cfg.publishSize); err != nil {
				return err
			}
		} else if err := pgsource.Insert(ctx, db, cfg.table, 1); err != nil {
			return err
		}
		select {
		case <-r.done:
		case <-time.After(cfg.roundTimeout):
		case <-ctx.Done():
			return fmt.Errorf("round %d: %w", i+1, ctx.Err())
		}
		// Wait out the spacing here, so duplicates of this row would land
		// in this round's count.
		select {
		case <-time.After(time.Until(start.Add(cfg.spacing))):
		case <-ctx.Done():
			return fmt.Errorf("round %d: %w", i+1, ctx.Err())
		}
		f.cur.Store(nil)
		got := min(r.got.Load(), r.want)
		res.delivered += got
		res.missing += r.want - got
		res.dups += r.dups.Load()
		if got == 0 {
			logf(stderr, "round %d: no client got the row within %v", i+1, cfg.roundTimeout)
			continue
		}
		ts := r.ts.Load()
		lo, hi := int64(1<<62), int64(0)
		for k := range got {
			at := r.at[k].Load()
			if at == 0 {
				continue
			}
			lo, hi = min(lo, at), max(hi, at)
			deliveries = append(deliveries, time.Duration(at-ts)*time.Microsecond)
		}
		firsts = append(firsts, time.Duration(lo-ts)*time.Microsecond)
		if got == r.want {
			res.completeRnds++
			lasts = append(lasts, time.Duration(hi-ts)*time.Microsecond)
		} else {
			logf(stderr, "round %d: only %d of %d clients got row %d", i+1, got, r.want, r.id.Load())
		}
	}
	res.last, res.first, res.delivery = summarize(lasts), summarize(firsts), summarize(deliveries)
	return nil
}

func printSummary(w io.Writer, cfg config, r *result) {
	perConn := float64(r.rssIdle-r.rssBefore) / float64(r.conns)
	fmt.Fprintf(w, "\n=== massconn bench-server: %s, one server process, %d idle %s connections ===\n", cfg.target, r.conns, cfg.transportName())
	fmt.Fprintf(w, "connections        %d (open-file limit %d), opened in %.1fs, %d source address(es)\n",
		r.conns, r.limit, r.connectTime.Seconds(), (r.conns+cfg.perSource-1)/cfg.perSource)
	fmt.Fprintf(w, "server RSS         %s before connections, %s idle with them (after %v settle), %s after the fan-out\n",
		mib(r.rssBefore), mib(r.rssIdle), cfg.settle, mib(r.rssAfter))
	fmt.Fprintf(w, "RSS per idle conn  %-40s goal <= %s   %s\n", kib(perConn), kib(goalBytesPerConn), verdict(perConn <= goalBytesPerConn))
	if r.rtBefore != nil && r.rtIdle != nil {
		per := func(name string) string {
			b, okB := r.rtBefore[name]
			a, okA := r.rtIdle[name]
			if !okB || !okA {
				return "n/a"
			}
			return kib((a - b) / float64(r.conns))
		}
		fmt.Fprintf(w, "  of which (Go)    heap in use %s, stacks %s per conn; goroutines %.0f -> %.0f\n",
			per("go_memstats_heap_inuse_bytes"), per("go_memstats_stack_inuse_bytes"),
			r.rtBefore["go_goroutines"], r.rtIdle["go_goroutines"])
	}
	// Not the goal's figure, but what a server that has sent something
	// holds: garbage not yet returned to the OS, and the records of the
	// goroutine gws starts per connection to write, which Go keeps for
	// reuse and never frees.
	after := float64(r.rssAfter-r.rssBefore) / float64(r.conns)
	fmt.Fprintf(w, "RSS after fan-out  %-40s goal <= %s   %s\n", kib(after), kib(goalBytesAfterTraffic), verdict(after <= goalBytesAfterTraffic))
	fmt.Fprintf(w, "insert->last client  %s goal p99 <= %s   %s  (%d of %d rounds reached every client)\n",
		r.last, ms(goalP99), verdict(r.completeRnds == r.rounds && r.last.p99 <= goalP99), r.completeRnds, r.rounds)
	fmt.Fprintf(w, "insert->first client %s\n", r.first)
	fmt.Fprintf(w, "per delivery         %s (%d deliveries)\n", r.delivery, r.delivery.n)
	fmt.Fprintf(w, "deliveries         %d of %d; missing %d, duplicate/out of order %d, stray %d, undecodable %d\n",
		r.delivered, int64(r.conns)*int64(r.rounds), r.missing, r.dups, r.stray, r.bad)
	fmt.Fprintf(w, "connections closed by the server during the run: %d%s\n", r.closed, r.closeReport)
	printCPU(w, r)
	fmt.Fprintf(w, "bench client RSS   %s (not part of the server figure); kernel socket memory is not in either\n", mib(r.benchRSS))
	fmt.Fprintf(w, "machine            %d CPUs shared by server, clients and PostgreSQL; latency = client receive time - PostgreSQL clock_timestamp() of the insert (same clock)\n", runtime.NumCPU())
}

// printCPU puts the server's CPU per accepted connection and per delivered
// message next to the floor measured in this run and the ratio to it.
func printCPU(w io.Writer, r *result) {
	perAccept := r.cpuConnect / time.Duration(max(r.conns, 1))
	perMsg := time.Duration(0)
	if r.delivered > 0 {
		perMsg = r.cpuFanOut / time.Duration(r.delivered)
	}
	if r.floorErr != nil {
		fmt.Fprintf(w, "floor              not measured: %v\n", r.floorErr)
	} else {
		fmt.Fprintf(w, "floor (this run)   %s\n", r.floor)
	}
	fl := r.floor
	fmt.Fprintf(w, "server CPU per accepted conn  %-10s goal <= %s   %s   floor connect+accept+upgrade %s (both ends), ratio %s\n",
		floor.Micros(perAccept), floor.Micros(goalCPUPerAccept), verdict(perAccept <= goalCPUPerAccept),
		floor.Micros(fl.ConnectAccept+fl.Upgrade), floor.Ratio(perAccept, fl.ConnectAccept+fl.Upgrade))
	fmt.Fprintf(w, "server CPU per delivered msg  %-10s goal <= %.1fx floor write   %s   floor write %s, ratio %s (floor delivery, both ends, %s)\n",
		floor.Micros(perMsg), goalDeliveryOverWrite,
		verdict(fl.Write > 0 && float64(perMsg) <= goalDeliveryOverWrite*float64(fl.Write)),
		floor.Micros(fl.Write), floor.Ratio(perMsg, fl.Write), floor.Micros(fl.Delivery()))
	// The same goal against the write measured the way the floor's issue
	// measured it: with a reader awake on another thread.
	fmt.Fprintf(w, "  against the floor's write with a reader awake  goal <= %.1fx   %s   floor write %s, ratio %s\n",
		goalDeliveryOverWrite,
		verdict(fl.WriteConcurrent > 0 && float64(perMsg) <= goalDeliveryOverWrite*float64(fl.WriteConcurrent)),
		floor.Micros(fl.WriteConcurrent), floor.Ratio(perMsg, fl.WriteConcurrent))
	fmt.Fprintf(w, "  (server CPU from /proc/PID/stat, 10 ms ticks: %s while connecting, %s over %d fan-out rounds incl. their idle spacing; %d-byte payload)\n",
		r.cpuConnect.Round(time.Millisecond), r.cpuFanOut.Round(time.Millisecond), r.rounds, r.msgLen)
}

// publish POSTs message number id, padded to size bytes, with the send
// time as ts (unix µs; the same clock as the clients' receive times).
func publish(ctx context.Context, url string, id int64, size int) error {
	head := fmt.Sprintf(`{"topic":"Track","op":"INSERT","id":%d,"ts":%d,"row":{"pad":"`, id, time.Now().UnixMicro())
	body := head + strings.Repeat("x", max(0, size-len(head)-3)) + `"}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("--publish-url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("publish message %d: %w", id, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	// Any success: nchan answers 201 or 202 with the channel's state.
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("publish message %d: %s answered %s", id, url, resp.Status)
	}
	return nil
}
