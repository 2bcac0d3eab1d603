// Package nchanserve is `massconn-bench nchan` (make nchan): nginx with the
// nchan module, a pub/sub server nobody on this project wrote, running in
// the foreground until Ctrl-C, as a target for `massconn-fleet run
// --target`: WebSocket subscribers on /sub?id=CHANNEL, HTTP publishers on
// /pub?id=CHANNEL.
package nchanserve

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/massconn/massconn/internal/nchantest"
	"github.com/massconn/massconn/internal/procfs"
)

// Run starts nginx+nchan and stops it on SIGINT or SIGTERM.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("massconn-bench nchan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "host:port nginx listens on")
	conns := fs.Int("connections", 0, "worker_connections of each worker: the connections one worker can hold, nchan's own included (0 = the open-file limit minus 100)")
	workers := fs.Int("workers", 1, "nginx worker processes (worker_processes); each holds up to --connections, nchan's own connections included: more workers hold more subscribers under one open-file limit")
	dir := fs.String("dir", "", "nginx's prefix: config, pid file, error.log (default: a new temporary directory, removed at exit)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *conns == 0 {
		nofile, err := procfs.OpenFileLimit(0)
		if err != nil {
			fmt.Fprintln(stderr, "massconn-bench nchan:", err)
			return 1
		}
		*conns = int(min(nofile, 1<<20)) - 100 //nolint:gosec // bounded above
	}
	prefix := *dir
	if prefix == "" {
		d, err := os.MkdirTemp("", "massconn-nchan-")
		if err != nil {
			fmt.Fprintln(stderr, "massconn-bench nchan:", err)
			return 1
		}
		defer os.RemoveAll(d)
		prefix = d
	} else if err := os.MkdirAll(prefix, 0o755); err != nil {
		fmt.Fprintln(stderr, "massconn-bench nchan: --dir:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := nchantest.New(nchantest.Options{Addr: *listen, WorkerConnections: *conns, Workers: *workers}, prefix)
	if err != nil {
		fmt.Fprintln(stderr, "massconn-bench nchan:", err)
		return 1
	}
	fmt.Fprintf(stdout, "nginx+nchan (pid %d, %d worker(s) of worker_connections %d, prefix %s), until Ctrl-C:\n", srv.PID(), *workers, *conns, prefix)
	fmt.Fprintf(stdout, "  subscribe: %s\n  publish:   curl -d '{\"seq\":1}' '%s'\n  status:    %s\n",
		srv.SubURL("news"), srv.PubURL("news"), srv.StatusURL())
	fmt.Fprintf(stdout, "  bin/massconn-fleet run --target '%s' --publish-url '%s' --target-pid %d\n",
		srv.SubURL("news"), srv.PubURL("news"), srv.PID())
	<-ctx.Done()
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(stderr, "massconn-bench nchan:", err)
		return 1
	}
	return 0
}
