package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/procfs"
	"github.com/massconn/massconn/server/hub"
)

// A run against someone else's server (RunConfig.Targets): the same parts,
// merge, report, floor, progress and verdict, without our database,
// servers or insert loop. A publisher (fleet/publish) makes the messages;
// its sequence numbers are what the delivery verdict counts, as it counts
// the insert loop's row ids otherwise. The target's processes, when their
// pids are given, are sampled in the servers' place.

// CheckTargets checks --target URLs (ws:// and wss:// for WebSocket,
// http:// and https:// for SSE) and resolves their addresses, which the
// progress counts established connections to.
func CheckTargets(urls []string) ([]netip.AddrPort, error) {
	var addrs []netip.AddrPort
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if _, known := transportOfURL(raw); err != nil || !known || u.Hostname() == "" {
			return nil, fmt.Errorf("--target %q: must be a ws:// or wss:// URL (WebSocket), or http:// or https:// (Server-Sent Events), "+
				"e.g. ws://127.0.0.1:8090/sub?id=news or http://127.0.0.1:8090/sub?id=news", raw)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"ws": "80", "wss": "443", "http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
		}
		ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", u.Hostname())
		if err != nil {
			return nil, fmt.Errorf("--target %q: %w", raw, err)
		}
		p, err := net.LookupPort("tcp", port)
		if err != nil {
			return nil, fmt.Errorf("--target %q: port: %w", raw, err)
		}
		for _, ip := range ips {
			addrs = append(addrs, netip.AddrPortFrom(ip.Unmap(), uint16(p))) //nolint:gosec // LookupPort gives 0..65535
		}
	}
	return addrs, nil
}

// targetPIDs are the processes given with --target-pid and their
// descendants now (nginx holds its connections in workers under the
// master).
func targetPIDs(given []int) []int {
	var out []int
	for _, pid := range given {
		out = append(out, pid)
		out = append(out, procfs.System{}.Descendants(pid)...)
	}
	return out
}

// startTarget makes the publisher and starts sampling the target's
// processes, if given.
func (r *localRun) startTarget(ctx context.Context) error {
	// The heartbeat scenario has no messages: the target's own keep-alive
	// comments are what it measures.
	if r.cfg.Publish.Enabled() && r.cfg.Scenario != HeartbeatScenario {
		pub, err := r.cfg.Publish.New(ctx)
		if err != nil {
			return err
		}
		r.publisher = &publishLoop{
			loop: &publish.Loop{Publisher: pub, Every: r.cfg.Publish.Every, Count: r.cfg.Publish.Count, Log: r.out},
			pub:  pub, record: filepath.Join(r.serverDir, publish.File), logf: r.logf,
		}
		r.logf("publisher: %s every %v", pub.Target(), r.cfg.Publish.Every)
	}
	r.prof.notTaken = "the run is against --target: no server of ours to profile"
	pids := targetPIDs(r.cfg.TargetPIDs)
	if len(pids) == 0 {
		r.logf("no --target-pid: the target's memory and CPU are not measured")
		return nil
	}
	sampler, err := NewRSSSampler(filepath.Join(r.serverDir, RSSFile))
	if err != nil {
		return err
	}
	r.sampler, r.serverPIDs = sampler, pids
	for _, pid := range pids {
		sampler.Watch(pid, "target")
	}
	r.logf("target processes measured: %v", pids)
	// The first sample, before any k6 starts, is the target's baseline.
	sampler.Sample(time.Now())
	var sampleCtx context.Context
	sampleCtx, r.stopSampling = context.WithCancel(context.Background())
	r.sampling.Go(func() { sampler.Run(sampleCtx, time.Second, false) })
	return nil
}

// publishLoop runs the publisher during the run; stop writes its record.
type publishLoop struct {
	loop   *publish.Loop
	pub    publish.Publisher
	record string
	logf   func(format string, args ...any)
	ctx    context.Context // the run

	mu      sync.Mutex
	started bool
	done    chan struct{}
}

// start starts publishing unless it has started already.
func (p *publishLoop) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.ctx.Err() != nil {
		return
	}
	p.started, p.done = true, make(chan struct{})
	p.logf("publisher started: a message every %v", p.loop.Every)
	go func() { defer close(p.done); p.loop.Run(p.ctx) }()
}

// published is how many messages went out so far.
func (p *publishLoop) published() int64 {
	return int64(len(p.loop.Record().Published))
}

// stop waits for the loop (the run's context has ended), writes the
// record the merge reads, and returns nothing: the merge turns the
// record's failures into the verdict's problems.
func (p *publishLoop) stop() []string {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done != nil {
		<-done
	}
	rec := p.loop.Record()
	if rec.Target == "" {
		rec.Target, rec.Every = p.pub.Target(), p.loop.Every.String()
	}
	if err := rec.WriteFile(p.record); err != nil {
		return []string{fmt.Sprintf("%v: the verdict cannot check delivery", err)}
	}
	if s := rec.Summary(); s != "" {
		p.logf("%s", s)
	}
	p.logf("published %d message(s) to %s", len(rec.Published), rec.Target)
	return nil
}

// close waits for a loop that was started (the run's context has ended
// by now) and closes the publisher (its database connection): after stop,
// or when the run ended early.
func (p *publishLoop) close() {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done != nil {
		<-done
	}
	_ = p.pub.Close()
}

// targetCounter counts what is open on a target we cannot ask: the
// established TCP connections to its addresses on this machine, less
// this process's own (the publisher's). Messages delivered are estimated
// as those published since the last count times the connections open:
// the delivery verdict checks that every one of them arrived.
type targetCounter struct {
	addrs     []netip.AddrPort
	published func() int64
	last      int64
	lastPub   int64
	sentSum   uint64
	failed    bool
}

func (c *targetCounter) total() (int64, int) {
	mine, _ := procfs.System{}.SocketInodes(os.Getpid())
	n, err := procfs.System{}.EstablishedTo(c.addrs, mine)
	if err != nil {
		c.failed = true
		return c.last, 1
	}
	if c.published != nil {
		pub := c.published()
		c.sentSum += uint64(max(pub-c.lastPub, 0) * n) //nolint:gosec // not negative
		c.lastPub = pub
	}
	c.last = n
	return n, 0
}

func (c *targetCounter) sent() uint64 { return c.sentSum }

// targetDeliveriesFrom says where a target run's deliveries come from.
const targetDeliveriesFrom = "messages published over the window × connections open (the delivery check confirms each reached every connection)"

// checkTargetRun checks what a run against a target needs before anything
// starts: ws(s) URLs, a publisher, the processes to measure. Nothing for a
// run against our servers.
func checkTargetRun(cfg RunConfig) ([]netip.AddrPort, error) {
	if len(cfg.Targets) == 0 {
		return nil, nil
	}
	addrs, err := CheckTargets(cfg.Targets)
	if err != nil {
		return nil, err
	}
	if !cfg.Publish.Enabled() && cfg.Scenario != HeartbeatScenario {
		return nil, errors.New("--target needs a publisher for the messages every connection must receive: " +
			"--publish-url URL (an HTTP request each --publish-every) or --insert-sql SQL with --database-url")
	}
	for _, pid := range cfg.TargetPIDs {
		if _, err := procfs.VmRSS(pid); err != nil {
			return nil, fmt.Errorf("--target-pid %d: no such process on this machine (%w)", pid, err)
		}
	}
	if !cfg.Publish.Enabled() {
		return addrs, nil // the heartbeat scenario: no messages
	}
	return addrs, cfg.Publish.Check()
}

// applyTarget turns the plan of a run against a target into one with the
// target's URLs for every part and no servers of ours.
func (r *localRun) applyTarget() {
	if !r.againstTarget() {
		return
	}
	r.plan.Servers = nil
	for i := range r.plan.Parts {
		r.plan.Parts[i].URLs = slices.Clone(r.cfg.Targets)
	}
	r.cpu.deliveriesFrom = targetDeliveriesFrom
}

// against names what the run connects to, for the progress.
func (r *localRun) against() string {
	if r.againstTarget() {
		return strings.Join(r.cfg.Targets, ", ")
	}
	return fmt.Sprintf("%d server(s)", len(r.plan.Servers))
}

// messageEvery is the interval between the run's messages.
func (r *localRun) messageEvery() time.Duration {
	if r.publisher != nil {
		return r.cfg.Publish.Every
	}
	return r.cfg.InsertEvery
}

// targetEnv is what the scripts need to read the HTTP publisher's default
// messages ({"seq":N,"ts":µs}): the sequence at seq, one per connection.
// The user's -e, passed after, override it; an --insert-sql run keeps the
// scripts' defaults (id per topic, ts in µs), as our server sends them.
func (r *localRun) targetEnv() []string {
	if !r.againstTarget() || r.cfg.Publish.URL == "" {
		return nil
	}
	return []string{"-e", "SEQUENCE_PATH=seq", "-e", "SEQUENCE_PER=none"}
}

// openCounter counts the open connections for the progress: our servers'
// /healthz, or the established connections to a target.
func (r *localRun) openCounter() interface {
	total() (int64, int)
	sent() uint64
} {
	if r.againstTarget() {
		c := &targetCounter{addrs: r.targetAddrs}
		if r.publisher != nil {
			c.published = r.publisher.published
		}
		return c
	}
	return newServerCounter(r.plan.Servers)
}

// serverRSSLabel is the servers' (or the target's) memory for the progress.
func (r *localRun) serverRSSLabel() string {
	switch {
	case !r.againstTarget():
		return "servers " + pidsRSS(r.serverPIDs)
	case len(r.serverPIDs) == 0:
		return "target not measured"
	}
	return "target " + pidsRSS(r.serverPIDs)
}

// targetSide is what the report says about the target, nil for our servers.
func (r *localRun) targetSide() *report.Target {
	if !r.againstTarget() {
		return nil
	}
	t := &report.Target{URLs: r.cfg.Targets, PIDs: r.serverPIDs}
	if r.publisher != nil {
		t.Publisher = r.publisher.pub.Target()
	}
	if len(r.serverPIDs) == 0 {
		t.NotMeasured = "no --target-pid was given: the target's memory and CPU were not measured"
	}
	return t
}

// targetMessageSize is the wire size of one published message for the
// floor: the HTTP publisher's body, as the target sends it on (nchan
// sends the body as it was published), in a WebSocket frame, or for SSE
// in an event's data line. The target's own id line, if it writes one, is
// its format, not known here: the SSE size is the least the event takes.
func (r *localRun) targetMessageSize() (int, error) {
	if r.cfg.Publish.URL == "" {
		return 0, errors.New("the size of your server's messages is not known to --insert-sql")
	}
	n, err := r.cfg.Publish.SampleSize()
	if err != nil {
		return 0, err
	}
	if r.transport == TransportSSE {
		return len("data: \n\n") + n, nil
	}
	return hub.FrameLen(n), nil
}
