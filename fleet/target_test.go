package fleet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/nchantest"
	"github.com/massconn/massconn/internal/pgtest"
)

// TestRunAgainstNchan: massconn-fleet run against nginx+nchan, a server
// nobody here wrote, with 2 k6 processes, WebSocket subscribers on
// nchan_subscriber and the HTTP publisher on nchan_publisher: PASS, every
// published message at every connection, latency measured from the body
// nchan passes on, the target's processes measured.
func TestRunAgainstNchan(t *testing.T) {
	fleetBin := binary(t, "MASSCONN_FLEET")
	k6 := binary(t, "K6_BINARY")
	srv := nchantest.Start(t, nchantest.Options{})
	out := t.TempDir()
	const total = 101
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fleetBin, "run", "--scenario", "capacity", "--connections", fmt.Sprint(total), "--parts", "2",
		"--duration", "4s", "--out", out, "--k6", k6, "--scripts", scriptDir(t),
		"--target", srv.SubURL("news"), "--publish-url", srv.PubURL("news"), "--publish-every", "200ms",
		"--target-pid", fmt.Sprint(srv.PID()), "-e", "MIN_PER_CONN=1")
	cmd.Env = append(os.Environ(), "DATABASE_URL=") // nothing of ours to start
	outText, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("massconn-fleet run: %v\n%s", err, outText)
	}
	r := readReport(t, out)
	if !r.Pass {
		t.Fatalf("FAIL: %v\n%s", r.Problems, outText)
	}
	if len(r.Parts) != 2 || r.Connections.Opened != total || r.Connections.PeakOpen != total {
		t.Errorf("parts %d, connections %+v: want 2 parts holding %d", len(r.Parts), r.Connections, total)
	}
	if d := r.Delivery; d == nil || !d.Complete || d.Rows == 0 || d.Sequences != total || !strings.Contains(d.Table, srv.PubURL("news")) {
		t.Errorf("delivery %+v: want every published message checked at all %d connections", d, total)
	}
	if r.Latency == nil || r.Latency.Count < total {
		t.Errorf("latency %+v: want the published messages measured at every connection", r.Latency)
	}
	tg := r.Target
	if tg == nil || tg.NotMeasured != "" || len(tg.PIDs) < 2 || tg.RSSBytes <= 0 || tg.Published == 0 || tg.PublishFailures != 0 {
		t.Errorf("target %+v: want nginx's master and worker measured, messages published, none failed", tg)
	}
	if r.Servers != nil {
		t.Errorf("server side %+v: no server of ours ran", r.Servers)
	}
	for _, f := range []string{"report.json", "report.md", "report.html", "chart.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	// The same directories merged again by hand (massconn-fleet merge):
	// the publisher's record is found and judged the same way.
	dirs := []string{filepath.Join(out, "parts", "part-00"), filepath.Join(out, "parts", "part-01"), filepath.Join(out, "parts", "servers")}
	again, err := Merge(dirs, MergeOptions{RequireDelivery: true})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Pass || again.Delivery.Rows != r.Delivery.Rows {
		t.Errorf("re-merge: problems %v, delivery %+v", again.Problems, again.Delivery)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "## The target") || !strings.Contains(string(md), "target's CPU per") {
		t.Errorf("report.md lacks the target's section or its CPU rows:\n%s", md)
	}
}

// TestRunAgainstTargetCountsRefusedPublishes: a --publish-url the target
// answers 404 fails the run, with the failures counted and shown.
func TestRunAgainstTargetCountsRefusedPublishes(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	srv := nchantest.Start(t, nchantest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bad := "http://" + srv.Addr + "/no-such-location"
	r, err := Run(ctx, RunConfig{
		Scenario: "capacity", ScriptDir: scriptDir(t), Connections: 10, Parts: 1, Duration: "3s", Out: t.TempDir(), K6: k6,
		NoFloor: true, InsertAfter: true, Targets: []string{srv.SubURL("news")},
		Publish: publish.Config{URL: bad, Every: 200 * time.Millisecond}, Env: []string{"MIN_PER_CONN=0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pass {
		t.Fatal("PASS with every publish refused")
	}
	found := false
	for _, p := range r.Problems {
		found = found || (strings.Contains(p, "publishes to POST "+bad+" failed") && strings.Contains(p, "404 Not Found"))
	}
	if !found {
		t.Errorf("problems %q do not say the publishes failed with 404", r.Problems)
	}
	if tg := r.Target; tg == nil || tg.PublishFailures == 0 || tg.Published != 0 || tg.NotMeasured == "" {
		t.Errorf("target %+v: want the failures counted and the unmeasured side said", tg)
	}
}

// TestRunInsertSQLAgainstOurServerAsTheirs: --insert-sql writes rows into
// the user's database, which the user's server (here ours, started by the
// test, not by the fleet) delivers; the row ids the statement returns are
// what the verdict counts.
func TestRunInsertSQLAgainstOurServerAsTheirs(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	server := binary(t, "MASSCONN_SERVER")
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, server, "migrate", "--database-url", pg.URL()).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	procs, err := startServers(ctx, server, pg.URL(), []ServerPlan{{Listen: listen, MaxConns: 1000}}, t.TempDir(), nil)
	t.Cleanup(func() { stopAll(procs, serverStopGrace) })
	if err != nil {
		t.Fatal(err)
	}
	const total = 40
	r, err := Run(ctx, RunConfig{
		Scenario: "capacity", ScriptDir: scriptDir(t), Connections: total, Parts: 2, Duration: "4s", Out: t.TempDir(), K6: k6,
		NoFloor: true, InsertAfter: true, Targets: []string{"ws://" + listen + "/ws?topic=Track"},
		TargetPIDs: []int{procs[0].PID()},
		Publish: publish.Config{DatabaseURL: pg.URL(), Every: 200 * time.Millisecond,
			InsertSQL: `INSERT INTO "Track" (name, composer, milliseconds, bytes) VALUES ('from --insert-sql', 'massconn', 200000, 5000000) RETURNING id`},
		Env: []string{"MIN_PER_CONN=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Pass {
		t.Fatalf("FAIL: %v", r.Problems)
	}
	if d := r.Delivery; d == nil || !d.Complete || d.Rows == 0 || d.Sequences != total {
		t.Errorf("delivery %+v: want every inserted row checked at all %d connections", d, total)
	}
	if tg := r.Target; tg == nil || !strings.HasPrefix(tg.Publisher, "SQL INSERT INTO") || tg.RSSBytes <= 0 {
		t.Errorf("target %+v: want the SQL publisher and the server's memory", tg)
	}
}

// TestBadTargetInputNamesTheFlag: each mistake stops massconn-fleet run
// before anything starts, with one line naming the flag.
func TestBadTargetInputNamesTheFlag(t *testing.T) {
	fleetBin := binary(t, "MASSCONN_FLEET")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "ftp://127.0.0.1:1/sub", "--publish-url", "http://127.0.0.1:1/pub"}, `--target "ftp://127.0.0.1:1/sub": must be a ws:// or wss:// URL (WebSocket), or http:// or https:// (Server-Sent Events)`},
		{[]string{"--target", "http://127.0.0.1:1/sub"}, "--target needs a publisher"},
		{[]string{"--target", "http://127.0.0.1:1/sub", "--transport", "ws", "--publish-url", "http://127.0.0.1:1/pub"}, `--target "http://127.0.0.1:1/sub" is sse, but the run is ws`},
		{[]string{"--target", "ws://127.0.0.1:1/sub"}, "--target needs a publisher"},
		{[]string{"--publish-url", "http://127.0.0.1:1/pub"}, "add --target"},
		{[]string{"--target", "ws://127.0.0.1:1/sub", "--publish-url", "ws://127.0.0.1:1/pub"}, `--publish-url "ws://127.0.0.1:1/pub": must be an http://`},
		{[]string{"--target", "ws://127.0.0.1:1/sub", "--insert-sql", "INSERT INTO t DEFAULT VALUES RETURNING id"}, "--insert-sql needs --database-url"},
		{[]string{"--target", "ws://127.0.0.1:1/sub", "--publish-url", "http://127.0.0.1:1/pub", "--target-pid", "999999999"}, "--target-pid 999999999: no such process"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(fleetBin, append([]string{"run", "--connections", "10", "--out", out, "--k6", "/bin/true", "--scripts", scriptDir(t), "--floor=false"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "DATABASE_URL=")
			b, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("accepted:\n%s", b)
			}
			last := strings.TrimSpace(string(b))
			last = last[strings.LastIndex(last, "\n")+1:]
			if !strings.Contains(last, tc.want) {
				t.Fatalf("last line %q does not say %q; all:\n%s", last, tc.want, b)
			}
		})
	}
}

func readReport(t *testing.T, dir string) *report.Report {
	t.Helper()
	var r report.Report
	if err := readJSON(filepath.Join(dir, "report.json"), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}
