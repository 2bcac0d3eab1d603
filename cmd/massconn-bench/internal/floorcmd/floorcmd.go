// Package floorcmd is massconn-bench floor (make bench-floor). It prints this machine's physical floor for a
// WebSocket fan-out, measured now with raw syscalls (internal/floor): the
// CPU of a loopback connect+accept, of a bare WebSocket upgrade, and of one
// write and one read of a message, at as many connection pairs as the
// open-file limit allows (make bench-floor):
//
//	massconn-bench floor [--pairs N] [--size BYTES] [--rounds N]
package floorcmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/massconn/massconn/internal/floor"
)

func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("massconn-bench floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts floor.Options
	fs.IntVar(&opts.Pairs, "pairs", 0, "connected loopback pairs held at once, 2 file descriptors each (0: from the open-file limit, at most 9000)")
	fs.IntVar(&opts.MessageSize, "size", 30, "bytes per write: the whole WebSocket frame of the benchmark's message")
	fs.IntVar(&opts.Rounds, "rounds", 5, "writes and reads per pair")
	serve := fs.String("responder", "", "instead of measuring, serve the floor's responder on this host:port until Ctrl-C: a raw-syscall server that answers a WebSocket upgrade with 101 and any other GET with an SSE head, then holds the socket (a server that costs only the kernel, for a client's connect rate)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "massconn-bench floor: unexpected argument %q; all options are --flags\n", fs.Arg(0))
		return 2
	case opts.Pairs < 0:
		fmt.Fprintln(stderr, "massconn-bench floor: --pairs must be 0 (from the open-file limit) or more")
		return 2
	case opts.MessageSize < 1 || opts.Rounds < 1:
		fmt.Fprintln(stderr, "massconn-bench floor: --size and --rounds must be at least 1")
		return 2
	}
	if *serve != "" {
		return serveResponder(*serve, stdout, stderr)
	}
	res, err := floor.Measure(opts)
	if err != nil {
		fmt.Fprintf(stderr, "massconn-bench floor: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "=== the floor on this machine, now: %d loopback pairs held, %d-byte message, %d rounds ===\n", res.Pairs, res.MessageSize, res.Rounds)
	fmt.Fprintf(stdout, "write               %s  (one write to a connected socket; the loopback receive path runs inside it)\n", floor.Micros(res.Write))
	fmt.Fprintf(stdout, "read                %s  (the peer's read of it)\n", floor.Micros(res.Read))
	fmt.Fprintf(stdout, "delivery            %s  (write + read, both ends)\n", floor.Micros(res.Delivery()))
	fmt.Fprintf(stdout, "write, reader awake %s  (the same write while a reader on another thread epoll-waits on every peer)\n", floor.Micros(res.WriteConcurrent))
	fmt.Fprintf(stdout, "read, writer awake  %s  (that reader's CPU per message, epoll_wait included)\n", floor.Micros(res.ReadConcurrent))
	fmt.Fprintf(stdout, "connect+accept      %s  (blocking connect and its accept, both ends)\n", floor.Micros(res.ConnectAccept))
	fmt.Fprintf(stdout, "WebSocket upgrade   %s  (request, Sec-WebSocket-Accept, 101 response; both ends, on a connected pair)\n", floor.Micros(res.Upgrade))
	fmt.Fprintf(stdout, "accepted WebSocket  %s  (connect+accept + upgrade)\n", floor.Micros(res.ConnectAccept+res.Upgrade))
	fmt.Fprintln(stdout, "CPU = user+sys of the one thread doing the syscalls (CLOCK_THREAD_CPUTIME_ID)")
	for _, sse := range []bool{false, true} {
		r, err := floor.MeasureConnectRate(floor.RateOptions{Conns: res.Pairs, InFlight: 1000, SSE: sse, Sources: RateSources})
		if err != nil {
			fmt.Fprintf(stderr, "massconn-bench floor: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, RateLine(r, sse))
	}
	fmt.Fprintln(stdout, "connect rate: a raw client thread (socket, bind, connect, epoll, request, answer; 1000 in flight) against a raw server thread")
	fmt.Fprintln(stdout, "              (accept, epoll, read, answer) in one process; bound = cores / (client + server CPU per connection)")
	return 0
}

// RateSources are the connect-rate floor's source addresses: its own, so
// that it takes no port another phase needs.
var RateSources = []netip.Addr{netip.MustParseAddr("127.0.4.1"), netip.MustParseAddr("127.0.4.2")}

// RateLine is the report line of a connect-rate floor.
func RateLine(r floor.RateResult, sse bool) string {
	kind := "ws:// upgrade"
	if sse {
		kind = "http:// SSE  "
	}
	return fmt.Sprintf("connect rate %s %s; bound on %d cores %.0f/s", kind, r, runtime.NumCPU(), r.Bound(runtime.NumCPU()))
}

// serveResponder runs the floor's responder until SIGINT or SIGTERM.
func serveResponder(addr string, stdout, stderr io.Writer) int {
	r, err := floor.StartResponder(addr)
	if err != nil {
		fmt.Fprintf(stderr, "massconn-bench floor: --responder: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "floor responder on port %d (ws:// upgrades get 101, other GETs an SSE head); Ctrl-C to stop\n", r.Port())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	cpu, err := r.Close()
	if err != nil {
		fmt.Fprintf(stderr, "massconn-bench floor: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "answered %d requests with %s of CPU\n", r.Answered(), cpu.Round(time.Millisecond))
	return 0
}
