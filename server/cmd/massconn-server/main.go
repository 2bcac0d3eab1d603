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
	"strconv"
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

// flagSet wraps flag.FlagSet with environment fallbacks and one-line errors
// that name the flag and the fix. It finds unknown flags and missing values
// itself (check) and its values report their own parse errors (valueError),
// so no message depends on the flag package's wording.
type flagSet struct {
	*flag.FlagSet
	valueErr *flagError // the first value that failed to parse
}

// flagError is a bad command line, naming the flag at fault.
type flagError struct {
	flag string // without dashes
	msg  string // the whole message, with the fix
}

func (e *flagError) Error() string { return e.msg }

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet("massconn-server "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flagSet{FlagSet: fs}
}

// parsedValue is a flag value parsed by parse; hint says how to write a
// good one.
type parsedValue[T any] struct {
	p     *T
	parse func(string) (T, error)
	show  func(T) string
	hint  string
	owner *flagSet
	name  string
}

func (v *parsedValue[T]) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return v.show(*v.p)
}

func (v *parsedValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		problem := "parse error"
		if errors.Is(err, strconv.ErrRange) {
			problem = "value out of range"
		}
		fe := &flagError{flag: v.name, msg: fmt.Sprintf("invalid value %q for flag --%s: %s; %s", s, v.name, problem, v.hint)}
		if v.owner.valueErr == nil {
			v.owner.valueErr = fe
		}
		return fe
	}
	*v.p = x
	return nil
}

func defineValue[T any](f *flagSet, p *T, name string, def T, usage, hint string, parse func(string) (T, error), show func(T) string) {
	*p = def
	f.Var(&parsedValue[T]{p: p, parse: parse, show: show, hint: hint, owner: f, name: name}, name, usage)
}

func (f *flagSet) duration(p *time.Duration, name string, def time.Duration, usage string) {
	defineValue(f, p, name, def, usage, "use a Go duration such as 500ms, 1s or 2m", time.ParseDuration, time.Duration.String)
}

func (f *flagSet) integer(p *int, name string, def int, usage string) {
	defineValue(f, p, name, def, usage, "use a whole number", strconv.Atoi, strconv.Itoa)
}

func (f *flagSet) integer64(p *int64, name string, def int64, usage, hint string) {
	defineValue(f, p, name, def, usage, hint,
		func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) },
		func(n int64) string { return strconv.FormatInt(n, 10) })
}

func envName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// check finds what the flag package would reject before any value is
// parsed: an unknown flag, or a flag that needs a value given none. It
// scans the way flag.Parse does: up to "--" or the first argument that is
// not a flag.
func (f *flagSet) check(args []string) error {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" || len(arg) < 2 || arg[0] != '-' {
			return nil
		}
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		name, _, hasValue := strings.Cut(name, "=")
		fl := f.Lookup(name)
		switch {
		case name == "" || name[0] == '-' || name[0] == '=':
			return nil // bad syntax: flag.Parse says so
		case fl == nil && (name == "h" || name == "help"):
			return nil // flag.Parse answers with flag.ErrHelp
		case fl == nil:
			return &flagError{flag: name, msg: fmt.Sprintf("unknown flag --%s; run '%s -h' to list the flags", name, f.Name())}
		case hasValue || isBoolFlag(fl):
		case i+1 < len(args):
			i++ // the value
		default:
			return &flagError{flag: name, msg: fmt.Sprintf("flag --%s needs a value (--%s=VALUE); %s", name, name, f.hint(name))}
		}
	}
	return nil
}

func isBoolFlag(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
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
			envErr = fmt.Errorf("invalid value %q in %s (for --%s); %s", v, envName(fl.Name), fl.Name, f.hint(fl.Name))
		}
	})
	if envErr != nil {
		fmt.Fprintf(stderr, "%s: %v\n", f.Name(), envErr)
		return exitUsage
	}
	f.valueErr = nil
	if err := f.check(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", f.Name(), err)
		return exitUsage
	}
	err := f.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.usage(stdout)
		return 0
	case err != nil && f.valueErr != nil:
		fmt.Fprintf(stderr, "%s: %v\n", f.Name(), f.valueErr)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v; run '%s -h' to list the flags\n", f.Name(), err, f.Name())
		return exitUsage
	case f.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q; all options are --flags (run with -h to list them)\n", f.Name(), f.Arg(0))
		return exitUsage
	}
	return -1
}

// hint says how to write a good value for the flag name.
func (f *flagSet) hint(name string) string {
	if fl := f.Lookup(name); fl != nil {
		if v, ok := fl.Value.(interface{ valueHint() string }); ok {
			return v.valueHint()
		}
	}
	return "run with -h to see the expected value"
}

func (v *parsedValue[T]) valueHint() string { return v.hint }

func (f *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s [flags]; each flag may also be set by the environment variable shown\n", f.Name())
	f.VisitAll(func(fl *flag.Flag) {
		fmt.Fprintf(w, "  --%s (%s, default %q)\n      %s\n", fl.Name, envName(fl.Name), fl.DefValue, fl.Usage)
	})
}

func badValue(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "massconn-server %s: %v\n", cmd, err)
	return exitUsage
}

func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid value %q for flag --log-level; use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := app.Defaults()
	var logLevel string
	gcPercent := defaultGCPercent()
	fs := newFlagSet("serve")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve HTTP and WebSocket on")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", app.DatabaseURLHelp)
	fs.integer(&cfg.MaxConns, "max-conns", cfg.MaxConns, "most WebSocket connections held; beyond: HTTP 503 before the upgrade (default: 100000, or the open-file limit minus headroom if lower)")
	fs.integer(&cfg.ReadLimit, "read-limit", cfg.ReadLimit, "largest message a client may send, bytes; beyond: close 1009")
	fs.duration(&cfg.HandshakeTimeout, "handshake-timeout", cfg.HandshakeTimeout, "time allowed for the upgrade request and response")
	fs.duration(&cfg.PingInterval, "ping-interval", cfg.PingInterval, "how often the server pings every client")
	fs.duration(&cfg.PingTimeout, "ping-timeout", 0, "drop a client that sent nothing (not even a pong) for this long (default 2 x --ping-interval)")
	fs.duration(&cfg.SSEHeartbeat, "sse-heartbeat", cfg.SSEHeartbeat, "how often every /sse client gets a keep-alive comment line, each at its own phase of the interval")
	fs.duration(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "on SIGTERM, how long to wait for clients to take their close 1001")
	fs.integer(&cfg.Shards, "shards", cfg.Shards, "number of independently locked subscriber lists in the hub")
	fs.integer(&cfg.QueueLimit, "queue-limit", cfg.QueueLimit, "most messages queued for one client (a memory bound): at it, publishing waits for that client until it drains or --slow-after closes it")
	fs.duration(&cfg.SlowAfter, "slow-after", cfg.SlowAfter, "close a client (1008) whose socket refuses more and whose oldest unsent message waited this long since; it can resume with ?after=POS")
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
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	if err := cfg.Validate(); err != nil {
		return badValue(stderr, "serve", err)
	}
	if gcPercent == 0 || gcPercent < -1 {
		return badValue(stderr, "serve", fmt.Errorf("--gc-percent must be a positive percentage such as 25, or -1 to turn the GC off, got %d", gcPercent))
	}
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return badValue(stderr, "serve", err)
	}
	cfg.Logger = log
	debug.SetGCPercent(gcPercent)
	if pprofAddr != "" {
		stopPprof, err := servePprof(pprofAddr, log)
		if err != nil {
			return badValue(stderr, "serve", err)
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

// openMigrated opens the database at url and applies the schema.
func openMigrated(ctx context.Context, url string) (*sql.DB, error) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open --database-url: %w", err)
	}
	if err := pgsource.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var url string
	fs := newFlagSet("migrate")
	fs.StringVar(&url, "database-url", "", app.DatabaseURLHelp)
	if code := fs.parse(args, stdout, stderr); code >= 0 {
		return code
	}
	if err := app.CheckDatabaseURL(url); err != nil {
		return badValue(stderr, "migrate", err)
	}
	db, err := openMigrated(ctx, url)
	if err != nil {
		fmt.Fprintf(stderr, "massconn-server migrate: %v\n", err)
		return 1
	}
	defer db.Close()
	fmt.Fprintf(stdout, "schema applied: tables %s with commit-time triggers logging to massconn_log and notifying %q\n", strings.Join(pgsource.Tables, ", "), pgsource.Channel)
	return 0
}

func runInsert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var url, table string
	var every time.Duration
	var count int64
	fs := newFlagSet("insert")
	fs.StringVar(&url, "database-url", "", app.DatabaseURLHelp)
	fs.duration(&every, "every", time.Second, "insert one row per interval (down to 1ms)")
	fs.integer64(&count, "count", 0, "stop after this many rows (0: until Ctrl-C)", "use a whole number (0 for no limit)")
	fs.StringVar(&table, "table", "Track", "table to insert into: "+strings.Join(pgsource.Tables, ", "))
	if code := fs.parse(args, stdout, stderr); code >= 0 {
		return code
	}
	if err := app.CheckDatabaseURL(url); err != nil {
		return badValue(stderr, "insert", err)
	}
	switch {
	case every < time.Millisecond:
		return badValue(stderr, "insert", fmt.Errorf("--every must be at least 1ms, got %v", every))
	case count < 0:
		return badValue(stderr, "insert", fmt.Errorf("--count must be 0 (no limit) or more, got %d", count))
	case !pgsource.KnownTable(table):
		return badValue(stderr, "insert", fmt.Errorf("unknown --table %q; use one of %s", table, strings.Join(pgsource.Tables, ", ")))
	}
	db, err := openMigrated(ctx, url)
	if err != nil {
		fmt.Fprintf(stderr, "massconn-server insert: %v\n", err)
		return 1
	}
	defer db.Close()
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
