// Package runlocal is massconn-bench run (make run): the target side alone
// — a throwaway PostgreSQL, massconn-server in front of it and the insert
// loop feeding it one row a second — running until Ctrl-C, for pointing
// your own k6 scripts at. Everything it started is stopped and its
// temporary files removed on exit, Ctrl-C or SIGTERM.
package runlocal

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/massconn/massconn/cmd/massconn-bench/internal/benchenv"
	"github.com/massconn/massconn/internal/launch"
	"github.com/massconn/massconn/internal/tempdb"
	"github.com/massconn/massconn/server/client"
)

// Run is massconn-bench run. Its flags default to the environment the
// Makefile passes (make run LISTEN=127.0.0.1:9000).
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("massconn-bench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", benchenv.Or("LISTEN", "127.0.0.1:8080"), "server address (env LISTEN)")
	every := fs.String("insert-every", benchenv.Or("INSERT_EVERY", "1s"), "insert interval, a Go duration (env INSERT_EVERY)")
	table := fs.String("insert-table", benchenv.Or("INSERT_TABLE", "Track"), "table the insert loop writes to (env INSERT_TABLE)")
	server := fs.String("server", benchenv.Or("SERVER", "bin/massconn-server"), "server binary (env SERVER)")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "use this database instead of a throwaway one, left as is (env DATABASE_URL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "massconn-bench run: unexpected argument %q; all options are --flags\n", fs.Arg(0))
		return 2
	}
	if fi, err := os.Stat(*server); err != nil || fi.IsDir() {
		fmt.Fprintf(stderr, "run-local: %s not found; build it first: make bin/massconn-server\n", *server)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *server, *listen, *every, *table, *dbURL, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "run-local: %v\n", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, server, listen, every, table, dbURL string, stdout, stderr io.Writer) error {
	if dbURL == "" {
		pg, err := tempdb.New()
		if err != nil {
			return fmt.Errorf("throwaway PostgreSQL (or set DATABASE_URL): %w", err)
		}
		defer func() { _ = pg.Stop() }()
		dbURL = pg.URL()
	}
	var mu sync.Mutex
	srv, err := launch.Start(launch.Spec{Name: "massconn-server", Bin: server, Out: &prefixWriter{mu: &mu, w: stdout, prefix: "[server] "},
		Args: []string{"serve", "--listen", listen, "--database-url", dbURL}})
	if err != nil {
		return err
	}
	var ins *launch.Proc
	defer func() {
		fmt.Fprintln(stderr, "run-local: stopping insert loop, server and database")
		_ = ins.Stop(15 * time.Second)
		_ = srv.Stop(15 * time.Second)
		fmt.Fprintln(stderr, "run-local: stopped")
	}()
	c := client.New(listen, time.Second)
	err = srv.WaitHealthy(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) { return c.Ready(ctx) })
	if err != nil {
		return fmt.Errorf("%w (see [server] lines above; if the address is taken, set LISTEN=127.0.0.1:PORT)", err)
	}
	ins, err = launch.Start(launch.Spec{Name: "insert loop", Bin: server, Out: &prefixWriter{mu: &mu, w: stdout, prefix: "[insert] "},
		Args: []string{"insert", "--database-url", dbURL, "--every", every, "--table", table}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `
massconn is running: PostgreSQL -> massconn-server -> WebSocket clients,
with a row inserted into %[2]s every %[3]s.

  status page  http://%[1]s/
  WebSocket    ws://%[1]s/ws            (add ?topic=%[2]s to filter)
  health       http://%[1]s/healthz
  metrics      http://%[1]s/metrics
  database     %[4]s

Press Ctrl-C to stop everything.

`, listen, table, every, dbURL)
	// Until a signal, or until either process ends (on Ctrl-C in a terminal
	// the whole process group gets SIGINT, so both may stop by themselves).
	var ended *launch.Proc
	select {
	case <-ctx.Done():
		return nil
	case <-srv.Exited():
		ended = srv
	case <-ins.Exited():
		ended = ins
	}
	if err := ended.Wait(context.Background()); err != nil {
		return fmt.Errorf("%s failed: %w", ended.Name, err)
	}
	fmt.Fprintf(stderr, "run-local: %s stopped\n", ended.Name)
	return nil
}

// prefixWriter labels every line a process writes, whole lines at a time.
type prefixWriter struct {
	mu     *sync.Mutex // shared by the writers of one terminal
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, p.buf[:i+1]); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
}
