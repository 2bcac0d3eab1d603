package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/fleet/limit"
	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/nchantest"
)

// nchanSearch is a capacity search against nginx+nchan in steps of 1000.
func nchanSearch(t *testing.T, srv *nchantest.Server, maxConns int64, budget map[string]int64) (*report.Report, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	out := t.TempDir()
	if d := os.Getenv("LIMIT_DEBUG_OUT"); d != "" {
		out = d
	}
	r, err := Search(ctx, SearchConfig{
		Run: RunConfig{
			ScriptDir: scriptDir(t), Out: out, K6: binary(t, "K6_BINARY"), NoFloor: true, InsertAfter: true,
			Targets: []string{srv.SubURL("news")}, TargetPIDs: []int{srv.PID()},
			Publish: publish.Config{URL: srv.PubURL("news"), Every: 200 * time.Millisecond},
			Env:     []string{"MIN_PER_CONN=1", "CONNECT_TIMEOUT=10s"}, Progress: &progress,
		},
		// Latency bounds no busy machine reaches: the knees these tests
		// know are counts (connections refused), never timings.
		Limit:    limit.Config{Start: 1000, Step: 1000, Max: maxConns, SLO: limit.SLO{P99: time.Minute, ConnectP95: time.Minute}},
		StepHold: 6 * time.Second, Budget: budget,
	})
	if err != nil {
		t.Fatalf("search: %v\n%s", err, progress.String())
	}
	if again := readReport(t, out); again.Limit == nil || again.Limit.Holds != r.Limit.Holds || len(again.Limit.Steps) != len(r.Limit.Steps) {
		t.Fatalf("report.json's limit %+v differs from the search's %+v", again.Limit, r.Limit)
	}
	html, err := os.ReadFile(out + "/report.html")
	if err != nil || !bytes.Contains(html, []byte("The capacity search")) || !bytes.Contains(html, []byte("SLO p99 60 s")) {
		t.Errorf("report.html lacks the knee with its SLO line: %v", err)
	}
	return r, progress.String()
}

// TestSearchFindsNchansWorkerConnections: nginx+nchan with
// worker_connections 3000 (its listeners and the publisher take a few)
// holds 2000 and breaks at 3000 on failed connections, the target's
// limit; each step measured with the target's memory per connection.
func TestSearchFindsNchansWorkerConnections(t *testing.T) {
	const limitConns, step = 3000, 1000
	srv := nchantest.Start(t, nchantest.Options{WorkerConnections: limitConns})
	r, progress := nchanSearch(t, srv, 6000, nil)
	l := r.Limit
	if l.Holds < limitConns-step || l.Holds >= limitConns || l.BreaksAt == nil || *l.BreaksAt > l.Holds+step {
		t.Fatalf("holds %d, breaks at %v: want it to hold within one step below %d\n%s", l.Holds, l.BreaksAt, limitConns, progress)
	}
	if l.LimitedBy == nil || *l.LimitedBy != limit.ByTarget || l.BrokeOn == nil || !strings.Contains(*l.BrokeOn, "failures") {
		t.Fatalf("limited by %v, broke on %v: want the target, on failed connections\n%s", deref(l.LimitedBy), deref(l.BrokeOn), progress)
	}
	for _, s := range l.Steps[:len(l.Steps)-1] {
		if s.Open != s.Connections || s.Failures != 0 || s.FanoutP99Ms == nil || s.DeliveredRatio == nil || *s.DeliveredRatio != 1 || s.TargetRSSPerConn <= 0 {
			t.Errorf("step %+v: a step that held has every connection open, every message delivered and nginx's memory measured", s)
		}
	}
}

// TestSearchStopsAtTheLoadGeneratorsPorts: nchan with room for 20,000 and
// a load generator whose ports allow 2,500 (as a 2,500-port
// ip_local_port_range would, here given with --lg-budget): the search
// stops before the step that needs more, blaming the load generator.
func TestSearchStopsAtTheLoadGeneratorsPorts(t *testing.T) {
	srv := nchantest.Start(t, nchantest.Options{WorkerConnections: 19000})
	r, progress := nchanSearch(t, srv, 10000, map[string]int64{"ports": 2500})
	l := r.Limit
	if l.LimitedBy == nil || *l.LimitedBy != limit.ByLoadGenerator || !strings.Contains(l.LoadGenerator, "ports: 2,500") {
		t.Fatalf("limited by %v (%q): want the load generator's ports\n%s", deref(l.LimitedBy), l.LoadGenerator, progress)
	}
	if l.BreaksAt != nil || l.BrokeOn != nil || l.Holds != 2000 || len(l.Steps) != 2 {
		t.Fatalf("holds %d, breaks at %v on %v, %d steps: want 2000 held and nothing blamed on the target\n%s",
			l.Holds, l.BreaksAt, deref(l.BrokeOn), len(l.Steps), progress)
	}
}

// TestSearchFindsOurServersMaxConns: massconn-server with --max-conns
// 5000 (its own refusal), found by the same search through the fleet
// binary: holds within one step below, broken by the refusals.
func TestSearchFindsOurServersMaxConns(t *testing.T) {
	fleetBin := binary(t, "MASSCONN_FLEET")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fleetBin, "run", "--scenario", "limit", "--start", "2000", "--step", "2000", "--max", "8000",
		"--step-hold", "4s", "--slo-p99", "1m", "--slo-connect-p95", "1m", "--out", out, "--k6", binary(t, "K6_BINARY"), "--server", binary(t, "MASSCONN_SERVER"),
		"--scripts", scriptDir(t), "--floor=false", "--base-port", fmt.Sprint(freePorts(t, 1)), "--insert-every", "200ms",
		"--server-arg=--max-conns=5000", "-e", "MIN_PER_CONN=1", "-e", "CONNECT_TIMEOUT=10s")
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("massconn-fleet run --scenario limit: %v\n%s", err, b)
	}
	l := readReport(t, out).Limit
	if l == nil || l.Holds != 4000 || l.BreaksAt == nil || *l.BreaksAt != 6000 || l.LimitedBy == nil || *l.LimitedBy != limit.ByTarget ||
		l.BrokeOn == nil || !strings.Contains(*l.BrokeOn, "failures") {
		t.Fatalf("limit %+v: want holds 4000, breaks at 6000 on failures, the target's\n%s", l, b)
	}
	if !strings.Contains(string(b), "holds 4,000, breaks at 6,000") {
		t.Errorf("the output does not end with the search's summary:\n%s", b)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestInterruptedSearchKeepsItsSteps: a search interrupted during its
// second step (as by Ctrl-C) returns the error and leaves report.json with
// the first step, said as unfinished.
func TestInterruptedSearchKeepsItsSteps(t *testing.T) {
	srv := nchantest.Start(t, nchantest.Options{})
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(filepath.Join(out, "step-02-200", "parts")); err == nil {
				cancel()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	r, err := Search(ctx, SearchConfig{
		Run: RunConfig{
			ScriptDir: scriptDir(t), Out: out, K6: binary(t, "K6_BINARY"), NoFloor: true, InsertAfter: true,
			Targets: []string{srv.SubURL("news")}, Publish: publish.Config{URL: srv.PubURL("news"), Every: 200 * time.Millisecond},
			Env: []string{"MIN_PER_CONN=1"},
		},
		Limit:    limit.Config{Start: 100, Step: 100, Max: 300, SLO: limit.SLO{P99: time.Minute, ConnectP95: time.Minute}},
		StepHold: 5 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "step 2 (200 connections)") {
		if r != nil {
			t.Logf("limit: %+v", r.Limit)
		}
		t.Fatalf("search: %v, want the interrupted step named, nothing judged on it", err)
	}
	l := readReport(t, out).Limit
	if l == nil || len(l.Steps) != 1 || l.Steps[0].Connections != 100 || !strings.HasPrefix(l.Summary, "unfinished") {
		t.Fatalf("limit %+v: want the first step kept, said as unfinished", l)
	}
}
