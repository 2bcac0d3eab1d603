package fleet

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/massconn/massconn/internal/procfs"
	"github.com/massconn/massconn/server/client"
)

// Scenarios are the k6scripts a fleet run knows, by name.
var Scenarios = []string{"capacity", "arrival", "fanout", "soak", "baseline-stock"}

// RunConfig is a whole run on this machine: Postgres, servers, insert loop,
// k6 parts, merge.
type RunConfig struct {
	Scenario    string
	ScriptDir   string // directory holding <scenario>.js
	Connections int64
	Duration    string // hold time given to the script as DURATION
	Out         string // results directory
	DatabaseURL string // empty: a throwaway cluster for the run
	Parts       int    // 0 = automatic
	Servers     int    // 0 = automatic
	BasePort    int
	K6          string
	Server      string

	InsertEvery time.Duration
	InsertCount int  // 0 = until the run ends
	InsertAfter bool // start inserting once every connection is open (or connecting stalled)
	// P99Bound is the fan-out p99 the verdict allows (0 = DefaultP99Bound).
	P99Bound time.Duration
	// Rate is connection attempts per second for the whole fleet, shared
	// by the parts (each paces its share: RATE × its connections / total);
	// 0 = unpaced, < 0 = AutoRate.
	Rate float64
	// ServerArgs are more command-line arguments for every server process,
	// after the fleet's own (e.g. --ping-interval 120s: at a million
	// connections the default 30 s pings are a large share of 2 cores).
	ServerArgs []string

	// NoFloor skips measuring the machine's floor before the load
	// (internal/floor, a few seconds); the report's CPU windows remain.
	NoFloor bool
	// Profile is how long one server's CPU profile during the hold lasts
	// (its --pprof listener); 0 = none.
	Profile time.Duration

	Env      []string  // more KEY=VALUE for every part's script
	Progress io.Writer // progress lines and the final figures
	Command  string    // for the report
}

// memPerConn is the memory budget per connection when sizing a default run:
// kernel socket memory for both ends (~10 KB on loopback) plus client and
// server user space, with room to spare.
const memPerConn = 64 << 10

// DefaultConnections is the count a run on this machine uses when none is
// given: what one k6 process may hold, or less if memory is short.
func DefaultConnections() (int64, string, error) {
	nofile, err := procfs.OpenFileLimit(0)
	if err != nil {
		return 0, "", err
	}
	n := PerProcessLimit(nofile)
	why := fmt.Sprintf("one k6 process's share of the open-file limit %d", nofile)
	if avail, err := memAvailable(); err == nil && avail/memPerConn < n {
		n = avail / memPerConn
		why = fmt.Sprintf("%d MiB available at %d KiB per connection", avail>>20, memPerConn>>10)
	}
	return max(n, 1), why, nil
}

// memAvailable is the machine's MemAvailable in bytes.
func memAvailable() (int64, error) {
	kb, err := procfs.System{}.MemAvailableKB()
	return kb << 10, err
}

// AutoRate is the fleet's total connection rate when several k6 processes
// share this machine and none is given: without one shared rate, every part
// opens as fast as it can and dozens of bursts on two cores time each
// other out (a 1,000,000 attempt once averaged 843/s with 592,489
// timeouts). make bench opened 200,000 at 4,311/s unpaced here.
const AutoRate = 4000

// fleetRate is the total rate a run uses: the one given, else AutoRate for
// a fleet of several parts, and unpaced for one process.
func fleetRate(rate float64, parts int) float64 {
	switch {
	case rate >= 0:
		return rate
	case parts > 1:
		return AutoRate
	}
	return 0
}

// serverProc is one running massconn-server.
type serverProc struct {
	cmd    *exec.Cmd
	listen string
	log    string
	exited chan struct{} // closed once the process has been reaped
}

// startServers starts one server per plan entry and waits until each
// answers /healthz. A port already taken is an error before anything
// starts: an older server there would answer for the new one.
// serverArgs is the command line of one server of a fleet of n. The
// user's extra arguments come last, so one of them overrides the fleet's
// own of the same flag.
func serverArgs(sp ServerPlan, dbURL string, n int, extraArgs []string) []string {
	args := []string{"serve", "--listen", sp.Listen, "--database-url", dbURL,
		"--max-conns", fmt.Sprint(sp.MaxConns), "--shutdown-timeout", "5s"}
	if n > 1 {
		args = append(args, "--handshake-timeout", fleetHandshakeTimeout)
	}
	args = append(args, sp.Extra...)
	return append(args, extraArgs...)
}

// fleetHandshakeTimeout is the servers' --handshake-timeout in a fleet of
// several servers. Beside as many k6 processes on the same cores, a
// client's upgrade request can come many seconds after its connect, and
// the server's default of 5 s (a guard against clients that connect and
// send nothing) then closes connections the benchmark is still opening:
// at 1,000,000 connections (53 servers, 53 k6, 2 cores) 6,426 and 14,597
// failed with resets in two runs with the default, and none with 30 s
// (make bench CONNECTIONS=1000000 DURATION=120s INSERT_EVERY=10s
// RATE=3000, 2026-12-02).
const fleetHandshakeTimeout = "30s"

func startServers(ctx context.Context, bin, dbURL string, plans []ServerPlan, logDir string, extraArgs []string) ([]*serverProc, error) {
	for _, sp := range plans {
		l, err := net.Listen("tcp", sp.Listen)
		if err != nil {
			return nil, fmt.Errorf("server address %s is taken (another server or test running?): "+
				"choose free ports with --base-port: %w", sp.Listen, err)
		}
		l.Close()
	}
	var procs []*serverProc
	for _, sp := range plans {
		p := &serverProc{listen: sp.Listen, exited: make(chan struct{}),
			log: filepath.Join(logDir, fmt.Sprintf("server-%02d.log", sp.Index))}
		p.cmd = exec.Command(bin, serverArgs(sp, dbURL, len(plans), extraArgs)...)
		f, err := os.Create(p.log)
		if err != nil {
			return procs, fmt.Errorf("server log: %w", err)
		}
		p.cmd.Stdout, p.cmd.Stderr = f, f
		if err := p.cmd.Start(); err != nil {
			f.Close()
			return procs, fmt.Errorf("start server on %s: %w", sp.Listen, err)
		}
		go func() { _ = p.cmd.Wait(); f.Close(); close(p.exited) }()
		procs = append(procs, p)
	}
	// Many servers start at once on few cores: give each its share of time.
	wait := 60*time.Second + time.Duration(len(procs))*time.Second
	deadline := time.Now().Add(wait)
	for _, p := range procs {
		c := client.New(p.listen, 0)
		for {
			if ready, _ := c.Ready(ctx); ready {
				break
			}
			select {
			case <-p.exited:
				tail, _ := os.ReadFile(p.log)
				return procs, fmt.Errorf("server on %s exited: %s", p.listen, strings.TrimSpace(string(tail)))
			case <-ctx.Done():
				return procs, fmt.Errorf("waiting for servers: %w", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return procs, notHealthy(p, wait)
			}
		}
	}
	return procs, nil
}

// progressLine is one line of progress: open connections and their rate,
// servers too busy to answer, memory, and the connection-tracking table
// when netfilter is loaded (the limit that drops connections silently).
func progressLine(elapsed time.Duration, open, total, prevOpen int64, since time.Duration, stale, servers int,
	mm interface{ conntrack() (int64, int64) }, k6RSS, serverRSS string,
) string {
	rate := float64(open-prevOpen) / max(since.Seconds(), 0.001)
	line := fmt.Sprintf("[%4.0fs] open %d/%d (%+.0f/s) · RSS k6 %s, servers %s", elapsed.Seconds(), open, total, rate, k6RSS, serverRSS)
	if ct, ctMax := mm.conntrack(); ctMax > 0 {
		line += fmt.Sprintf(" · conntrack %d/%d", ct, ctMax)
	}
	if stale > 0 {
		line += fmt.Sprintf(" · %d of %d servers too busy to answer /healthz (their last count used)", stale, servers)
	}
	return line
}

// notHealthy names why a server did not become healthy: its listener's
// state from /healthz and the end of its log (a listener that cannot
// connect logs the database's reason).
func notHealthy(p *serverProc, waited time.Duration) error {
	state := "no answer on /healthz"
	if h, err := client.New(p.listen, 0).Health(context.Background()); err == nil && !h.Ready() {
		state = "its PostgreSQL listener is not connected"
	}
	log, _ := os.ReadFile(p.log)
	return fmt.Errorf("server on %s not healthy after %v: %s; end of %s:\n%s", p.listen, waited, state, p.log, lastLines(log, 5))
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// serverStopGrace is how long a server gets to exit after SIGTERM (its
// own --shutdown-timeout is 5s) before it is killed.
const serverStopGrace = 30 * time.Second

// stopAll asks every server to shut down (SIGTERM: clients get close 1001)
// and kills those still running after grace; it reports the ones killed.
func stopAll(procs []*serverProc, grace time.Duration) []string {
	for _, p := range procs {
		_ = p.cmd.Process.Signal(unix.SIGTERM)
	}
	var killed []string
	end := time.Now().Add(grace)
	for _, p := range procs {
		select {
		case <-p.exited:
			continue
		case <-time.After(time.Until(end)): // at once for all after the first
		}
		select {
		case <-p.exited:
		default:
			killed = append(killed, p.listen)
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	return killed
}

// serverCounter sums the open connections the servers report on /healthz,
// asking them in parallel; a server too busy to answer within the timeout counts with
// its last known value, so progress stays readable under load.
type serverCounter struct {
	plans    []ServerPlan
	last     []int64
	lastSent []uint64 // messages queued to subscribers (/healthz messages_sent)
}

func newServerCounter(plans []ServerPlan) *serverCounter {
	return &serverCounter{plans: plans, last: make([]int64, len(plans)), lastSent: make([]uint64, len(plans))}
}

// total returns the sum and how many servers did not answer this time.
func (c *serverCounter) total() (int64, int) {
	var wg sync.WaitGroup
	fresh := make([]int64, len(c.plans))
	freshSent := make([]uint64, len(c.plans))
	failed := make([]bool, len(c.plans))
	for i, sp := range c.plans {
		wg.Go(func() {
			h, err := client.New(sp.Listen, 0).Health(context.Background())
			fresh[i], freshSent[i], failed[i] = h.Connections, h.MessagesSent, err != nil
		})
	}
	wg.Wait()
	var sum int64
	stale := 0
	for i := range c.plans {
		if failed[i] {
			stale++
		} else {
			c.last[i], c.lastSent[i] = fresh[i], freshSent[i]
		}
		sum += c.last[i]
	}
	return sum, stale
}

// sent is the messages the servers queued to subscribers, as of their
// last answers to total.
func (c *serverCounter) sent() uint64 {
	var n uint64
	for _, v := range c.lastSent {
		n += v
	}
	return n
}

func pidsRSS(pids []int) string {
	return fmt.Sprintf("%.0f MiB", float64(procfs.TotalVmRSS(pids))/1024)
}
