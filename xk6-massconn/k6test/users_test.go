package k6test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/centrifugotest"
)

// writeUsers writes n JSON lines {"token", "sub"}, a Centrifugo JWT for
// user-0 ... user-(n-1), and returns the file's path.
func writeUsers(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	exp := time.Now().Add(time.Hour)
	for i := range n {
		sub := fmt.Sprintf("user-%d", i)
		fmt.Fprintf(&b, "{\"token\":%q,\"sub\":%q}\n", centrifugotest.HS256(centrifugotest.Secret, sub, exp), sub)
	}
	path := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEachConnectionItsOwnUser: with a JWT per row of a data file and
// {{data.token}} (a SharedArray of objects) or {{data}} (an array of
// strings), Centrifugo's server API counts as many users as connections,
// also when two k6 processes split the test by execution segments: their
// {{conn}} indices do not overlap, so no row is used twice.
func TestEachConnectionItsOwnUser(t *testing.T) {
	srv := centrifugotest.Start(t)
	const total = 30
	dataFile := writeUsers(t, total)
	for _, tc := range []struct {
		name     string
		rows     string
		segments []string
	}{
		{"strings", "strings", nil},
		{"SharedArray", "shared", nil},
		{"SharedArray in two segments", "shared", []string{"0:1/2", "1/2:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"WS_URL": srv.WS, "API": srv.API, "API_KEY": centrifugotest.APIKey,
				"DATA_FILE": dataFile, "ROWS": tc.rows, "TOTAL": fmt.Sprint(total), "LINGER": "3s",
			}
			runs := [][]string{nil}
			if tc.segments != nil {
				env["VUS"] = fmt.Sprint(len(tc.segments))
				runs = nil
				for _, seg := range tc.segments {
					runs = append(runs, []string{"--execution-segment", seg, "--execution-segment-sequence", "0,1/2,1"})
				}
			}
			// Centrifugo's info lags behind: start from an empty server.
			waitInfo(t, srv, func(i centrifugotest.Info) bool { return i.Clients == 0 })
			results := make([]k6Result, len(runs))
			var wg sync.WaitGroup
			finished := make(chan struct{})
			for i, args := range runs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = runK6(t, "users.js", env, args...)
				}()
			}
			go func() { wg.Wait(); close(finished) }()
			// The server's own count, taken while every connection is held.
			var seen centrifugotest.Info
			for seen.Clients < total && !closed(finished) {
				if info, ok := srv.Info(); ok && info.Clients >= seen.Clients {
					seen = info
				}
				time.Sleep(10 * time.Millisecond)
			}
			wg.Wait()
			for i, res := range results {
				// An exception in the default function does not change k6's
				// exit code: the script's closing log line shows it ran.
				if res.code != 0 || !strings.Contains(res.output, "stats {") || strings.Contains(res.output, "GoError") {
					t.Fatalf("k6 run %d exited %d:\n%s", i, res.code, res.output)
				}
			}
			if seen.Clients != total || seen.Users != total {
				t.Fatalf("Centrifugo counted %d users on %d clients, want %d each", seen.Users, seen.Clients, total)
			}
		})
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func waitInfo(t *testing.T, srv centrifugotest.Server, cond func(centrifugotest.Info) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if info, ok := srv.Info(); ok && cond(info) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Centrifugo's info never reached the expected state")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTemplateOptionErrors: a template naming data that connect() was not
// given, or data of the wrong shape, is a one-line error naming the
// option, before any dial.
func TestTemplateOptionErrors(t *testing.T) {
	checkOptionErrors(t, []optionErrorCase{
		{"data field without data", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"protocol":{"name":"centrifugo","token":"{{data.x}}"}}`,
			"massconn.connect: option 'protocol.token' uses {{data.x}} but connect() has no data: pass data: [...]"},
		{"unknown variable", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"onOpenSend":"hi {{user}}"}`,
			"massconn.connect: option 'onOpenSend' unknown variable {{user}}; known: {{conn}}, {{vu}}, {{data}}, {{data.FIELD}}"},
		{"missing field", `{"urls":["ws://127.0.0.1:1/{{data.id}}"],"connections":1,"data":[{"user":"a"}]}`,
			"massconn.connect: option 'urls[0]' uses {{data.id}} but no data row has the field"},
		{"header of string rows", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"headers":{"Authorization":"Bearer {{data.t}}"},"data":["a","b"]}`,
			"massconn.connect: option 'headers' uses {{data.t}} but the data rows are strings: use {{data}}"},
		{"data not an array", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"data":"tokens.csv"}`,
			"massconn.connect: option 'data' must be an array of strings or objects"},
		{"mixed rows", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"data":["a",{"b":1}]}`,
			"massconn.connect: option 'data[1]' is an object but [0] is a string"},
	})
}
