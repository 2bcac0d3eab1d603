package fleet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/launch"
	"github.com/massconn/massconn/internal/pgtest"
)

// These tests run the real thing: k6 built with xk6-massconn, the
// massconn-server binary, a throwaway PostgreSQL and the scripts in
// k6scripts/. `make unit-test` sets K6_BINARY and MASSCONN_SERVER.

func binary(t *testing.T, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: in CI the real binaries are required (make unit-test sets it)", env)
		}
		t.Skipf("%s is not set: run `make unit-test`, or set %s to the absolute path of the binary", env, env)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v", env, p, err)
	}
	return p
}

func scriptDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "k6scripts")
}

// freePorts finds n consecutive free loopback ports.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := base+n-1 <= 65535
		for i := 1; ok && i < n; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free consecutive loopback ports")
	return 0
}

// backend is a migrated PostgreSQL, one server and an insert loop.
type backend struct {
	dbURL string
	url   string
}

func startBackend(t *testing.T, server string, insertEvery string) backend {
	t.Helper()
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, server, "migrate", "--database-url", pg.URL()).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	port := freePorts(t, 1)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	procs, err := startServers(ctx, server, pg.URL(), []ServerPlan{{Listen: listen, MaxConns: 1000}}, t.TempDir(), nil)
	t.Cleanup(func() { stopAll(procs, serverStopGrace) })
	if err != nil {
		t.Fatal(err)
	}
	insert := exec.Command(server, "insert", "--database-url", pg.URL(), "--every", insertEvery)
	if err := insert.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = insert.Process.Signal(os.Interrupt)
		_ = insert.Wait()
	})
	return backend{dbURL: pg.URL(), url: "ws://" + listen + "/ws?topic=Track"}
}

type summaryCounts struct {
	Metrics map[string]map[string]any `json:"metrics"`
}

func (s summaryCounts) count(metric string) float64 {
	m, ok := s.Metrics[metric]
	if !ok {
		return -1
	}
	v, _ := m["count"].(float64)
	return v
}

// TestScripts runs every k6 script briefly against the real server: a
// script that does not parse, connect, receive rows or pass its own
// thresholds fails here.
func TestScripts(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	server := binary(t, "MASSCONN_SERVER")
	b := startBackend(t, server, "200ms")
	const n = 20
	cases := []struct {
		script string
		env    []string
		check  func(t *testing.T, s summaryCounts)
	}{
		{"capacity.js", []string{"DURATION=3s", "MIN_PER_CONN=1"}, nil},
		{"arrival.js", []string{"ARRIVAL_RATE=200", "DURATION=2s", "MIN_RATE_RATIO=0"}, nil},
		{"fanout.js", []string{"DURATION=3s", "MIN_PER_CONN=1", "P99_MS=60000"}, func(t *testing.T, s summaryCounts) {
			if c := s.count("massconn_latency"); c < n {
				t.Errorf("massconn_latency has %v values, want at least one per connection", c)
			}
		}},
		{"soak.js", []string{"DURATION=3s", "HEARTBEAT=hb", "HEARTBEAT_EVERY=1s"}, func(t *testing.T, s summaryCounts) {
			if c := s.count("ws_msgs_sent"); c < n {
				t.Errorf("ws_msgs_sent = %v, want heartbeats from every connection", c)
			}
		}},
		{"baseline-stock.js", []string{"DURATION=3s", "RAMP=1s", "MIN_PER_CONN=1"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.script, func(t *testing.T) {
			dir := t.TempDir()
			summary := filepath.Join(dir, "summary.json")
			args := []string{"run", "--no-usage-report", "--address", "", "--summary-export", summary,
				"-e", fmt.Sprintf("CONNECTIONS=%d", n), "-e", "URLS=" + b.url, "-e", "INSERT_EVERY=200ms"}
			for _, e := range tc.env {
				args = append(args, "-e", e)
			}
			args = append(args, filepath.Join(scriptDir(t), tc.script))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, k6, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("k6 run %s: %v\n%s", tc.script, err, out)
			}
			var s summaryCounts
			if err := readJSON(summary, &s); err != nil {
				t.Fatal(err)
			}
			if got := s.count("ws_sessions"); got != n {
				t.Errorf("ws_sessions = %v, want %d\n%s", got, n, out)
			}
			if got := s.count("massconn_failures"); got != 0 {
				t.Errorf("massconn_failures = %v, want 0", got)
			}
			if got := s.count("ws_msgs_received"); got < n {
				t.Errorf("ws_msgs_received = %v, want rows for every connection", got)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// TestScriptRejectsBadEnv: a typo in an environment variable stops the
// script with the variable's name, not a run with NaN connections.
func TestScriptRejectsBadEnv(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, k6, "run", "--no-usage-report", "--address", "",
		"-e", "CONNECTIONS=10k", filepath.Join(scriptDir(t), "capacity.js")).CombinedOutput()
	if err == nil {
		t.Fatalf("k6 accepted CONNECTIONS=10k:\n%s", out)
	}
	if !strings.Contains(string(out), "CONNECTIONS must be a number") {
		t.Fatalf("error does not name CONNECTIONS:\n%s", out)
	}
}

// TestSplitRunAndMerge runs a whole fleet on this machine, 2 k6 processes
// against 2 servers, and checks the merged report against what the split
// must give: every connection opened once, each part exactly its planned
// share (what massconn.share computed in k6), rows delivered and merged
// latency percentiles, memory of every process.
func TestSplitRunAndMerge(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	server := binary(t, "MASSCONN_SERVER")
	pg := pgtest.Start(t)
	out := t.TempDir()
	const total = 101 // odd, so the two segments get different counts
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := Run(ctx, RunConfig{
		Scenario: "capacity", ScriptDir: scriptDir(t), Connections: total, Duration: "3s", Out: out,
		DatabaseURL: pg.URL(), Parts: 2, Servers: 2, BasePort: freePorts(t, 2), K6: k6, Server: server,
		InsertEvery: 200 * time.Millisecond, Env: []string{"MIN_PER_CONN=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Pass {
		t.Fatalf("report fails: %v", r.Problems)
	}
	plan, err := NewPlan(PlanConfig{Connections: total, Parts: 2, Servers: 2, PerProcess: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Parts) != 2 {
		t.Fatalf("%d parts in the report", len(r.Parts))
	}
	for i, p := range r.Parts {
		if p.Opened != plan.Parts[i].Connections || p.ExitCode != 0 {
			t.Errorf("part %d opened %d (exit %d), plan says %d", i, p.Opened, p.ExitCode, plan.Parts[i].Connections)
		}
		if p.PeakRSS <= 0 {
			t.Errorf("part %d: no RSS sampled", i)
		}
	}
	c := r.Connections
	if c.Opened != total || c.PeakOpen != total || c.Failures != 0 || c.Drops != 0 {
		t.Errorf("connections %+v, want %d opened and held, none failed or dropped", c, total)
	}
	if d := r.Delivery; d == nil || !d.Complete || d.Rows == 0 || d.Sequences != total || d.NotChecked != "" {
		t.Errorf("delivery %+v: want every row of the window checked at all %d connections", d, total)
	}
	// The database was given (DatabaseURL): not the run's to measure.
	if m := r.Machine; m == nil || m.PostgresPSS != -1 || m.K6RSS <= 0 || m.ServerRSS <= 0 || m.Used <= 0 {
		t.Errorf("machine memory %+v: want k6 and servers measured, the given PostgreSQL not", m)
	}
	if r.Latency == nil || r.Latency.Count < total {
		t.Errorf("latency %+v: want rows delivered to every connection while all were open", r.Latency)
	}
	if r.Memory.ClientProcesses != 2 || r.Memory.ServerProcesses != 2 || r.Memory.ClientBytesPerConn <= 0 || r.Memory.ServerBytesPerConn <= 0 {
		t.Errorf("memory %+v: want both k6 and both servers sampled", r.Memory)
	}
	if sv := r.Servers; sv == nil || sv.Snapshots != 2 || sv.Accepted != total || sv.InsertToQueue == nil || sv.MessagesQueued < total {
		t.Errorf("server side %+v: want both servers' counts, %d accepted, rows queued", sv, total)
	}
	for _, f := range []string{"report.json", "report.md", "chart.svg", "plan.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}

	// Each part's web dashboard is laid out by the extension's
	// configuration: the massconn tab comes first.
	for i := range 2 {
		html, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("dashboard-part-%02d.html", i)))
		if err != nil {
			t.Errorf("part %d's dashboard: %v", i, err)
			continue
		}
		if tabs := dashboardTabs(t, html); len(tabs) == 0 || tabs[0] != "massconn" {
			t.Errorf("part %d's dashboard has tabs %q, want the massconn tab first", i, tabs)
		}
	}

	// The same part directories merged again by hand (as the infra fleet
	// does): the same counts; and with one part missing, a clear error.
	parts := []string{filepath.Join(out, "parts", "part-00"), filepath.Join(out, "parts", "part-01"), filepath.Join(out, "parts", "servers")}
	again, err := Merge(parts, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Connections.Opened != total || again.Connections.Target != total {
		t.Errorf("re-merge: %+v", again.Connections)
	}
	if _, err := Merge(parts[:1], MergeOptions{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("merging 1 of 2 parts: %v, want an error naming the missing part", err)
	}
	if _, err := Merge([]string{parts[0], parts[0], parts[1]}, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("merging a part twice: %v, want an error", err)
	}
}

// A server that ignores SIGTERM is killed after the grace period instead
// of hanging the run.
func TestStopAllKillsAHungServer(t *testing.T) {
	var procs []*serverProc
	for i := range 3 {
		// The second one dies of SIGTERM; the others ignore it.
		spec := launch.Spec{Name: fmt.Sprint("proc", i), Log: filepath.Join(t.TempDir(), "log"),
			Bin: "sh", Args: []string{"-c", `trap "" TERM; echo ready; while :; do sleep 1; done`}}
		if i == 1 {
			spec.Bin, spec.Args = "sleep", []string{"1000"}
		}
		p, err := launch.Start(spec)
		if err != nil {
			t.Fatal(err)
		}
		if i != 1 {
			// The trap is set once it has printed.
			if err := p.WaitHealthy(context.Background(), time.Minute, 10*time.Millisecond, func() (bool, error) {
				b, err := os.ReadFile(spec.Log)
				return strings.Contains(string(b), "ready"), err
			}); err != nil {
				t.Fatal(err)
			}
		}
		procs = append(procs, &serverProc{Proc: p, listen: spec.Name})
	}
	killed := stopAll(procs, 2*time.Second)
	if strings.Join(killed, ",") != "proc0,proc2" {
		t.Fatalf("killed %v, want proc0 and proc2 (proc1 dies of SIGTERM)", killed)
	}
	for _, p := range procs {
		select {
		case <-p.Exited():
		default:
			t.Fatalf("stopAll returned with %s still running", p.listen)
		}
	}
}

// --server-arg reaches every server: a bad one stops the run at start-up
// with the server's own message naming the flag, a good one is taken.
func TestServerArgsReachTheServers(t *testing.T) {
	server := binary(t, "MASSCONN_SERVER")
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, server, "migrate", "--database-url", pg.URL()).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	plans := []ServerPlan{{Listen: listen, MaxConns: 100}}

	procs, err := startServers(ctx, server, pg.URL(), plans, t.TempDir(), []string{"--ping-interval", "0s"})
	stopAll(procs, serverStopGrace)
	if err == nil || !strings.Contains(err.Error(), "ping-interval") {
		t.Fatalf("a bad --ping-interval for the servers: got %v, want the server's error naming ping-interval", err)
	}

	procs, err = startServers(ctx, server, pg.URL(), plans, t.TempDir(), []string{"--ping-interval", "2m"})
	defer stopAll(procs, serverStopGrace)
	if err != nil {
		t.Fatalf("a good --ping-interval for the servers: %v", err)
	}
}
