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
	if err != nil || strings.Join(cfg.targets, " ") != "massconn nchan nodews" {
		t.Errorf("default targets %v, %v", cfg.targets, err)
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

// The nginx+nchan target runs end to end with the same client: its
// subscribers get every message POSTed to its publisher, and the client
// finds its connection count through the health shim.
func TestNchanTargetDeliversEveryMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx+nchan")
	}
	t.Setenv("TARGETS", "")
	var out, errs strings.Builder
	code := Run([]string{"--targets", "nchan", "--conns", "50", "--rounds", "2", "--settle", "100ms", "--max-duration", "2m"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errs.String())
	}
	for _, want := range []string{"nginx+nchan (1 worker)", "deliveries         100 of 100; missing 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
