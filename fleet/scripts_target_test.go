package fleet

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/fleet/publish"
	"github.com/massconn/massconn/internal/nchantest"
)

// TestScriptAgainstNchan runs fanout.js against nginx+nchan, a server
// that sends exactly what was published, with the environment a foreign
// server needs: the sequence number at seq (one sequence per connection)
// and the send time at sent.at in milliseconds, where the publisher's body
// puts them. No gap, latency measured at every connection.
func TestScriptAgainstNchan(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	srv := nchantest.Start(t, nchantest.Options{})
	p, err := publish.Config{URL: srv.PubURL("news"), Every: 200 * time.Millisecond,
		Body: `{"seq":{{seq}},"sent":{"at":{{now_ms}}}}`}.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	loop := &publish.Loop{Publisher: p, Every: 200 * time.Millisecond}
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const n = 20
	summary := filepath.Join(t.TempDir(), "summary.json")
	out, err := exec.Command(k6, "run", "--no-usage-report", "--address", "", "--summary-export", summary,
		"-e", "CONNECTIONS=20", "-e", "URLS="+srv.SubURL("news"), "-e", "DURATION=3s", "-e", "INSERT_EVERY=200ms",
		"-e", "SEQUENCE_PATH=seq", "-e", "SEQUENCE_PER=none", "-e", "LATENCY_PATH=sent.at", "-e", "LATENCY_UNIT=ms",
		"-e", `HEADERS={"X-Test":"yes"}`, "-e", "P99_MS=60000", "-e", "MIN_PER_CONN=1",
		filepath.Join(scriptDir(t), "fanout.js")).CombinedOutput()
	if err != nil {
		t.Fatalf("k6 run: %v\n%s", err, out)
	}
	var s summaryCounts
	if err := readJSON(summary, &s); err != nil {
		t.Fatal(err)
	}
	for metric, want := range map[string]float64{"ws_sessions": n, "massconn_failures": 0, "massconn_gaps": 0, "massconn_reordered": 0} {
		if got := s.count(metric); got != want {
			t.Errorf("%s = %v, want %v\n%s", metric, got, want, out)
		}
	}
	if got := s.count("massconn_latency"); got < n {
		t.Errorf("massconn_latency has %v values, want one per connection at least", got)
	}
	if rec := loop.Record(); len(rec.Failures) > 0 {
		t.Errorf("publisher: %s", rec.Summary())
	}
}

// TestScriptRejectsBadTargetEnv: each malformed option for a foreign
// server stops the script at start, naming the variable.
func TestScriptRejectsBadTargetEnv(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	// A case with a data file names the file DATA_FILE= gets (its
	// extension chooses the format) and what is in it.
	type dataFile struct{ name, text string }
	for _, tc := range []struct {
		env  string
		data *dataFile
		want string
	}{
		{"LATENCY_UNIT=sec", nil, "LATENCY_UNIT must be one of ns, us, ms, s"},
		{"HEADERS=Authorization: x", nil, "HEADERS must be JSON"},
		{`HEADERS={"X-Id":1}`, nil, "HEADERS must be a JSON object of strings"},
		{`PROTOCOL={"channels":["news"]}`, nil, "PROTOCOL must be an adapter name or a JSON object"},
		{`PROTOCOL={"name":"centrifugo"`, nil, "PROTOCOL must be JSON"},
		{"DATA_FILE=", &dataFile{"blank.txt", "\n \n"}, "has no rows"},
		{"DATA_FILE=", &dataFile{"empty.jsonl", ""}, "has no rows"},
		{"DATA_FILE=", &dataFile{"users.jsonl", `{"user":"u0"}` + "\n" + `{"user":` + "\n"}, "line 2 of"},
		{"DATA_FILE=", &dataFile{"users.csv", "user name,plan\nu0,free\n"}, "must name the columns"},
		{"DATA_FILE=", &dataFile{"users.csv", "user,plan\nu0,free\nu1\n"}, "line 3 of"},
	} {
		name := tc.env
		if tc.data != nil {
			name += tc.data.name + ": " + tc.want
		}
		t.Run(name, func(t *testing.T) {
			env := tc.env
			if tc.data != nil {
				file := filepath.Join(t.TempDir(), tc.data.name)
				if err := os.WriteFile(file, []byte(tc.data.text), 0o600); err != nil {
					t.Fatal(err)
				}
				env += file
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, k6, "run", "--no-usage-report", "--address", "",
				"-e", env, filepath.Join(scriptDir(t), "capacity.js")).CombinedOutput()
			if err == nil {
				t.Fatalf("k6 accepted %s:\n%s", tc.env, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("error does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestScriptDataFileGivesEachConnectionItsUser: DATA_FILE rows become
// {{data.FIELD}} in URLS, one user per connection, row i mod rows. Ten
// connections over five users' channels on nginx+nchan: nchan sees five
// channels, and a message published to one user's channel reaches exactly
// that user's two connections.
func TestScriptDataFileGivesEachConnectionItsUser(t *testing.T) {
	k6 := binary(t, "K6_BINARY")
	srv := nchantest.Start(t, nchantest.Options{})
	for _, tc := range []struct{ name, file, rows, field string }{
		{"csv", "users.csv", "user,plan\nu0,free\nu1,pro\nu2,free\nu3,pro\nu4,free\n", "{{data.user}}"},
		{"json lines", "users.jsonl", `{"user":"u0"}` + "\n" + `{"user":"u1"}` + "\n" + `{"user":"u2"}` + "\n" + `{"user":"u3"}` + "\n" + `{"user":"u4"}` + "\n", "{{data.user}}"},
		{"plain lines", "users.txt", "u0\nu1\r\nu2\n\nu3\nu4\n", "{{data}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, tc.file)
			if err := os.WriteFile(file, []byte(tc.rows), 0o600); err != nil {
				t.Fatal(err)
			}
			prefix := strings.ReplaceAll(tc.name, " ", "-") + "-room-"
			url := strings.Replace(srv.SubURL(prefix+"X"), prefix+"X", prefix+tc.field, 1)
			cmd := exec.Command(k6, "run", "--no-usage-report", "--address", "",
				"--summary-export", filepath.Join(dir, "summary.json"),
				"-e", "CONNECTIONS=10", "-e", "URLS="+url, "-e", "DATA_FILE="+file, "-e", "DURATION=3s",
				"-e", "SEQUENCE_PATH=none", "-e", "LATENCY_PATH=none", "-e", "MIN_PER_CONN=0",
				filepath.Join(scriptDir(t), "capacity.js"))
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			srv.WaitSubscribers(t, 10)
			resp, err := http.Post(srv.PubURL(prefix+"u3"), "application/json", strings.NewReader(`{"hello":"u3"}`))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("k6 run: %v\n%s", err, out)
			}
			var s summaryCounts
			if err := readJSON(filepath.Join(dir, "summary.json"), &s); err != nil {
				t.Fatal(err)
			}
			if got := s.count("ws_sessions"); got != 10 {
				t.Errorf("ws_sessions = %v, want 10\n%s", got, out)
			}
			// Connections 3 and 8 are user u3's: row i mod 5.
			if got := s.count("ws_msgs_received"); got != 2 {
				t.Errorf("ws_msgs_received = %v, want 2 (the two connections of user u3)\n%s", got, out)
			}
		})
	}
}
