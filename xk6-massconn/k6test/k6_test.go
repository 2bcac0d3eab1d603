// Package k6test runs a real k6 built with the extension (K6_BINARY) on
// small scripts against a real WebSocket server (the npm ws package) and
// checks k6's exit code and summary.
package k6test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// k6 exit codes (go.k6.io/k6/errext/exitcodes).
const (
	exitThresholdsFailed = 99
	exitScriptException  = 107
)

// runTimeout only keeps a broken build from hanging the test run.
const runTimeout = 2 * time.Minute

func k6Binary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("K6_BINARY")
	if bin == "" {
		t.Fatal("K6_BINARY is not set: run `make bin/k6` and set K6_BINARY to its absolute path (`make unit-test` does both)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("K6_BINARY=%s: %v; run `make bin/k6`", bin, err)
	}
	return bin
}

// startWSPeer starts the npm ws server (testpeer.WSPeer) and returns its
// URL with the root path; env adds KEY=value settings (DEFLATE=1,
// TLS_CERT/TLS_KEY for wss://). It stops with the test.
func startWSPeer(t *testing.T, env ...string) string {
	t.Helper()
	return testpeer.WSPeer(t, env...) + "/"
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

type k6Result struct {
	code    int
	output  string
	metrics map[string]map[string]any // from --summary-export
}

func (r k6Result) value(t *testing.T, metric, field string) float64 {
	t.Helper()
	m, ok := r.metrics[metric]
	if !ok {
		t.Fatalf("metric %s missing from the summary; k6 output:\n%s", metric, r.output)
	}
	v, ok := m[field].(float64)
	if !ok {
		t.Fatalf("%s has no numeric %q in the summary: %v", metric, field, m)
	}
	return v
}

// metricValue is one value a summary must hold.
type metricValue struct {
	metric, field string
	want          float64
}

func (r k6Result) expectValues(t *testing.T, wants []metricValue) {
	t.Helper()
	for _, w := range wants {
		if got := r.value(t, w.metric, w.field); got != w.want {
			t.Errorf("%s %s = %v, want %v", w.metric, w.field, got, w.want)
		}
	}
}

// runK6 runs `k6 run` on a script from testdata with the given env.
func runK6(t *testing.T, script string, env map[string]string, extraArgs ...string) k6Result {
	t.Helper()
	return runK6Path(t, filepath.Join("testdata", script), env, extraArgs...)
}

// runK6Path runs `k6 run` on the script at path.
func runK6Path(t *testing.T, path string, env map[string]string, extraArgs ...string) k6Result {
	t.Helper()
	return runK6Wrapped(t, nil, path, env, extraArgs...)
}

// runK6Wrapped runs `k6 run` on the script at path as the last arguments
// of wrapper (e.g. a shell that sets up a mount namespace first); nil runs
// k6 directly.
func runK6Wrapped(t *testing.T, wrapper []string, path string, env map[string]string, extraArgs ...string) k6Result {
	t.Helper()
	summary := filepath.Join(t.TempDir(), "summary.json")
	args := []string{"run", "--no-color", "--summary-export", summary}
	for k, v := range env {
		args = append(args, "-e", k+"="+v)
	}
	args = append(args, extraArgs...)
	args = append(args, path)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	argv := append(append(slices.Clone(wrapper), k6Binary(t)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // the test's own k6 and wrapper
	cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true")
	out, err := cmd.CombinedOutput()
	res := k6Result{output: string(out)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		t.Fatalf("running k6: %v\n%s", err, out)
	}
	if ctx.Err() != nil {
		t.Fatalf("k6 did not finish within %v:\n%s", runTimeout, out)
	}
	if b, err := os.ReadFile(summary); err == nil {
		var doc struct {
			Metrics map[string]map[string]any `json:"metrics"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("parsing the summary export: %v", err)
		}
		res.metrics = doc.Metrics
	}
	return res
}

func TestThresholdsPassAgainstWSPeer(t *testing.T) {
	url := startWSPeer(t)
	res := runK6(t, "pass.js", map[string]string{"WS_URL": url})
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	res.expectValues(t, []metricValue{
		{"ws_sessions", "count", 50},
		{"ws_msgs_received", "count", 1000},
		{"massconn_failures", "count", 0},
		{"massconn_drops", "count", 0},
		{"massconn_open", "max", 50},
		{"massconn_open", "value", 0}, // all closed at the end
	})
	// The trends exist: latency from the pushed ts field, connecting times.
	for _, m := range []string{"massconn_latency", "ws_connecting", "ws_session_duration"} {
		if res.value(t, m, "max") < res.value(t, m, "min") {
			t.Errorf("%s: max < min in %v", m, res.metrics[m])
		}
	}
	if res.value(t, "ws_msgs_sent", "count") < 50 {
		t.Errorf("ws_msgs_sent = %v, want at least the 50 onOpenSend messages", res.value(t, "ws_msgs_sent", "count"))
	}
}

func TestFailingThresholdExits99(t *testing.T) {
	url := fmt.Sprintf("ws://127.0.0.1:%d/", closedPort(t))
	res := runK6(t, "refused.js", map[string]string{"WS_URL": url})
	if res.code != exitThresholdsFailed {
		t.Fatalf("k6 exited %d, want %d (thresholds failed):\n%s", res.code, exitThresholdsFailed, res.output)
	}
	if got := res.value(t, "massconn_failures", "count"); got != 5 {
		t.Errorf("massconn_failures count = %v, want 5", got)
	}
	if got := res.value(t, "massconn_failures{reason:refused}", "count"); got != 5 {
		t.Errorf("massconn_failures{reason:refused} count = %v, want 5", got)
	}
	if !strings.Contains(res.output, "thresholds on metrics 'massconn_failures' have been crossed") {
		t.Errorf("k6 does not name the crossed threshold:\n%s", res.output)
	}
}

func TestWrongOptionsNameTheOption(t *testing.T) {
	url := fmt.Sprintf("ws://127.0.0.1:%d/", closedPort(t))
	tests := []optionErrorCase{
		{"typo", `{"urls":["` + url + `"],"conections":10}`,
			"massconn.connect: unknown option 'conections' (did you mean 'connections'?)"},
		{"negative rate", `{"urls":["` + url + `"],"connections":10,"rate":-5}`,
			"massconn.connect: option 'rate' must be a number >= 0, got -5"},
		{"bad scheme", `{"urls":["ftp://127.0.0.1:1/"],"connections":1}`,
			"massconn.connect: option 'urls[0]'"},
		// More connections than the open-file limit allows: the capacity
		// check fails before any socket is opened and says how to lift it.
		{"capacity", `{"urls":["` + url + `"],"connections":5000000}`,
			"massconn.connect: capacity:"},
	}
	checkOptionErrors(t, tests)
}

// optionErrorCase is connect() options (JSON) that must make the script
// throw, and a text the error must contain.
type optionErrorCase struct{ name, opts, want string }

// checkOptionErrors runs options.js with each case's options: k6 must
// exit with a script exception whose output contains the case's text.
func checkOptionErrors(t *testing.T, tests []optionErrorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runK6(t, "options.js", map[string]string{"OPTS": tt.opts})
			if res.code != exitScriptException {
				t.Fatalf("k6 exited %d, want %d (script exception):\n%s", res.code, exitScriptException, res.output)
			}
			if !strings.Contains(res.output, tt.want) {
				t.Fatalf("k6 output does not contain %q:\n%s", tt.want, res.output)
			}
		})
	}
}

// Two processes with complementary execution segments of one sequence open
// exactly the total between them, as a fleet of load generators would.
func TestExecutionSegmentsSplitTheTotal(t *testing.T) {
	url := startWSPeer(t)
	const total = 31 // odd, so the halves differ and rounding is exercised
	segments := []string{"0:1/2", "1/2:1"}
	results := make([]k6Result, len(segments))
	var wg sync.WaitGroup
	for i, seg := range segments {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runK6(t, "segments.js", map[string]string{"WS_URL": url, "TOTAL": fmt.Sprint(total)},
				"--execution-segment", seg, "--execution-segment-sequence", "0,1/2,1")
		}()
	}
	wg.Wait()
	var sum float64
	for i, res := range results {
		if res.code != 0 {
			t.Fatalf("segment %s: k6 exited %d:\n%s", segments[i], res.code, res.output)
		}
		n := res.value(t, "ws_sessions", "count")
		if n == 0 || n == total {
			t.Errorf("segment %s opened %v of %d: the work is not split", segments[i], n, total)
		}
		if !strings.Contains(res.output, fmt.Sprintf("share %v", n)) {
			t.Errorf("segment %s: share() does not match the %v sessions opened:\n%s", segments[i], n, res.output)
		}
		if got := res.value(t, "massconn_failures", "count"); got != 0 {
			t.Errorf("segment %s: %v failures", segments[i], got)
		}
		sum += n
	}
	if sum != total {
		t.Fatalf("the segments opened %v connections together, want exactly %d", sum, total)
	}
}

// Under every executor, each iteration's connections are counted exactly
// once: per scenario, ws_sessions == connections per iteration * iterations.
func TestEveryExecutor(t *testing.T) {
	url := startWSPeer(t)
	res := runK6(t, "executors.js", map[string]string{"WS_URL": url})
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	for _, s := range []string{"shared", "pervu", "constant", "ramping", "arrival", "rampingArrival"} {
		iters := res.value(t, "iterations{scenario:"+s+"}", "count")
		sessions := res.value(t, "ws_sessions{scenario:"+s+"}", "count")
		if iters == 0 {
			t.Errorf("scenario %s ran no iteration", s)
		}
		if sessions != 3*iters {
			t.Errorf("scenario %s: %v sessions for %v iterations of 3 connections", s, sessions, iters)
		}
	}
	if got := res.value(t, "massconn_failures", "count"); got != 0 {
		t.Errorf("massconn_failures = %v, want 0", got)
	}
}

// hold('10m') in a 1s scenario: k6 must stop it with the scenario (the run
// timeout would otherwise fail the test), with the sessions counted.
func TestHoldReturnsWhenTheTestStops(t *testing.T) {
	url := startWSPeer(t)
	res := runK6(t, "stop.js", map[string]string{"WS_URL": url})
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	if got := res.value(t, "ws_sessions", "count"); got != 4 {
		t.Errorf("ws_sessions = %v, want 4", got)
	}
}

// The last flush of a pool reaches the summary however the iteration ends:
// the server sends 5 messages to each of 2 connections, and
// ws_msgs_received must be exactly 10 whether the iteration returns at once
// (no hold, no close), is cut by maxDuration, or by the end of gracefulStop.
func TestFinalFlushReachesTheSummary(t *testing.T) {
	url := startWSPeer(t)
	for _, mode := range []string{"end", "cut", "graceful"} {
		t.Run(mode, func(t *testing.T) {
			res := runK6(t, "final.js", map[string]string{"WS_URL": url, "MODE": mode})
			if res.code != 0 {
				t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
			}
			if mode == "end" && !strings.Contains(res.output, `received\":10`) {
				t.Fatalf("pool.stats() did not count the 10 messages:\n%s", res.output)
			}
			if got := res.value(t, "ws_msgs_received", "count"); got != 10 {
				t.Errorf("ws_msgs_received = %v in the summary, want 10 (as pool.stats() counted):\n%s", got, res.output)
			}
			if got := res.value(t, "ws_sessions", "count"); got != 2 {
				t.Errorf("ws_sessions = %v, want 2", got)
			}
			if strings.Contains(res.output, "panic") {
				t.Errorf("k6 panicked:\n%s", res.output)
			}
		})
	}
}

// A drop less than half a second before the scenario is cut still fails a
// massconn_drops threshold.
func TestDropAtTheEndFailsTheThreshold(t *testing.T) {
	url := startWSPeer(t)
	res := runK6(t, "lastdrop.js", map[string]string{"WS_URL": url})
	if res.code != exitThresholdsFailed {
		t.Fatalf("k6 exited %d, want %d (thresholds failed):\n%s", res.code, exitThresholdsFailed, res.output)
	}
	if got := res.value(t, "massconn_drops", "count"); got != 2 {
		t.Errorf("massconn_drops = %v, want the 2 drops", got)
	}
}

// compression: true reaches the engine: against a server compressing every
// message, all are counted and their JSON timestamps read.
func TestCompressionOption(t *testing.T) {
	url := startWSPeer(t, "DEFLATE=1")
	res := runK6(t, "compression.js", map[string]string{"WS_URL": url})
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	// The compressed JSON was read: latency values exist.
	if res.value(t, "massconn_latency", "max") < res.value(t, "massconn_latency", "min") {
		t.Errorf("massconn_latency: %v", res.metrics["massconn_latency"])
	}
	if got := res.value(t, "ws_msgs_received", "count"); got != 40 {
		t.Errorf("ws_msgs_received = %v, want 40", got)
	}
}
