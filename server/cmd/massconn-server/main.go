// Command massconn-server is the reference realtime server: rows inserted
// into PostgreSQL, fanned out to WebSocket clients.
//
//	massconn-server serve   --listen 127.0.0.1:8080 --database-url URL
//	massconn-server migrate --database-url URL
//	massconn-server insert  --database-url URL --every 1s [--count N] [--table Track]
//
// Every flag can also come from the environment: --database-url from
// DATABASE_URL, --max-conns from MAX_CONNS, and so on. Flags win.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/pgsource"
)

// exitUsage is the exit status for bad command lines.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"serve", "run the WebSocket server fed by PostgreSQL", runServe},
	{"migrate", "apply the schema (tables and notify triggers) and exit", runMigrate},
	{"insert", "insert rows at a steady rate, like the Supabase benchmark's insert loop", runInsert},
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, "usage: massconn-server <command> [flags]; commands:")
		for _, c := range commands {
			fmt.Fprintf(stdout, "  %-8s %s\n", c.name, c.usage)
		}
		fmt.Fprintln(stdout, "run 'massconn-server <command> -h' for its flags")
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "massconn-server: unknown command %q; use one of serve, migrate, insert\n", args[0])
	return exitUsage
}

// flagSet wraps flag.FlagSet with environment fallbacks and one-line errors.
type flagSet struct {
	*flag.FlagSet
	hints map[string]string // flag name -> how to write a good value
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet("massconn-server "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flagSet{FlagSet: fs, hints: map[string]string{}}
}

func (f *flagSet) duration(p *time.Duration, name string, def time.Duration, usage string) {
	f.DurationVar(p, name, def, usage)
	f.hints[name] = "use a Go duration such as 500ms, 1s or 2m"
}

func (f *flagSet) integer(p *int, name string, def int, usage string) {
	f.IntVar(p, name, def, usage)
	f.hints[name] = "use a whole number"
}

func envName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse applies environment values first, then the command line. It
// returns a non-negative exit status when the program should stop.
func (f *flagSet) parse(args []string, stdout, stderr io.Writer) int {
	var envErr error
	f.VisitAll(func(fl *flag.Flag) {
		v, ok := os.LookupEnv(envName(fl.Name))
		if !ok || v == "" || envErr != nil {
			return
		}
		if err := fl.Value.Set(v); err != nil {
			envErr = fmt.Errorf("invalid value %q in %s (for --%s): %w; %s", v, envName(fl.Name), fl.Name, err, f.hint(fl.Name))
		}
	})
	if envErr != nil {
		fmt.Fprintf(stderr, "%s: %v\n", f.Name(), envErr)
		return exitUsage
	}
	err := f.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.usage(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "%s: %s\n", f.Name(), f.explain(err))
		return exitUsage
	case f.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q; all options are --flags (run with -h to list them)\n", f.Name(), f.Arg(0))
		return exitUsage
	}
	return -1
}

func (f *flagSet) hint(name string) string {
	if h, ok := f.hints[name]; ok {
		return h
	}
	return "run with -h to see the expected value"
}

// explain turns the flag package's errors into one line with a fix.
func (f *flagSet) explain(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Sprintf("unknown flag --%s; run '%s -h' to list the flags", name, f.Name())
	}
	if strings.HasPrefix(msg, "invalid value") {
		// invalid value "x" for flag -every: parse error
		if i := strings.Index(msg, " for flag -"); i >= 0 {
			rest := msg[i+len(" for flag -"):]
			name, _, _ := strings.Cut(rest, ":")
			return fmt.Sprintf("%s; %s", strings.Replace(msg, "flag -"+name, "flag --"+name, 1), f.hint(name))
		}
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("flag --%s needs a value (--%s=VALUE); %s", name, name, f.hint(name))
	}
	return msg
}

func (f *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s [flags]; each flag may also be set by the environment variable shown\n", f.Name())
	f.VisitAll(func(fl *flag.Flag) {
		fmt.Fprintf(w, "  --%s (%s, default %q)\n      %s\n", fl.Name, envName(fl.Name), fl.DefValue, fl.Usage)
	})
}

func badValue(stderr io.Writer, cmd, msg string) int {
	fmt.Fprintf(stderr, "massconn-server %s: %s\n", cmd, msg)
	return exitUsage
}

func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid value %q for flag --log-level; use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}

const databaseURLHelp = "PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func requireDatabaseURL(stderr io.Writer, cmd, url string) int {
	if url == "" {
		return badValue(stderr, cmd, "missing --database-url (or DATABASE_URL); pass a "+databaseURLHelp)
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") && !strings.Contains(url, "=") {
		return badValue(stderr, cmd, fmt.Sprintf("--database-url %q is not a PostgreSQL URL; pass a %s", url, databaseURLHelp))
	}
	return -1
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := app.Defaults()
	var logLevel string
	gcPercent := defaultGCPercent()
	fs := newFlagSet("serve")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve HTTP and WebSocket on")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", databaseURLHelp)
	fs.integer(&cfg.MaxConns, "max-conns", cfg.MaxConns, "most WebSocket connections held; beyond: HTTP 503 before the upgrade (default: 100000, or the open-file limit minus headroom if lower)")
	fs.integer(&cfg.ReadLimit, "read-limit", cfg.ReadLimit, "largest message a client may send, bytes; beyond: close 1009")
	fs.duration(&cfg.HandshakeTimeout, "handshake-timeout", cfg.HandshakeTimeout, "time allowed for the upgrade request and response")
	fs.duration(&cfg.PingInterval, "ping-interval", cfg.PingInterval, "how often the server pings every client")
	fs.duration(&cfg.PingTimeout, "ping-timeout", 0, "drop a client that sent nothing (not even a pong) for this long (default 2 x --ping-interval)")
	fs.duration(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "on SIGTERM, how long to wait for clients to take their close 1001")
	fs.integer(&cfg.Shards, "shards", cfg.Shards, "number of independently locked subscriber lists in the hub")
	fs.integer(&cfg.QueueLimit, "queue-limit", cfg.QueueLimit, "most messages queued for one client (a memory bound): at it, publishing waits for that client until it drains or --slow-after closes it")
	fs.duration(&cfg.SlowAfter, "slow-after", cfg.SlowAfter, "close a client (1008) whose oldest unsent message waited this long; it can resume with ?after=POS")
	fs.duration(&cfg.History, "history", cfg.History, "keep rows in massconn_log this long for clients resuming with ?after=POS (older: close 4410); 0 keeps them forever")
	fs.integer(&gcPercent, "gc-percent", gcPercent, "Go GC target, as GOGC: heap growth in percent before a collection, or -1 for none (default 25, or $GOGC when set)")
	var origins string
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated Origin values browsers may connect from, e.g. https://app.example.com (default: any; requests without Origin are not from browsers and always pass)")
	fs.StringVar(&cfg.AuthToken, "auth-token", "", "require this token on /ws as 'Authorization: Bearer TOKEN' or ?access_token=TOKEN (default: none)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve https:// and wss:// instead of plain HTTP; needs --tls-key")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	var pprofAddr string
	fs.StringVar(&pprofAddr, "pprof", "", "serve Go's profiles (/debug/pprof/) on this separate host:port, e.g. 127.0.0.1:6060 (default: off)")
	if code := fs.parse(args, stdout, stderr); code >= 0 {
		return code
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if !strings.Contains(o, "://") {
				return badValue(stderr, "serve", fmt.Sprintf("--allowed-origins entry %q is not an origin; write scheme://host[:port], e.g. https://app.example.com", o))
			}
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	if code := requireDatabaseURL(stderr, "serve", cfg.DatabaseURL); code >= 0 {
		return code
	}
	checks := []struct {
		bad bool
		msg string
	}{
		{cfg.Listen == "" || !strings.Contains(cfg.Listen, ":"), fmt.Sprintf("--listen %q needs host:port, e.g. 127.0.0.1:8080 (or :8080 for all interfaces)", cfg.Listen)},
		{cfg.MaxConns < 1, fmt.Sprintf("--max-conns must be at least 1, got %d", cfg.MaxConns)},
		{cfg.ReadLimit < 1, fmt.Sprintf("--read-limit must be at least 1 byte, got %d", cfg.ReadLimit)},
		{cfg.HandshakeTimeout <= 0, "--handshake-timeout must be positive, e.g. 5s"},
		{cfg.PingInterval <= 0, "--ping-interval must be positive, e.g. 30s"},
		{cfg.PingTimeout < 0, "--ping-timeout must be positive, e.g. 60s (or leave it unset)"},
		{cfg.PingTimeout > 0 && cfg.PingTimeout <= cfg.PingInterval, "--ping-timeout must be longer than --ping-interval, or clients are dropped between two pings"},
		{cfg.ShutdownTimeout <= 0, "--shutdown-timeout must be positive, e.g. 10s"},
		{cfg.Shards < 1 || cfg.Shards > 65536, fmt.Sprintf("--shards must be between 1 and 65536, got %d", cfg.Shards)},
		{cfg.QueueLimit < 1, fmt.Sprintf("--queue-limit must be at least 1, got %d", cfg.QueueLimit)},
		{cfg.SlowAfter <= 0, "--slow-after must be positive, e.g. 10s"},
		{cfg.History < 0, "--history must be 0 (keep forever) or positive, e.g. 1h"},
		{cfg.History > 0 && cfg.History < time.Second, fmt.Sprintf("--history %v is shorter than a second: clients could not resume; use e.g. 1h, or 0 to keep forever", cfg.History)},
		{gcPercent == 0 || gcPercent < -1, fmt.Sprintf("--gc-percent must be a positive percentage such as 25, or -1 to turn the GC off, got %d", gcPercent)},
	}
	for _, c := range checks {
		if c.bad {
			return badValue(stderr, "serve", c.msg)
		}
	}
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return badValue(stderr, "serve", err.Error())
	}
	cfg.Logger = log
	debug.SetGCPercent(gcPercent)
	if pprofAddr != "" {
		stopPprof, err := servePprof(pprofAddr, log)
		if err != nil {
			return badValue(stderr, "serve", err.Error())
		}
		defer stopPprof()
	}
	err = app.Run(ctx, cfg, func(a *app.App) {
		scheme, ws := "http", "ws"
		if a.TLS() {
			scheme, ws = "https", "wss"
		}
		log.Info("serving", "addr", a.Addr(), "status_page", scheme+"://"+a.Addr()+"/", "websocket", ws+"://"+a.Addr()+"/ws")
	})
	if err != nil {
		fmt.Fprintf(stderr, "massconn-server serve: %v\n", err)
		return 1
	}
	return 0
}

// serveGCPercent is the server's default GC target. The server's heap is
// mostly long-lived connection state, and Go keeps freed memory up to its
// next GC goal (twice the live heap at the usual GOGC=100) instead of
// returning it, so the default would make every idle connection cost about
// twice its live size in RSS. Publishing spends far more time in write
// syscalls than the extra collections cost.
const serveGCPercent = 25

// defaultGCPercent is serveGCPercent unless the GOGC environment variable
// already chose a value, which the runtime has applied.
func defaultGCPercent() int {
	if os.Getenv("GOGC") == "" {
		return serveGCPercent
	}
	current := debug.SetGCPercent(100)
	debug.SetGCPercent(current)
	return current
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var url string
	fs := newFlagSet("migrate")
	fs.StringVar(&url, "database-url", "", databaseURLHelp)
	if code := fs.parse(args, stdout, stderr); code >= 0 {
		return code
	}
	if code := requireDatabaseURL(stderr, "migrate", url); code >= 0 {
		return code
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		fmt.Fprintf(stderr, "massconn-server migrate: open --database-url: %v\n", err)
		return 1
	}
	defer db.Close()
	if err := pgsource.Migrate(ctx, db); err != nil {
		fmt.Fprintf(stderr, "massconn-server migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "schema applied: tables %s with commit-time triggers logging to massconn_log and notifying %q\n", strings.Join(pgsource.Tables, ", "), pgsource.Channel)
	return 0
}

func runInsert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var url, table string
	var every time.Duration
	var count int64
	fs := newFlagSet("insert")
	fs.StringVar(&url, "database-url", "", databaseURLHelp)
	fs.duration(&every, "every", time.Second, "insert one row per interval (down to 1ms)")
	fs.Int64Var(&count, "count", 0, "stop after this many rows (0: until Ctrl-C)")
	fs.hints["count"] = "use a whole number (0 for no limit)"
	fs.StringVar(&table, "table", "Track", "table to insert into: "+strings.Join(pgsource.Tables, ", "))
	if code := fs.parse(args, stdout, stderr); code >= 0 {
		return code
	}
	if code := requireDatabaseURL(stderr, "insert", url); code >= 0 {
		return code
	}
	switch {
	case every < time.Millisecond:
		return badValue(stderr, "insert", fmt.Sprintf("--every must be at least 1ms, got %v", every))
	case count < 0:
		return badValue(stderr, "insert", fmt.Sprintf("--count must be 0 (no limit) or more, got %d", count))
	case !pgsource.KnownTable(table):
		return badValue(stderr, "insert", fmt.Sprintf("unknown --table %q; use one of %s", table, strings.Join(pgsource.Tables, ", ")))
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		fmt.Fprintf(stderr, "massconn-server insert: open --database-url: %v\n", err)
		return 1
	}
	defer db.Close()
	if err := pgsource.Migrate(ctx, db); err != nil {
		fmt.Fprintf(stderr, "massconn-server insert: %v\n", err)
		return 1
	}
	rep, err := pgsource.InsertLoop(ctx, db, pgsource.InsertConfig{
		Table: table, Every: every, Count: count, ReportEvery: 10 * time.Second,
		Report: func(r pgsource.InsertReport) {
			fmt.Fprintf(stdout, "inserted %d rows into %s in %.1fs (%.1f rows/s, asked %.1f)\n",
				r.Rows, table, r.Elapsed.Seconds(), r.Rate(), float64(time.Second)/float64(every))
		},
	})
	fmt.Fprintf(stdout, "done: inserted %d rows into %s in %.2fs (%.1f rows/s, asked %.1f)\n",
		rep.Rows, table, rep.Elapsed.Seconds(), rep.Rate(), float64(time.Second)/float64(every))
	if err != nil {
		fmt.Fprintf(stderr, "massconn-server insert: %v\n", err)
		return 1
	}
	return 0
}
