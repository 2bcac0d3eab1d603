// Package infra holds the deployment files' tests: there is no Docker engine
// and no cluster where they run, so they check that the compose file,
// Dockerfiles, manifests and playbook agree with the real binaries (their
// -h output), the Makefile and the k6 scripts, and run what can run here
// (tune.sh, the playbook against localhost).
package infra

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

const repoRoot = ".."

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}

// inCI reports whether a missing tool must fail the test rather than skip it.
func inCI() bool { return os.Getenv("CI") == "true" }

// binary finds a binary under test: the environment variable the Makefile
// sets, else a `go build` of pkg into a temporary directory.
func binary(t *testing.T, envVar, pkg string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envVar, p, err)
		}
		return p
	}
	builtMu.Lock()
	defer builtMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "infra-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s unset and `go build %s` failed: %v\n%s", envVar, pkg, err, b)
	}
	built[pkg] = out
	return out
}

var (
	builtMu sync.Mutex
	built   = map[string]string{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range built {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

func serverBinary(t *testing.T) string {
	return binary(t, "MASSCONN_SERVER", "./server/cmd/massconn-server")
}

func fleetBinary(t *testing.T) string {
	return binary(t, "MASSCONN_FLEET", "./fleet/cmd/massconn-fleet")
}

// k6Binary is k6 built with the extension; building it here would take
// minutes, so without K6_BINARY (or bin/k6) the test skips, except in CI.
func k6Binary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("K6_BINARY"); p != "" {
		return p
	}
	if p, err := filepath.Abs(filepath.Join(repoRoot, "bin", "k6")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if inCI() {
		t.Fatal("K6_BINARY is not set and bin/k6 does not exist; run through `make unit-test`")
	}
	t.Skip("K6_BINARY unset and no bin/k6: run `make bin/k6` or `make unit-test`")
	return ""
}

// cliFlag is one flag as the binary's own -h prints it.
type cliFlag struct {
	Name, Env, Default string
}

// serverCLI is massconn-server's command line as it documents itself.
type serverCLI map[string]map[string]cliFlag // command -> flag name -> flag

var serverFlagLine = regexp.MustCompile(`^  --([a-z0-9-]+) \(([A-Z0-9_]+), default "(.*)"\)$`)

func loadServerCLI(t *testing.T) serverCLI {
	t.Helper()
	bin := serverBinary(t)
	top, err := exec.Command(bin, "-h").Output()
	if err != nil {
		t.Fatalf("%s -h: %v", bin, err)
	}
	cli := serverCLI{}
	sc := bufio.NewScanner(bytes.NewReader(top))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "  ") {
			continue
		}
		name := strings.Fields(line)[0]
		out, err := exec.Command(bin, name, "-h").Output()
		if err != nil {
			t.Fatalf("%s %s -h: %v", bin, name, err)
		}
		flags := map[string]cliFlag{}
		fsc := bufio.NewScanner(bytes.NewReader(out))
		for fsc.Scan() {
			if m := serverFlagLine.FindStringSubmatch(fsc.Text()); m != nil {
				flags[m[1]] = cliFlag{Name: m[1], Env: m[2], Default: m[3]}
			}
		}
		if len(flags) == 0 {
			t.Fatalf("%s %s -h listed no flags; has its usage format changed?\n%s", bin, name, out)
		}
		cli[name] = flags
	}
	for _, want := range []string{"serve", "migrate", "insert"} {
		if cli[want] == nil {
			t.Fatalf("%s -h does not list the %q command:\n%s", bin, want, top)
		}
	}
	return cli
}

// envVars is the set of environment variables a command reads.
func (c serverCLI) envVars(command string) map[string]bool {
	out := map[string]bool{}
	for _, f := range c[command] {
		out[f.Env] = true
	}
	return out
}

// checkArgs checks a server command line (command first) against the CLI.
func (c serverCLI) checkArgs(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("empty command; massconn-server needs one of %s", strings.Join(c.commands(), ", "))
	}
	flags, ok := c[args[0]]
	if !ok {
		return fmt.Errorf("unknown massconn-server command %q; it has %s", args[0], strings.Join(c.commands(), ", "))
	}
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if _, ok := flags[name]; !ok {
			return fmt.Errorf("massconn-server %s has no flag %s", args[0], a)
		}
	}
	return nil
}

func (c serverCLI) commands() []string {
	var names []string
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// k6RunFlags are the long flags `k6 run -h` documents.
func k6RunFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(k6Binary(t), "run", "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("k6 run -h: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["execution-segment"] || !flags["summary-export"] {
		t.Fatalf("k6 run -h did not list --execution-segment and --summary-export; output:\n%s", out)
	}
	return flags
}

// envRead matches a script reading an environment variable: directly, or
// through the k6scripts/lib/env.js helpers (str('NAME', ...), int(...), ...).
var envRead = regexp.MustCompile(`__ENV\.([A-Z][A-Z0-9_]*)|__ENV\[['"]([A-Z][A-Z0-9_]*)|\b(?:list|str|num|int|seconds)\(\s*['"]([A-Z][A-Z0-9_]*)['"]`)

// scriptEnv is the set of __ENV variables a k6 script (and the local modules
// it imports) reads.
func scriptEnv(t *testing.T, rel string) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	seen := map[string]bool{}
	var walk func(rel string)
	walk = func(rel string) {
		if seen[rel] {
			return
		}
		seen[rel] = true
		src := string(readFile(t, rel))
		for _, m := range envRead.FindAllStringSubmatch(src, -1) {
			vars[m[1]+m[2]+m[3]] = true
		}
		for _, m := range regexp.MustCompile(`from\s+'(\.{1,2}/[^']+)'`).FindAllStringSubmatch(src, -1) {
			walk(filepath.Join(filepath.Dir(rel), m[1]))
		}
	}
	walk(rel)
	if len(vars) == 0 {
		t.Fatalf("%s reads no __ENV variable; the tests expect URLS, CONNECTIONS, ...", rel)
	}
	return vars
}

// yamlDocs decodes every document of a YAML file into generic maps.
func yamlDocs(t *testing.T, rel string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, rel)))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("parse %s: %v", rel, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// get walks nested maps and lists: get(doc, "spec", "template", 0).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, str(x))
	}
	return out
}

// composeDefault resolves "${NAME:-default}" the way compose does when NAME
// is unset; other text is returned unchanged.
func composeDefault(s string) string {
	return regexp.MustCompile(`\$\{[A-Z0-9_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

// checkFleetArgs checks a massconn-fleet command line (subcommand first)
// against what `massconn-fleet SUBCOMMAND -h` documents.
func checkFleetArgs(t *testing.T, fleet string, args []string) {
	t.Helper()
	out, _ := exec.Command(fleet, args[0], "-h").CombinedOutput()
	help := string(out)
	if !strings.Contains(help, "-") || strings.Contains(help, "unknown command") {
		t.Fatalf("massconn-fleet %s -h does not document a subcommand %q:\n%s", args[0], args[0], help)
	}
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !regexp.MustCompile(`(^|[\s\[])--?` + regexp.QuoteMeta(name) + `\b`).MatchString(help) {
			t.Errorf("massconn-fleet %s has no flag %s; its -h says:\n%s", args[0], a, help)
		}
	}
}
