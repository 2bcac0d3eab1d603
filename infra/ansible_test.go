package infra

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/freeport"
)

const playbook = "massconn.yml"

func ansiblePlaybook(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ansible-playbook")
	if err != nil {
		if inCI() {
			t.Fatal("ansible-playbook not found; .ci/run installs the Debian package ansible")
		}
		t.Skip("ansible-playbook not installed (apt-get install ansible); CI installs it")
	}
	return p
}

// localFleet is a throwaway "fleet" of one host, localhost, in both groups.
type localFleet struct {
	dir, remote, results, bin, inventory string
}

func newLocalFleet(t *testing.T) localFleet {
	t.Helper()
	// os.MkdirTemp, not t.TempDir: the postgres user must enter it.
	dir, err := os.MkdirTemp("", "infra-ansible-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := localFleet{
		dir:       dir,
		remote:    filepath.Join(dir, "remote"),
		results:   filepath.Join(dir, "results"),
		bin:       filepath.Join(dir, "bin"),
		inventory: filepath.Join(dir, "inventory.ini"),
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	inv := "[massconn_server]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n[massconn_load]\nlocalhost\n"
	if err := os.WriteFile(f.inventory, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// linkBinaries puts the binaries under test where the playbook looks.
func (f localFleet) linkBinaries(t *testing.T) {
	t.Helper()
	for name, path := range map[string]string{
		"massconn-server": serverBinary(t),
		"k6":              k6Binary(t),
		"massconn-fleet":  fleetBinary(t),
	} {
		abs, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(f.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func (f localFleet) run(t *testing.T, extra ...string) (string, error) {
	t.Helper()
	args := []string{"-i", f.inventory, playbook,
		"-e", "massconn_remote_dir=" + f.remote,
		"-e", "massconn_results_dir=" + f.results,
		"-e", "massconn_bin_dir=" + f.bin,
		"-e", "massconn_server_listen_host=127.0.0.1",
		"-e", "massconn_server_address=127.0.0.1",
		// Never change this machine's settings from a test: only check them.
		"-e", "massconn_tune=check",
	}
	cmd := exec.Command(ansiblePlaybook(t), append(args, extra...)...)
	cmd.Dir = filepath.Join(repoRoot, "infra", "ansible")
	cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCAL_TEMP="+filepath.Join(f.dir, "ansible-tmp"),
		"ANSIBLE_REMOTE_TEMP="+filepath.Join(f.dir, "ansible-tmp"))
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// stopLeftovers ends whatever the playbook started and did not stop (it
// stops everything itself; this is for a playbook that died half-way).
func (f localFleet) stopLeftovers(t *testing.T) {
	pids, _ := filepath.Glob(filepath.Join(f.remote, "run", "*.pid"))
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			t.Logf("stopping leftover process %d (%s)", pid, filepath.Base(p))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	data := filepath.Join(f.remote, "pg", "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		bindir, _ := os.ReadFile(filepath.Join(f.remote, "run", "pg-bindir"))
		pgctl := filepath.Join(strings.TrimSpace(string(bindir)), "pg_ctl")
		cmd := exec.Command("runuser", "-u", "postgres", "--", pgctl, "-D", data, "-m", "immediate", "stop")
		if os.Geteuid() != 0 {
			cmd = exec.Command(pgctl, "-D", data, "-m", "immediate", "stop")
		}
		out, err := cmd.CombinedOutput()
		t.Logf("stopping leftover PostgreSQL: %v %s", err, out)
	}
}

func TestAnsibleSyntax(t *testing.T) {
	cmd := exec.Command(ansiblePlaybook(t), "--syntax-check", "-i", "inventory.example.ini", playbook)
	cmd.Dir = filepath.Join(repoRoot, "infra", "ansible")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ansible-playbook --syntax-check: %v\n%s", err, out)
	}
}

// Bad requests fail in the first plays, before any file is copied or any
// process started, with a message that names the problem and the fix.
func TestAnsibleRejectsBadInputBeforeStarting(t *testing.T) {
	ansiblePlaybook(t)
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"unknown load group", []string{"-e", "massconn_connections=100", "-e", "massconn_load_group=loaders"},
			"unknown host group 'loaders' (massconn_load_group)"},
		{"unknown server group", []string{"-e", "massconn_connections=100", "-e", "massconn_server_group=db"},
			"unknown host group 'db' (massconn_server_group)"},
		{"missing connections", nil, "massconn_connections is not set"},
		{"connections not a number", []string{"-e", "massconn_connections=1e6"}, "massconn_connections is invalid"},
		{"bad duration", []string{"-e", "massconn_connections=100", "-e", "massconn_duration=five"}, "massconn_duration=five"},
		// One load host with this machine's open-file limit (20,000 here)
		// cannot hold a million connections in one k6 process.
		{"more than the hosts hold", []string{"-e", "massconn_connections=1000000"}, "more than the hosts can hold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLocalFleet(t)
			f.linkBinaries(t)
			out, err := f.run(t, tc.extra...)
			if err == nil {
				t.Fatalf("the playbook succeeded; want a failure saying %q\n%s", tc.want, out)
			}
			if !strings.Contains(strings.Join(strings.Fields(out), " "), tc.want) {
				t.Errorf("the failure does not say %q:\n%s", tc.want, out)
			}
			if _, err := os.Stat(f.remote); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the playbook created %s before rejecting the request", f.remote)
			}
		})
	}
}

// The whole path on one machine: PostgreSQL, a server, the insert loop, a
// test split into two k6 parts, fetched and merged into one report.
func TestAnsibleRunsASplitTestOnLocalhost(t *testing.T) {
	ansiblePlaybook(t)
	f := newLocalFleet(t)
	f.linkBinaries(t)
	t.Cleanup(func() { f.stopLeftovers(t) })
	out, err := f.run(t,
		"-e", "massconn_connections=100",
		"-e", "massconn_k6_per_host=2",
		"-e", "massconn_duration=5s",
		"-e", fmt.Sprintf("massconn_pg_port=%d", freeport.Must(t)),
		"-e", fmt.Sprintf("massconn_server_base_port=%d", freeport.Must(t)),
	)
	if err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
	t.Logf("ansible-playbook output:\n%s", out)
	raw, err := os.ReadFile(filepath.Join(f.results, "report", "report.json"))
	if err != nil {
		t.Fatalf("no merged report: %v\n%s", err, out)
	}
	var report map[string]any
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if report["pass"] != true {
		t.Errorf("merged report does not pass:\n%s", raw)
	}
	for i := range 2 {
		b, err := os.ReadFile(filepath.Join(f.results, fmt.Sprintf("part-%02d", i), "part.json"))
		if err != nil {
			t.Fatalf("part %d was not fetched: %v", i, err)
		}
		var p map[string]any
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("part %d part.json: %v", i, err)
		}
		if num(p["index"]) != float64(i) || num(p["parts"]) != 2 || num(p["exit_code"]) != 0 {
			t.Errorf("part %d: part.json says index %v of %v, k6 exit %v", i, p["index"], p["parts"], p["exit_code"])
		}
	}
	if _, err := os.Stat(filepath.Join(f.results, "servers", "rss.csv")); err != nil {
		t.Errorf("server RSS samples were not fetched: %v", err)
	}
	if pids, _ := filepath.Glob(filepath.Join(f.remote, "run", "*.pid")); len(pids) > 0 {
		t.Errorf("the playbook left processes behind: %v", pids)
	}
	if _, err := os.Stat(filepath.Join(f.remote, "pg")); err == nil {
		t.Errorf("the playbook left PostgreSQL's data directory behind")
	}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
