// Command massconn-bench gathers the project's measurement tools: every
// benchmark the Makefile runs (make bench-server, bench-floor, bench-k6, ...)
// is one of its subcommands, so that starting servers, waiting for their
// health, reading /proc and /metrics are written once, in Go.
//
//	massconn-bench SUBCOMMAND [--flags]
//	massconn-bench help
//
// Benchmarks print figures next to their goals; they fail only when the
// system under test lost, duplicated or dropped something, or could not be
// started.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/massconn/massconn/cmd/massconn-bench/internal/fanout"
	"github.com/massconn/massconn/cmd/massconn-bench/internal/floorcmd"
	"github.com/massconn/massconn/cmd/massconn-bench/internal/ingest"
	"github.com/massconn/massconn/cmd/massconn-bench/internal/k6bench"
	"github.com/massconn/massconn/cmd/massconn-bench/internal/nchanserve"
	"github.com/massconn/massconn/cmd/massconn-bench/internal/runlocal"
	"github.com/massconn/massconn/cmd/massconn-bench/internal/serverbench"
)

// subcommand is one benchmark: Run gets the arguments after its name and
// returns the process exit code (0 ok, 1 failed, 2 bad usage).
type subcommand struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func subcommands() []subcommand {
	return []subcommand{
		{"server", "make bench-server: one massconn-server (then Node.js ws) with idle connections and a fan-out", serverbench.Run},
		{"fanout", "the load client of bench-server, against a server that is already running", fanout.Run},
		{"floor", "make bench-floor: the machine's floor now, with raw syscalls", floorcmd.Run},
		{"k6", "make bench-k6: k6 RSS per connection and connect rate, stock k6 against xk6-massconn, and a message flood", k6bench.RunK6},
		{"k6-tls", "make bench-k6-tls: ws:// against wss://, stock k6 against xk6-massconn", k6bench.RunTLS},
		{"steps", "make bench-steps: programs (steps) and churn in xk6-massconn: RSS per connection, massconn_rtt, reconnects/s", k6bench.RunSteps},
		{"adapters", "make bench-adapters: the protocol adapters against Centrifugo and Socket.IO", k6bench.RunAdapters},
		{"run", "make run: PostgreSQL, massconn-server and the insert loop until Ctrl-C, for your own k6 scripts", runlocal.Run},
		{"nchan", "make nchan: nginx+nchan (Debian's), a pub/sub server nobody here wrote, until Ctrl-C: a target for massconn-fleet run --target", nchanserve.Run},
		{"ingest", "rows/s one server ingests from concurrent writers (compare server binaries)", ingest.Run},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmds := subcommands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	i := slices.IndexFunc(cmds, func(c subcommand) bool { return c.name == args[0] })
	if i < 0 {
		names := make([]string, len(cmds))
		for k, c := range cmds {
			names[k] = c.name
		}
		fmt.Fprintf(stderr, "massconn-bench: unknown subcommand %q; use one of %s (massconn-bench help)\n",
			args[0], strings.Join(names, ", "))
		return 2
	}
	return cmds[i].run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds []subcommand) {
	fmt.Fprintln(w, "usage: massconn-bench SUBCOMMAND [--flags]   (massconn-bench SUBCOMMAND --help for its flags)")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}
