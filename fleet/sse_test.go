package fleet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/fleet/limit"
	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/nchantest"
	"github.com/massconn/massconn/internal/pgtest"
)

// Runs over Server-Sent Events against nginx+nchan's EventSource
// subscribers (nchan_subscriber serves them on the same location as its
// WebSocket ones): the transport of a fleet run is the target URLs'
// scheme, and the figures come from the extension's SSE metrics.

// TestRunSSEAgainstNchan: massconn-fleet run --target http://... with the
// HTTP publisher: PASS with the same exact verdict as WebSocket (every
// published message at every connection), the report saying SSE.
func TestRunSSEAgainstNchan(t *testing.T) {
	fleetBin := binary(t, "MASSCONN_FLEET")
	k6 := binary(t, "K6_BINARY")
	srv := nchantest.Start(t, nchantest.Options{})
	out := t.TempDir()
	const total = 41
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fleetBin, "run", "--scenario", "capacity", "--connections", fmt.Sprint(total), "--parts", "2",
		"--duration", "4s", "--out", out, "--k6", k6, "--scripts", scriptDir(t), "--floor=false", "--insert-after-open=false",
		"--target", srv.EventSourceURL("news"), "--publish-url", srv.PubURL("news"), "--publish-every", "200ms",
		"--target-pid", fmt.Sprint(srv.PID()), "-e", "MIN_PER_CONN=1")
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("massconn-fleet run: %v\n%s", err, b)
	}
	r := readReport(t, out)
	if !r.Pass {
		t.Fatalf("FAIL: %v\n%s", r.Problems, b)
	}
	if r.Transport != "sse" {
		t.Errorf("report transport %q, want sse", r.Transport)
	}
	if c := r.Connections; c.Opened != total || c.PeakOpen != total || c.Failures != 0 || c.Drops != 0 {
		t.Errorf("connections %+v: want %d opened (massconn_sessions) and held", c, total)
	}
	if d := r.Delivery; d == nil || !d.Complete || d.Rows == 0 || d.Sequences != total {
		t.Errorf("delivery %+v: want every published message checked at all %d connections", d, total)
	}
	if r.Latency == nil || r.Latency.Count < total || r.Messages.Received < total {
		t.Errorf("latency %+v, received %d: want the events (sse_event) measured at every connection", r.Latency, r.Messages.Received)
	}
	md, _ := os.ReadFile(out + "/report.md")
	if !strings.Contains(string(md), "over SSE") {
		t.Errorf("report.md does not say the transport:\n%.600s", md)
	}
}

// TestHeartbeatAgainstNchan: the heartbeat scenario against nchan
// writing a comment to every EventSource subscriber each second. With a
// bound well above that, PASS with the comments counted and every
// silence measured; with no comments at all, every connection is dropped
// as idle and the run fails saying so. (The bound is a count of seconds
// nchan cannot miss, not a timing under test.)
func TestHeartbeatAgainstNchan(t *testing.T) {
	fleetBin := binary(t, "MASSCONN_FLEET")
	k6 := binary(t, "K6_BINARY")
	const total = 20
	run := func(t *testing.T, srv *nchantest.Server) (pass bool, out string, log []byte) {
		out = t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, fleetBin, "run", "--scenario", "heartbeat", "--heartbeat", "2s", "--connections", fmt.Sprint(total),
			"--duration", "5s", "--out", out, "--k6", k6, "--scripts", scriptDir(t), "--floor=false",
			"--target", srv.EventSourceURL("quiet"))
		cmd.Env = append(os.Environ(), "DATABASE_URL=")
		log, err := cmd.CombinedOutput()
		if _, serr := os.Stat(out + "/report.json"); ctx.Err() != nil || serr != nil {
			t.Fatalf("massconn-fleet run ended without a report: %v\n%s", err, log)
		}
		return err == nil, out, log
	}
	t.Run("comments every second", func(t *testing.T) {
		srv := nchantest.Start(t, nchantest.Options{EventSourcePing: time.Second})
		pass, out, log := run(t, srv)
		r := readReport(t, out)
		if !pass || !r.Pass {
			t.Fatalf("FAIL: %v\n%s", r.Problems, log)
		}
		h := r.Heartbeat
		if r.Transport != "sse" || h == nil || h.EverySeconds != 2 || h.Keepalives < total || h.Silence == nil || h.Silence.Samples < total || h.IdleDrops != 0 {
			t.Fatalf("transport %q, heartbeat %+v: want every connection's comments counted and silence measured", r.Transport, h)
		}
	})
	t.Run("no comments", func(t *testing.T) {
		srv := nchantest.Start(t, nchantest.Options{})
		pass, out, log := run(t, srv)
		r := readReport(t, out)
		if pass || r.Pass {
			t.Fatalf("PASS against a server that sends nothing:\n%s", log)
		}
		if h := r.Heartbeat; h == nil || h.IdleDrops != total || !strings.Contains(strings.Join(r.Problems, "\n"), "heard nothing for the script's idleTimeout") {
			t.Fatalf("heartbeat %+v, problems %q: want all %d dropped as idle, said", h, r.Problems, total)
		}
	})
}

// TestSearchOverSSE: the capacity search against nchan's EventSource
// subscribers, in two small steps up to --max: each step holds, every
// message delivered, the report saying SSE.
func TestSearchOverSSE(t *testing.T) {
	srv := nchantest.Start(t, nchantest.Options{})
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := Search(ctx, SearchConfig{
		Run: RunConfig{
			// Publishing from the start: a short step's window (all open
			// until a third of the hold before its end) always has messages.
			ScriptDir: scriptDir(t), Out: out, K6: binary(t, "K6_BINARY"), NoFloor: true,
			Targets: []string{srv.EventSourceURL("news")}, TargetPIDs: []int{srv.PID()},
			Publish: publish.Config{URL: srv.PubURL("news"), Every: 200 * time.Millisecond},
			Env:     []string{"MIN_PER_CONN=1"},
		},
		Limit:    limit.Config{Start: 50, Step: 50, Max: 100, SLO: limit.SLO{P99: time.Minute, ConnectP95: time.Minute}},
		StepHold: 4 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	l := r.Limit
	if l.Holds != 100 || len(l.Steps) != 2 || l.BreaksAt != nil || r.Transport != "sse" {
		t.Fatalf("limit %+v, transport %q: want both steps held over SSE", l, r.Transport)
	}
	for _, s := range l.Steps {
		if s.Open != s.Connections || s.DeliveredRatio == nil || *s.DeliveredRatio != 1 || s.TargetRSSPerConn <= 0 {
			t.Errorf("step %+v: want every connection open, every message delivered, nginx measured", s)
		}
	}
}

// TestRunsOverSSEAgainstOurServer: the fleet with our server's /sse,
// tiny. TRANSPORT=sse's capacity run: PASS with the exact verdict (every
// row inserted while all were open at every connection, by the ids the
// events carry). The heartbeat scenario: the servers started with
// --sse-heartbeat, no rows, PASS with every connection's comments counted
// and its silence measured.
func TestRunsOverSSEAgainstOurServer(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	server := binary(t, "MASSCONN_SERVER")
	pg := pgtest.Start(t)
	const total = 30
	run := func(t *testing.T, rc RunConfig) *report.Report {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rc.ScriptDir, rc.Connections, rc.Out, rc.DatabaseURL = scriptDir(t), total, t.TempDir(), pg.URL()
		rc.Parts, rc.Servers, rc.BasePort, rc.K6, rc.Server, rc.NoFloor = 1, 2, freePorts(t, 2), k6, server, true
		r, err := Run(ctx, rc)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Pass {
			t.Fatalf("FAIL: %v", r.Problems)
		}
		if r.Transport != "sse" || r.Connections.Opened != total || r.Servers == nil || r.Servers.Accepted != total {
			t.Fatalf("transport %q, connections %+v, server side %+v: want %d SSE streams opened and counted by the servers",
				r.Transport, r.Connections, r.Servers, total)
		}
		return r
	}
	t.Run("capacity", func(t *testing.T) {
		r := run(t, RunConfig{Scenario: "capacity", Transport: TransportSSE, Duration: "3s",
			InsertEvery: 200 * time.Millisecond, Env: []string{"MIN_PER_CONN=1"}})
		if d := r.Delivery; d == nil || !d.Complete || d.Rows == 0 || d.Sequences != total {
			t.Errorf("delivery %+v: want every row of the window checked at all %d connections", d, total)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		r := run(t, RunConfig{Scenario: HeartbeatScenario, Heartbeat: 2 * time.Second, Duration: "5s", InsertEvery: time.Second})
		h := r.Heartbeat
		if h == nil || h.Keepalives < total || h.Silence == nil || h.Silence.Samples < total || r.Messages.Received != 0 {
			t.Fatalf("heartbeat %+v, received %d: want comments at every connection, every silence measured, no rows", h, r.Messages.Received)
		}
		// The servers' /healthz told the run its keep-alive: a comment
		// every 2 s, one delivery each.
		if f := r.Floor; f == nil || f.KeepAliveEveryS != 2 || f.KeepAliveMessages != 1 {
			t.Errorf("floor %+v: want the servers' SSE heartbeat (2 s, 1 message) next to it", f)
		}
	})
}
