// Package serverbench is massconn-bench server (make bench-server): one
// massconn-server process against a throwaway PostgreSQL, as many idle
// WebSocket connections as the open-file limit allows (minus headroom),
// then a series of single-row inserts fanned out to all of them; then the
// same against nginx+nchan (one worker; WebSocket subscribers on one
// channel, messages POSTed to its publisher location) and the npm ws
// broadcast server in server/testdata/nodews, fed by POST /publish. The
// targets massconn-sse and nchan-sse are the first two with server-sent
// events subscribers (massconn-server's /sse, nchan's EventSource) in
// place of WebSocket ones. The load client is the fanout package; this package
// starts and stops what it measures. Bounded in time (--max-duration) and
// count; stops everything it started.
package serverbench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/massconn/massconn/cmd/massconn-bench/internal/benchenv"
	"github.com/massconn/massconn/cmd/massconn-bench/internal/fanout"
	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/launch"
	"github.com/massconn/massconn/internal/nchantest"
	"github.com/massconn/massconn/internal/procfs"
	"github.com/massconn/massconn/internal/tempdb"
	"github.com/massconn/massconn/server/client"
)

// stopGrace is how long a server gets after SIGTERM before it is killed.
const stopGrace = 15 * time.Second

type config struct {
	server      string
	nodeDir     string
	targets     []string
	conns       string
	rounds      string
	settle      string
	maxDuration string
	serverFlags []string
	databaseURL string
	publishSize string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("massconn-bench server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.server, "server", benchenv.Or("SERVER", "bin/massconn-server"), "massconn-server binary (env SERVER)")
	fs.StringVar(&c.nodeDir, "nodews", "server/testdata/nodews", "directory of the Node.js ws broadcast server, with node_modules installed")
	targets := fs.String("targets", benchenv.Or("TARGETS", "massconn massconn-sse nchan nchan-sse nodews"), "servers to measure one after the other in this run, in this order: massconn, massconn-sse (its /sse), nchan (nginx+nchan, one worker), nchan-sse (its EventSource), nodews (env TARGETS)")
	fs.StringVar(&c.conns, "conns", benchenv.Or("CONNS", "0"), "connections (0: open-file limit minus 2000) (env CONNS)")
	fs.StringVar(&c.rounds, "rounds", benchenv.Or("ROUNDS", "20"), "single-row inserts to time (env ROUNDS)")
	fs.StringVar(&c.settle, "settle", benchenv.Or("SETTLE", "10s"), "idle time before reading RSS (env SETTLE)")
	fs.StringVar(&c.maxDuration, "max-duration", benchenv.Or("BENCH_MAX_DURATION", "10m"), "bound on each client run (env BENCH_MAX_DURATION)")
	serverFlags := fs.String("server-flags", os.Getenv("SERVER_FLAGS"), "extra flags for massconn-server serve, separated by spaces (env SERVER_FLAGS)")
	fs.StringVar(&c.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "use this database instead of a throwaway one (env DATABASE_URL)")
	fs.StringVar(&c.publishSize, "publish-size", os.Getenv("PUBLISH_SIZE"), "bytes of each message sent to nodews (default: the size of massconn-server's message for one Track row) (env PUBLISH_SIZE)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q; all options are --flags", fs.Arg(0))
	}
	c.targets = strings.Fields(*targets)
	for _, t := range c.targets {
		if !slices.Contains(targetOrder, t) {
			return c, fmt.Errorf("unknown target %q in --targets (TARGETS); use any of %s", t, strings.Join(targetOrder, ", "))
		}
	}
	c.serverFlags = strings.Fields(*serverFlags)
	return c, nil
}

// Run is massconn-bench server.
func Run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "massconn-bench server: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := bench(ctx, cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "massconn-bench server: %v\n", err)
		return 1
	}
	return code
}

// fanoutArgs are the load client's flags common to both targets.
func (c config) fanoutArgs() []string {
	return []string{"--conns", c.conns, "--rounds", c.rounds, "--settle", c.settle, "--max-duration", c.maxDuration}
}

// bench measures each target in turn. A target whose client run fails does
// not stop the next one; the exit code is the last failing run's.
func bench(ctx context.Context, cfg config, stdout, stderr io.Writer) (int, error) {
	work, err := os.MkdirTemp("", "massconn-bench-server-")
	if err != nil {
		return 1, fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(work)
	status := 0
	payloadSizeFile := filepath.Join(work, "payload-size")
	for _, t := range targetOrder {
		if !slices.Contains(cfg.targets, t) {
			continue
		}
		var code int
		switch t {
		case "massconn", "massconn-sse":
			code, err = benchMassconn(ctx, cfg, work, payloadSizeFile, t == "massconn-sse", stdout, stderr)
		case "nchan", "nchan-sse":
			code, err = benchNchan(ctx, cfg, work, payloadSizeFile, t == "nchan-sse", stdout, stderr)
		case "nodews":
			code, err = benchNode(ctx, cfg, work, payloadSizeFile, stdout, stderr)
		}
		if err != nil {
			return 1, err
		}
		if code != 0 {
			status = code
		}
	}
	return status, nil
}

// targetOrder is every target, in the order a run measures them: the
// massconn ones first, as they size the messages of the others.
var targetOrder = []string{"massconn", "massconn-sse", "nchan", "nchan-sse", "nodews"}

// benchMassconn measures massconn-server with WebSocket clients on /ws, or
// with sse, EventSource clients on /sse.
func benchMassconn(ctx context.Context, cfg config, work, payloadSizeFile string, sse bool, stdout, stderr io.Writer) (int, error) {
	if fi, err := os.Stat(cfg.server); err != nil || fi.IsDir() {
		return 1, fmt.Errorf("--server %s not found; build it first: make bin/massconn-server", cfg.server)
	}
	dbURL := cfg.databaseURL
	if dbURL == "" {
		pg, err := tempdb.New()
		if err != nil {
			return 1, fmt.Errorf("throwaway PostgreSQL (or set DATABASE_URL): %w", err)
		}
		defer func() { _ = pg.Stop() }()
		dbURL = pg.URL()
		fmt.Fprintf(stderr, "bench-server: PostgreSQL on 127.0.0.1:%d\n", pg.Port())
	}
	port, err := freeport.Loopback()
	if err != nil {
		return 1, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	// --max-conns far above the bench, so it never refuses one of its
	// clients. The SSE heartbeat an hour apart: the fan-out's CPU is then
	// the events' alone, as nchan's (no ping configured) is; SERVER_FLAGS
	// come later, so they may set it.
	args := append([]string{"serve", "--listen", listen, "--database-url", dbURL,
		"--max-conns", "1000000", "--log-level", "warn", "--sse-heartbeat", "1h"}, cfg.serverFlags...)
	srv, err := launch.Start(launch.Spec{Name: "massconn-server", Log: filepath.Join(work, "server.log"), Bin: cfg.server, Args: args})
	if err != nil {
		return 1, err
	}
	defer func() {
		if err := srv.Stop(stopGrace); err != nil {
			fmt.Fprintf(stderr, "bench-server: %v\n", err)
		}
	}()
	if err := waitHealthy(ctx, srv, listen); err != nil {
		return 1, err
	}
	target, subURL := "massconn-server", "ws://"+listen+"/ws?topic=Track"
	if sse {
		target, subURL = "massconn-server /sse", "http://"+listen+"/sse?topic=Track"
	}
	code := fanout.Run(append([]string{
		"--target", target,
		"--url", subURL,
		"--database-url", dbURL,
		"--server-pid", fmt.Sprint(srv.PID()),
		"--payload-size-file", payloadSizeFile,
	}, cfg.fanoutArgs()...), stdout, stderr)
	if tail := srv.Tail(20); tail != "" {
		fmt.Fprintf(stderr, "--- server log (warnings and errors) ---\n%s\n", tail)
	}
	return code, nil
}

// publishSize is the size of the messages sent to a target fed over
// HTTP: --publish-size, else the size massconn-server sent in this run.
func (c config) publishSizeOr(payloadSizeFile string) string {
	if c.publishSize != "" {
		return c.publishSize
	}
	if b, err := os.ReadFile(payloadSizeFile); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "200"
}

// benchNchan measures nginx+nchan with one worker (the process whose RSS
// and CPU the client reads: the master only waits for signals), its
// subscribers WebSocket ones or, with sse, EventSource ones.
func benchNchan(ctx context.Context, cfg config, work, payloadSizeFile string, sse bool, stdout, stderr io.Writer) (int, error) {
	nofile, err := procfs.OpenFileLimit(0)
	if err != nil {
		return 1, err
	}
	dir := filepath.Join(work, "nchan")
	if sse {
		dir += "-sse"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 1, fmt.Errorf("nchan prefix: %w", err)
	}
	srv, err := nchantest.New(nchantest.Options{WorkerConnections: int(min(nofile, 1<<20)) - 100, Workers: 1}, dir) //nolint:gosec // bounded above
	if err != nil {
		return 1, err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(stderr, "bench-server: %v\n", err)
		}
	}()
	workers, err := procfs.System{}.Children(srv.PID())
	if err != nil {
		return 1, fmt.Errorf("nginx+nchan (master pid %d): its worker: %w", srv.PID(), err)
	}
	if len(workers) != 1 {
		return 1, fmt.Errorf("nginx+nchan (master pid %d): want one worker process, found %v", srv.PID(), workers)
	}
	health, err := nchanHealth(srv)
	if err != nil {
		return 1, err
	}
	defer health.Close()
	select {
	case <-time.After(2 * time.Second): // start-up allocations settle, as for the others
	case <-ctx.Done():
		return 1, ctx.Err()
	}
	target, subURL := "nginx+nchan (1 worker)", srv.SubURL("bench")
	if sse {
		target, subURL = "nginx+nchan EventSource (1 worker)", srv.EventSourceURL("bench")
	}
	return fanout.Run(append([]string{
		"--target", target,
		"--health-addr", health.Addr().String(),
		"--url", subURL,
		"--publish-url", srv.PubURL("bench"),
		"--publish-size", cfg.publishSizeOr(payloadSizeFile),
		"--server-pid", fmt.Sprint(workers[0]),
	}, cfg.fanoutArgs()...), stdout, stderr), nil
}

// nchanHealth answers GET /healthz on a loopback port in the shape the
// load client reads from massconn-server, with nchan's subscriber count
// (nginx has no such endpoint of its own; nchan has no listener to wait
// for, so it is always "connected").
func nchanHealth(srv *nchantest.Server) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("nchan health shim: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		n, err := srv.Subscribers(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"connections": n, "listener": "connected"})
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()
	return ln, nil
}

func benchNode(ctx context.Context, cfg config, work, payloadSizeFile string, stdout, stderr io.Writer) (int, error) {
	if _, err := os.Stat(filepath.Join(cfg.nodeDir, "node_modules")); err != nil {
		return 1, fmt.Errorf("%s/node_modules missing; run make server/testdata/nodews/node_modules", cfg.nodeDir)
	}
	// The Node.js target sends messages of the size massconn-server sent.
	size := cfg.publishSizeOr(payloadSizeFile)
	target, err := nodeTargetName(cfg.nodeDir)
	if err != nil {
		return 1, err
	}
	port, err := freeport.Loopback()
	if err != nil {
		return 1, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	node, err := launch.Start(launch.Spec{Name: "nodews", Log: filepath.Join(work, "node.log"), Bin: "node",
		Args: []string{filepath.Join(cfg.nodeDir, "server.js"), "--listen", listen}})
	if err != nil {
		return 1, err
	}
	defer func() {
		if err := node.Stop(stopGrace); err != nil {
			fmt.Fprintf(stderr, "bench-server: %v\n", err)
		}
	}()
	if err := waitHealthy(ctx, node, listen); err != nil {
		return 1, err
	}
	return fanout.Run(append([]string{
		"--target", target,
		"--url", "ws://" + listen + "/ws",
		"--publish-url", "http://" + listen + "/publish",
		"--publish-size", size,
		"--server-pid", fmt.Sprint(node.PID()),
	}, cfg.fanoutArgs()...), stdout, stderr), nil
}

// waitHealthy waits until the server answers /healthz with its listener
// connected (rows inserted before that would not be delivered), then lets
// its start-up allocations settle before the baseline RSS is read.
func waitHealthy(ctx context.Context, p *launch.Proc, listen string) error {
	err := p.WaitHealthy(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		return client.New(listen, 0).Ready(ctx)
	})
	if err != nil {
		return err
	}
	select {
	case <-time.After(2 * time.Second):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("settling %s: %w", p.Name, ctx.Err())
	}
}

// nodeTargetName names the Node.js target for the report: the ws
// package's version and node's.
func nodeTargetName(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "ws", "package.json"))
	if err != nil {
		return "", fmt.Errorf("the ws package of %s: %w", dir, err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("the ws package of %s: %w", dir, err)
	}
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node --version: %w", err)
	}
	return fmt.Sprintf("Node.js ws %s (node %s)", pkg.Version, strings.TrimSpace(string(out))), nil
}
