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
	if err != nil || strings.Join(cfg.targets, " ") != "massconn nodews" {
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
