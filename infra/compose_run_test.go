package infra

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These run docker-compose.yml and infra/compose-fleet.sh for real on the
// local engine, from a clean copy of the tree, exactly as docs/deploy.md tells a
// user to: the static tests in compose_test.go only prove the files agree
// with the binaries; these prove the stack comes up and measures.

// The open-file limit the engine here can give a container (ENVIRONMENT:
// 20,000 is the machine's hard limit); NOFILE is the compose file's knob.
const testNOFILE = "NOFILE=20000"

// k6SummaryCount finds `NAME...: N` or `NAME ... count=N` style counts in k6's
// end-of-test summary for a counter metric (k6 leaves out counters that
// never moved: absent means 0).
func k6SummaryCount(out, metric string) (int, bool) {
	re := regexp.MustCompile(`(?m)^.*\b` + regexp.QuoteMeta(metric) + `\b[ .:]*(?:count=)?([0-9]+)\b`)
	m := re.FindAllStringSubmatch(out, -1)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n, true
}

// docs/deploy.md's first compose command, sized to this machine: exit 0, and k6's own
// summary counts 2,000 held connections and no failures or drops. Then the
// same stack with k6 pointed at a port where no server listens must fail.
func TestComposeUpRunsTheBenchmark(t *testing.T) {
	requireDocker(t)
	ensureBaseImages(t)
	p := newComposeProject(t, "mc-up", testNOFILE)

	out, err := p.compose(t, 30*time.Minute, []string{"CONNECTIONS=2000", "DURATION=20s"},
		"up", "--build", "--exit-code-from", "k6")
	k6out := serviceLines(out, "k6")
	if err != nil {
		t.Fatalf("docker compose up --build --exit-code-from k6: %s; want exit 0\n%s", exitStatus(err), tail(out, 80))
	}
	t.Logf("k6 in compose:\n%s", tail(k6out, 60))
	if n, ok := k6SummaryCount(k6out, "massconn_failures"); ok && n != 0 {
		t.Errorf("k6's summary counts %d massconn_failures, want 0", n)
	}
	if n, ok := k6SummaryCount(k6out, "massconn_drops"); ok && n != 0 {
		t.Errorf("k6's summary counts %d massconn_drops, want 0", n)
	}
	if n, ok := k6SummaryCount(k6out, "ws_sessions"); !ok || n != 2000 {
		t.Errorf("k6's summary counts %d ws_sessions (found: %v), want 2000", n, ok)
	}
	if m := regexp.MustCompile(`massconn_open\b.*\bmax=([0-9]+)`).FindStringSubmatch(k6out); m == nil || m[1] != "2000" {
		t.Errorf("k6's summary shows massconn_open %v, want max=2000 (all held at once)", m)
	}
	if !strings.Contains(k6out, "massconn_failures") || !strings.Contains(k6out, "count==0") {
		t.Errorf("k6's summary does not show the massconn_failures count==0 threshold:\n%s", tail(k6out, 60))
	}
	p.down(t)

	// Server down: every connection is refused, the thresholds fail and the
	// command must say so with its exit status.
	out, err = p.compose(t, 15*time.Minute, []string{"CONNECTIONS=200", "DURATION=5s", "URLS=ws://server:9/ws?topic=Track"},
		"up", "--build", "--exit-code-from", "k6")
	if err == nil {
		t.Fatalf("docker compose up with no server listening exited 0; want a failure\n%s", tail(out, 60))
	}
	k6out = serviceLines(out, "k6")
	if n, _ := k6SummaryCount(k6out, "massconn_failures"); n == 0 {
		t.Errorf("with no server k6 exited %s but its summary shows no massconn_failures:\n%s", exitStatus(err), tail(k6out, 60))
	}
}

// serviceLines keeps the lines compose prefixes with SERVICE-N | (without
// the prefix).
func serviceLines(out, service string) string {
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(service) + `-[0-9]+\s+\| ?(.*)$`)
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			b.WriteString(m[1])
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// infra/compose-fleet.sh as docs/deploy.md runs it: two servers, two k6
// containers each with its own address on the project's network, merged
// into one report that passes.
func TestComposeFleetScriptRuns(t *testing.T) {
	requireDocker(t)
	ensureBaseImages(t)
	p := newComposeProject(t, "mc-fleet", testNOFILE)
	outDir := filepath.Join(p.dir, "results", "compose-fleet")

	start := time.Now()
	out, err := run(30*time.Minute, p.dir, p.env, "bash", "infra/compose-fleet.sh",
		"--parts", "2", "--servers", "2", "--connections", "4000", "--duration", "20s", "--out", outDir)
	t.Logf("compose-fleet.sh: %s after %v", exitStatus(err), time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("infra/compose-fleet.sh: %s; want exit 0\n%s", exitStatus(err), tail(out, 100))
	}
	if !strings.Contains(out, "compose-fleet.sh: PASS") {
		t.Errorf("compose-fleet.sh did not print PASS:\n%s", tail(out, 60))
	}
	// Each part ran in its own container, at its own address.
	addrs := map[string]string{}
	for _, m := range regexp.MustCompile(`compose-fleet\.sh: part (\d+) runs in (\S+) at (\S+)`).FindAllStringSubmatch(out, -1) {
		if net.ParseIP(m[3]) == nil {
			t.Errorf("part %s: %q is not an address", m[1], m[3])
		}
		addrs[m[3]] = m[2]
	}
	if len(addrs) != 2 {
		t.Errorf("want 2 parts at 2 different container addresses, got %v\n%s", addrs, tail(out, 60))
	}

	raw, err := os.ReadFile(filepath.Join(outDir, "report.json"))
	if err != nil {
		t.Fatalf("the merged report was not copied out (--out): %v\n%s", err, tail(out, 60))
	}
	var report struct {
		Pass  bool `json:"pass"`
		Parts []struct {
			Index    int    `json:"index"`
			Host     string `json:"host"`
			ExitCode int    `json:"exit_code"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if !report.Pass {
		t.Errorf("merged report does not pass:\n%s", raw)
	}
	hosts := map[string]bool{}
	for _, part := range report.Parts {
		hosts[part.Host] = true
		if part.ExitCode != 0 {
			t.Errorf("part %d on %s: k6 exit %d", part.Index, part.Host, part.ExitCode)
		}
	}
	if len(report.Parts) != 2 || len(hosts) != 2 {
		t.Errorf("want 2 parts from 2 containers in the report, got %+v", report.Parts)
	}
	keepPageShot(t, filepath.Join(outDir, "report.html"), "report-compose-fleet.png")
	for _, f := range []string{"report.md", "report.html"} {
		if !fileExists(filepath.Join(outDir, f)) {
			t.Errorf("the merged report has no %s", f)
		}
	}
	if left, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+p.name).Output(); strings.TrimSpace(string(left)) != "" {
		t.Errorf("compose-fleet.sh left containers behind: %s", left)
	}
	_ = fmt.Sprint()
}
