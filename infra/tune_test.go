package infra

import (
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runTune runs infra/tune.sh and returns its output and exit status.
func runTune(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot, "infra", "tune.sh")}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("run tune.sh: %v", err)
		return "", -1
	}
}

var tunedSettings = []string{
	"fs.file-max", "fs.nr_open", "nofile", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_mem",
	"net.ipv4.tcp_rmem/tcp_wmem", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.netfilter.nf_conntrack_max",
}

func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, key := range []string{"fs/file-max", "fs/nr_open", "net/ipv4/ip_local_port_range", "net/ipv4/tcp_mem",
		"net/ipv4/tcp_rmem", "net/ipv4/tcp_wmem", "net/core/somaxconn", "net/ipv4/tcp_max_syn_backlog", "net/netfilter/nf_conntrack_max"} {
		b, err := os.ReadFile(filepath.Join(root, key))
		if err == nil {
			out[key] = string(b)
		}
	}
	return out
}

// --check against this machine reports every setting and changes nothing.
func TestTuneCheckThisMachine(t *testing.T) {
	dir := t.TempDir()
	before := snapshot(t, "/proc/sys")
	env := []string{"TUNE_SYSCTL_FILE=" + filepath.Join(dir, "sysctl.conf"), "TUNE_LIMITS_FILE=" + filepath.Join(dir, "limits.conf")}
	out, code := runTune(t, env, "--check", "--connections", "1000")
	t.Logf("tune.sh --check --connections 1000 (exit %d):\n%s", code, out)
	if code != 0 && code != 1 {
		t.Fatalf("exit %d: check mode should exit 0 (enough) or 1 (something short)", code)
	}
	for _, s := range tunedSettings {
		if !strings.Contains(out, s) {
			t.Errorf("the report does not mention %s", s)
		}
	}
	if code == 1 && !strings.Contains(out, "why:") {
		t.Error("a short setting is reported without why it matters")
	}
	if after := snapshot(t, "/proc/sys"); !maps.Equal(before, after) {
		t.Errorf("check mode changed kernel settings:\nbefore %v\nafter  %v", before, after)
	}
	for _, f := range []string{"sysctl.conf", "limits.conf"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("check mode wrote %s", f)
		}
	}
}

// fakeMachine is a /proc/sys tree with small defaults, for --apply.
func fakeMachine(t *testing.T) (root string, env []string) {
	t.Helper()
	dir := t.TempDir()
	root = filepath.Join(dir, "proc-sys")
	files := map[string]string{
		"fs/file-max":                    "100000\n",
		"fs/nr_open":                     "1048576\n",
		"net/ipv4/ip_local_port_range":   "32768\t60999\n",
		"net/ipv4/tcp_mem":               "1000\t2000\t3000\n",
		"net/ipv4/tcp_rmem":              "4096\t131072\t6291456\n",
		"net/ipv4/tcp_wmem":              "4096\t16384\t4194304\n",
		"net/core/somaxconn":             "200000\n", // already above target: must stay
		"net/ipv4/tcp_max_syn_backlog":   "128\n",
		"net/netfilter/nf_conntrack_max": "65536\n",
	}
	for name, v := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env = []string{
		"TUNE_PROC_SYS=" + root,
		"TUNE_SYSCTL_FILE=" + filepath.Join(dir, "etc", "sysctl.d", "90-massconn.conf"),
		"TUNE_LIMITS_FILE=" + filepath.Join(dir, "etc", "limits.d", "90-massconn.conf"),
		"TUNE_NOFILE=1024",
		"TUNE_MEM_KB=33554432", // 32 GiB
	}
	return root, env
}

func TestTuneCheckReportsAndApplyRaises(t *testing.T) {
	root, env := fakeMachine(t)
	before := snapshot(t, root)

	out, code := runTune(t, env, "--check", "--connections", "50000", "--processes", "2")
	if code != 1 {
		t.Fatalf("check on a small machine: exit %d, want 1\n%s", code, out)
	}
	for _, s := range []string{"fs.file-max", "nofile", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_mem", "net.ipv4.tcp_max_syn_backlog", "net.netfilter.nf_conntrack_max"} {
		if !strings.Contains(out, "SHORT  "+s) {
			t.Errorf("check does not report %s as short:\n%s", s, out)
		}
	}
	if strings.Contains(out, "SHORT  net.core.somaxconn") {
		t.Errorf("somaxconn 200000 is above any target but reported short")
	}
	if after := snapshot(t, root); !maps.Equal(before, after) {
		t.Fatalf("--check changed settings:\nbefore %v\nafter  %v", before, after)
	}

	out, code = runTune(t, env, "--apply", "--connections", "50000", "--processes", "2")
	if code != 0 {
		t.Fatalf("apply: exit %d, want 0\n%s", code, out)
	}
	after := snapshot(t, root)
	want := map[string]string{
		"fs/file-max":                    "165536\n", // 2 x 50000 sockets + 65536
		"net/ipv4/ip_local_port_range":   "1024 65535\n",
		"net/ipv4/tcp_mem":               "1000 150000 200000\n", // 100000 sockets x 8 KiB minimum buffers
		"net/core/somaxconn":             "200000\n",
		"net/ipv4/tcp_max_syn_backlog":   "50000\n",
		"net/netfilter/nf_conntrack_max": "115536\n",
	}
	for k, v := range want {
		if after[k] != v {
			t.Errorf("after --apply %s = %q, want %q", k, after[k], v)
		}
	}
	limits, err := os.ReadFile(strings.TrimPrefix(env[2], "TUNE_LIMITS_FILE="))
	if err != nil || !strings.Contains(string(limits), "hard nofile 51024") {
		t.Errorf("limits file: %v\n%s", err, limits)
	}
	persisted, err := os.ReadFile(strings.TrimPrefix(env[1], "TUNE_SYSCTL_FILE="))
	if err != nil || !strings.Contains(string(persisted), "fs.file-max = 165536") {
		t.Errorf("sysctl file: %v\n%s", err, persisted)
	}

	// One connection more per source address than any port range holds:
	// --apply cannot fix that and must say so.
	out, code = runTune(t, env, "--apply", "--connections", "70000", "--role", "load")
	if code != 1 || !strings.Contains(out, "add source addresses") {
		t.Errorf("70000 connections from one source address: exit %d, want 1 naming the fix\n%s", code, out)
	}
	// (this shell's nofile limit is not something --apply can raise)
	if out, code := runTune(t, append(env, "TUNE_NOFILE=100000"), "--check", "--connections", "70000", "--role", "load", "--source-addrs", "2"); code != 0 {
		t.Errorf("70000 connections from two source addresses should fit after --apply: exit %d\n%s", code, out)
	}
}

func TestTuneRejectsBadInput(t *testing.T) {
	_, env := fakeMachine(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing --connections"},
		{[]string{"--connections", "0"}, "--connections must be a whole number"},
		{[]string{"--connections", "10k"}, "--connections must be a whole number"},
		{[]string{"--connections", "10", "--role", "client"}, "--role must be server, load or both"},
		{[]string{"--connections", "10", "--processes", "-1"}, "--processes must be a whole number"},
		{[]string{"--connections", "10", "--bogus"}, "unknown option '--bogus'"},
		{[]string{"--connections"}, "--connections needs a value"},
	} {
		out, code := runTune(t, env, tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("tune.sh %v: exit %d, output %q; want exit 2 and %q", tc.args, code, out, tc.want)
		}
	}
}
