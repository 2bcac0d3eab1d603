package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUnknownSubcommandNamesTheKnownOnes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bench-k6"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{`unknown subcommand "bench-k6"`, "server", "k6-tls", "steps", "adapters", "floor"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", stderr.String(), want)
		}
	}
}

func TestHelpListsEverySubcommand(t *testing.T) {
	var stdout bytes.Buffer
	if code := run([]string{"help"}, &stdout, &bytes.Buffer{}); code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, c := range subcommands() {
		if !strings.Contains(stdout.String(), "  "+c.name+" ") {
			t.Errorf("help lacks %s:\n%s", c.name, stdout.String())
		}
	}
}
