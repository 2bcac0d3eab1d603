package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/massconn/massconn/fleet"
)

func TestPlanCommand(t *testing.T) {
	var out bytes.Buffer
	code, err := dispatch(context.Background(), "plan", []string{"--connections", "200000", "--per-process", "19000"}, &out)
	if err != nil || code != 0 {
		t.Fatalf("plan: %d %v", code, err)
	}
	var p fleet.Plan
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("plan output is not the JSON plan: %v\n%s", err, out.String())
	}
	if len(p.Parts) != 11 || p.Parts[10].Segment != "10/11:1" || p.Total != 200000 {
		t.Fatalf("plan %+v", p)
	}

	out.Reset()
	if code, err := dispatch(context.Background(), "plan", []string{"--connections", "10", "--parts", "2", "--format", "env"}, &out); err != nil || code != 0 {
		t.Fatalf("plan env: %d %v", code, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "PART=1 SEGMENT='1/2:1' SEQUENCE='0,1/2,1' CONNECTIONS_PART=5 CONNECTIONS=10 ") {
		t.Fatalf("env format:\n%s", out.String())
	}
}

// TestPlanTransport: plan --transport sse gives the parts http:// URLs to
// the servers' /sse, as run --transport sse connects; the default and
// --transport ws stay on /ws.
func TestPlanTransport(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "ws://127.0.0.1:8080/ws?topic=Track"},
		{[]string{"--transport", "ws"}, "ws://127.0.0.1:8080/ws?topic=Track"},
		{[]string{"--transport", "sse"}, "http://127.0.0.1:8080/sse?topic=Track"},
		{[]string{"--transport", "SSE", "--path", "/sse?topic=Album"}, "http://127.0.0.1:8080/sse?topic=Album"},
	} {
		var out bytes.Buffer
		args := append([]string{"--connections", "10", "--servers", "1"}, tc.args...)
		if code, err := dispatch(context.Background(), "plan", args, &out); err != nil || code != 0 {
			t.Fatalf("plan %v: %d %v", args, code, err)
		}
		var p fleet.Plan
		if err := json.Unmarshal(out.Bytes(), &p); err != nil {
			t.Fatalf("plan %v output is not the JSON plan: %v\n%s", args, err, out.String())
		}
		if got := strings.Join(p.Parts[0].URLs, ","); got != tc.want {
			t.Errorf("plan %v: URLs %s, want %s", args, got, tc.want)
		}
	}
}

func TestBadInvocationsNameTheFix(t *testing.T) {
	cases := []struct {
		cmd  string
		args []string
		want string
	}{
		{"plan", nil, "--connections is required"},
		{"plan", []string{"--connections", "10", "--format", "yaml"}, "--format must be json, table or env"},
		{"plan", []string{"--connections", "200000", "--parts", "2", "--per-process", "19000"}, "use --parts 11 or more"},
		{"plan", []string{"--connections", "10", "--transport", "http"}, `--transport "http": must be ws`},
		{"part", []string{"--parts", "2", "--index", "2", "--dir", "x"}, "--index I (0..K-1)"},
		{"part", []string{"--parts", "2", "--index", "0", "--dir", "x"}, "give the script after the flags"},
		{"merge", []string{"--out", "x"}, "at least one part directory"},
		{"sample-rss", []string{"--out", "x"}, "--pid (at least one)"},
		{"frobnicate", nil, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.cmd+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			code, err := dispatch(context.Background(), tc.cmd, tc.args, &bytes.Buffer{})
			if code == 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %d, %v; want an error containing %q", code, err, tc.want)
			}
		})
	}
}

// -h prints a command's flags and exits 0; a flag the command does not
// know exits 2 with the flag package's error naming it.
func TestFlagsHelpAndUnknown(t *testing.T) {
	for _, cmd := range []string{"plan", "part", "sample-rss", "merge", "run"} {
		if code, err := dispatch(context.Background(), cmd, []string{"-h"}, &bytes.Buffer{}); code != 0 || err != nil {
			t.Errorf("%s -h: %d, %v; want 0, no error", cmd, code, err)
		}
		code, err := dispatch(context.Background(), cmd, []string{"--no-such-flag"}, &bytes.Buffer{})
		if code != 2 || err == nil || !strings.Contains(err.Error(), "no-such-flag") {
			t.Errorf("%s --no-such-flag: %d, %v; want 2 and an error naming the flag", cmd, code, err)
		}
	}
}

// The capacity search's bad input: one line naming the flag, before
// anything starts.
func TestSearchBadInputNamesTheFlag(t *testing.T) {
	limit := []string{"--scenario", "limit"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(limit, "--slo-p99", "0"), "--slo-p99 0s"},
		{append(limit, "--start", "5000", "--max", "1000"), "--start 5000 is above --max 1000"},
		{append(limit, "--step", "0", "--max", "1000"), "--step 0"},
		{append(limit, "--factor", "0.5", "--max", "1000"), "--factor 0.5"},
		{append(limit, "--lg-budget", "sockets=10"), "NAME=CONNECTIONS"},
		{append(limit, "--connections", "1000"), "--connections is for one run"},
		{[]string{"--scenario", "capacity", "--max", "10"}, "--max is for the capacity search: add --scenario limit"},
		{[]string{"--transport", "http"}, `--transport "http": must be ws`},
		{[]string{"--scenario", "capacity", "--heartbeat", "15s"}, "--heartbeat is for the heartbeat scenario: add --scenario heartbeat"},
		{[]string{"--scenario", "heartbeat", "--heartbeat", "0s"}, "--heartbeat 0s: must be above 0"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"--out", t.TempDir()}, tc.args...)
			code, err := dispatch(context.Background(), "run", args, &bytes.Buffer{})
			if code != 2 || err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %d, %v; want exit 2 and one line containing %q", code, err, tc.want)
			}
		})
	}
}
