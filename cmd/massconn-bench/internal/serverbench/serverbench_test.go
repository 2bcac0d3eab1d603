package serverbench

import (
	"strings"
	"testing"
)

func TestParseFlagsRejectsAnUnknownTarget(t *testing.T) {
	t.Setenv("TARGETS", "")
	if _, err := parseFlags([]string{"--targets", "massconn centrifugo"}, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), `"centrifugo"`) {
		t.Errorf("got %v", err)
	}
	cfg, err := parseFlags(nil, &strings.Builder{})
	if err != nil || strings.Join(cfg.targets, " ") != "massconn massconn-sse nchan nchan-sse nodews" {
		t.Errorf("default targets %v, %v", cfg.targets, err)
	}
	if _, err := parseFlags([]string{"--targets", "massconn-sse nchan-sse"}, &strings.Builder{}); err != nil {
		t.Errorf("the SSE targets: %v", err)
	}
}

// The Makefile's variables arrive as the environment.
func TestFlagsDefaultToTheEnvironment(t *testing.T) {
	t.Setenv("CONNS", "300")
	t.Setenv("TARGETS", "massconn")
	t.Setenv("SERVER_FLAGS", "--shards 4 --log-level info")
	cfg, err := parseFlags(nil, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.conns != "300" || strings.Join(cfg.targets, ",") != "massconn" || len(cfg.serverFlags) != 4 {
		t.Errorf("got %+v", cfg)
	}
}

// The nginx+nchan targets run end to end with the same client, its
// subscribers WebSocket (nchan) or EventSource (nchan-sse): they get every
// message POSTed to its publisher, and the client finds its connection
// count through the health shim. No nginx is a failure, not a skip.
func TestNchanTargetsDeliverEveryMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx+nchan")
	}
	for _, tc := range []struct{ target, name, transport string }{
		{"nchan", "nginx+nchan (1 worker)", "idle WebSocket connections"},
		{"nchan-sse", "nginx+nchan EventSource (1 worker)", "idle SSE (EventSource) connections"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			t.Setenv("TARGETS", "")
			var out, errs strings.Builder
			code := Run([]string{"--targets", tc.target, "--conns", "50", "--rounds", "3", "--settle", "100ms", "--max-duration", "2m"}, &out, &errs)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out.String(), errs.String())
			}
			for _, want := range []string{tc.name, tc.transport, "deliveries         150 of 150; missing 0, duplicate/out of order 0"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
