package k6test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	massconn "github.com/massconn/massconn/xk6-massconn"
	"github.com/massconn/massconn/xk6-massconn/internal/centrifugotest"
	"github.com/massconn/massconn/xk6-massconn/internal/mosquittotest"
	"github.com/massconn/massconn/xk6-massconn/internal/protopeer"
	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// exampleConns is how many connections each example opens in its test.
const exampleConns = 20

// examplePubs is how many application messages the test makes the server
// send to every connection of a protocol example.
const examplePubs = 5

// examples maps each file of examples/ to the test that runs it against
// its local peer. TestExamples fails for a file missing here, so a new
// example cannot go untested.
var examples = map[string]func(t *testing.T, script string){
	"smoke.js":      testSmokeExample,
	"hold.js":       testHoldExample,
	"steps.js":      testStepsExample,
	"users.js":      testUsersExample,
	"centrifugo.js": testCentrifugoExample,
	"socketio.js":   testProtoPeerExample("socketio", "/socket.io/", examplePubs),
	"graphql-ws.js": testProtoPeerExample("graphql", "/graphql", examplePubs),
	// The Phoenix peer pushes one "system" event after each join, and per
	// publication a postgres_changes and a presence_state event.
	"phoenix.js": testProtoPeerExample("phoenix", "/socket/websocket", 1+2*examplePubs),
	"mqtt.js":    testMQTTExample,
	"sse.js":     testSSEExample,
	"summary.js": testSummaryExample,
}

// TestExamples runs every examples/*.js through the real k6 against a real
// local peer, with few connections and short holds, and checks that k6
// exits 0 and counts what the peer sent.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.js"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range examples {
		if !slices.Contains(names, name) {
			t.Errorf("examples_test.go has a case for examples/%s, which does not exist", name)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			// Each waits on its hold with 20 idle connections: run them together.
			t.Parallel()
			run, ok := examples[name]
			if !ok {
				t.Fatalf("examples/%s has no test: add a case to examples in examples_test.go", name)
			}
			script, err := filepath.Abs(filepath.Join("..", "examples", name))
			if err != nil {
				t.Fatal(err)
			}
			run(t, script)
		})
	}
}

// runExample runs the example at script with env and fails the test
// unless k6 exited 0 without a script error (an exception in the default
// function leaves k6's exit code 0).
func runExample(t *testing.T, script string, env map[string]string) k6Result {
	t.Helper()
	res := runK6Path(t, script, env)
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	if strings.Contains(res.output, "level=error") {
		t.Fatalf("the script failed:\n%s", res.output)
	}
	return res
}

// runExampleServed runs the example while, once ready holds, serve makes
// the peer send its messages.
func runExampleServed(t *testing.T, script string, env map[string]string, ready func() bool, serve func()) k6Result {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !within(time.Minute, ready) {
			t.Error("the example's connections never all subscribed")
			return
		}
		serve()
	}()
	res := runExample(t, script, env)
	<-done
	return res
}

// wantCounts checks the summary's count of each metric.
func wantCounts(t *testing.T, res k6Result, want map[string]float64) {
	t.Helper()
	for metric, n := range want {
		if got := res.value(t, metric, "count"); got != n {
			t.Errorf("%s = %v, want %v", metric, got, n)
		}
	}
}

func testSmokeExample(t *testing.T, script string) {
	res := runExample(t, script, map[string]string{"URL": startWSPeer(t), "HOLD": "1s"})
	if !strings.Contains(res.output, "massconn "+massconn.Version) {
		t.Errorf("the smoke test did not log massconn.version:\n%s", res.output)
	}
	wantCounts(t, res, map[string]float64{"ws_sessions": 10, "ws_msgs_received": 10, "massconn_failures": 0})
}

// handleSummary writes k6's summary with the extension's version added.
func testSummaryExample(t *testing.T, script string) {
	file := filepath.Join(t.TempDir(), "summary.json")
	res := runExample(t, script, map[string]string{"URL": startWSPeer(t), "SUMMARY": file})
	if want := fmt.Sprintf("massconn %s: 10 sessions", massconn.Version); !strings.Contains(res.output, want) {
		t.Errorf("the example did not print %q:\n%s", want, res.output)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("handleSummary wrote no summary: %v", err)
	}
	var doc struct {
		Version string                    `json:"massconn_version"`
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the summary is not JSON: %v", err)
	}
	if doc.Version != massconn.Version {
		t.Errorf("massconn_version = %q, want %q", doc.Version, massconn.Version)
	}
	if _, ok := doc.Metrics["ws_sessions"]; !ok {
		t.Errorf("the summary lost k6's metrics: %s", b)
	}
}

func testHoldExample(t *testing.T, script string) {
	res := runExample(t, script, map[string]string{
		"URL": startWSPeer(t), "CONNECTIONS": fmt.Sprint(exampleConns), "HOLD": "2s",
	})
	wantCounts(t, res, map[string]float64{"ws_sessions": exampleConns, "massconn_failures": 0, "massconn_drops": 0})
	if got := res.value(t, "massconn_open", "max"); got != exampleConns {
		t.Errorf("massconn_open max = %v, want %d held at once", got, exampleConns)
	}
}

// Five round trips per connection: every echo is taken by an expect step.
func testStepsExample(t *testing.T, script string) {
	res := runExample(t, script, map[string]string{
		"URL": startWSPeer(t), "CONNECTIONS": fmt.Sprint(exampleConns), "HOLD": "15s",
	})
	wantCounts(t, res, map[string]float64{
		"ws_msgs_sent": 5 * exampleConns, "ws_msgs_received": 5 * exampleConns, "massconn_failures": 0,
	})
	if !strings.Contains(res.output, fmt.Sprintf("round trips: %d", 5*exampleConns)) {
		t.Errorf("pool.stats().rtt is not %d:\n%s", 5*exampleConns, res.output)
	}
}

// The shipped users.jsonl signs each connection in as its own user:
// Centrifugo counts as many users as rows.
func testUsersExample(t *testing.T, script string) {
	srv := centrifugotest.Start(t)
	var seen centrifugotest.Info
	res := runExampleServed(t, script, map[string]string{"URL": srv.WS, "HOLD": "10s"},
		func() bool {
			info, ok := srv.Info()
			if ok {
				seen = info
			}
			return ok && info.Users == exampleConns
		}, func() {})
	if seen.Clients != exampleConns || seen.Users != exampleConns {
		t.Errorf("Centrifugo counted %d users on %d clients, want %d each", seen.Users, seen.Clients, exampleConns)
	}
	wantCounts(t, res, map[string]float64{"ws_sessions": exampleConns, "massconn_failures": 0})
}

func testCentrifugoExample(t *testing.T, script string) {
	srv := centrifugotest.Start(t)
	const channel = "examples"
	res := runExampleServed(t, script, map[string]string{
		"URL": srv.WS, "CHANNEL": channel, "CONNECTIONS": fmt.Sprint(exampleConns), "HOLD": "15s",
	}, func() bool { return srv.Subscribed(channel) == exampleConns }, func() {
		for range examplePubs {
			srv.Publish(t, channel, map[string]any{"ts": time.Now().UnixMilli()})
		}
	})
	wantCounts(t, res, map[string]float64{"ws_msgs_received": exampleConns * examplePubs, "massconn_failures": 0})
	if got := res.value(t, "massconn_latency", "max"); got <= 0 {
		t.Errorf("massconn_latency max = %v: nothing measured", got)
	}
}

// testProtoPeerExample runs an example against the protocol peer mode at
// path, which publishes examplePubs times once every connection is
// subscribed: each connection must count perConn application messages.
func testProtoPeerExample(mode, path string, perConn int) func(t *testing.T, script string) {
	return func(t *testing.T, script string) {
		peer := protopeer.Start(t, mode)
		res := runExampleServed(t, script, map[string]string{
			"URL": peer.URL("ws", path), "CONNECTIONS": fmt.Sprint(exampleConns), "HOLD": "15s",
		}, func() bool { return peer.Count(t) == exampleConns }, func() { peer.Publish(t, examplePubs) })
		wantCounts(t, res, map[string]float64{"ws_msgs_received": float64(exampleConns * perConn), "massconn_failures": 0})
	}
}

func testMQTTExample(t *testing.T, script string) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	const topic = "examples/temp"
	res := runExampleServed(t, script, map[string]string{
		"URL": broker.WS, "TOPIC": topic, "CONNECTIONS": fmt.Sprint(exampleConns), "HOLD": "15s",
	}, func() bool { return broker.Sys(t, "subscriptions/count") == exampleConns }, func() {
		pub := broker.Publish(t, topic, 1)
		for i := range examplePubs {
			pub.Line(t, fmt.Sprintf(`{"seq":%d,"ts":%d}`, i, time.Now().UnixMilli()))
		}
	})
	wantCounts(t, res, map[string]float64{
		"ws_msgs_received": exampleConns * examplePubs, "massconn_gaps": 0, "massconn_failures": 0,
	})
	if got := res.value(t, "massconn_latency", "max"); got <= 0 {
		t.Errorf("massconn_latency max = %v: nothing measured", got)
	}
}

// EventSource streams of nchan: every published event reaches every
// stream, its latency is measured, and no stream goes silent.
func testSSEExample(t *testing.T, script string) {
	n := testpeer.StartNchan(t, testpeer.NchanOptions{})
	const channel = "examples"
	res := runExampleServed(t, script, map[string]string{
		"URL": n.SubURL("http", channel), "CONNECTIONS": fmt.Sprint(exampleConns), "HOLD": "10s",
	}, func() bool { return n.Subscribers(t, channel) == exampleConns }, func() {
		for range examplePubs {
			n.Publish(t, channel, fmt.Sprintf(`{"ts":%d}`, time.Now().UnixMilli()))
		}
	})
	wantCounts(t, res, map[string]float64{
		"sse_event": exampleConns * examplePubs, "massconn_failures": 0, "massconn_drops": 0,
	})
	if got := res.value(t, "massconn_latency", "max"); got <= 0 {
		t.Errorf("massconn_latency max = %v: nothing measured", got)
	}
}
