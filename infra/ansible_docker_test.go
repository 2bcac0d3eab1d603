package infra

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostImage is a bare Debian machine (infra/standin/host.Dockerfile): the
// playbook must bring everything of ours itself.
const hostImage = "massconn/ansible-host:test"

// containerFleet is a server host and load hosts, each a container on a
// bridge network of the test's own; Ansible reaches them through the Docker
// connection plugin, as it would reach machines through SSH.
type containerFleet struct {
	id, network string
	server      string
	loads       []string
}

// newContainerFleet starts the hosts. A prepared server host has the kernel
// settings an operator gives a server (tune.sh --apply; inside a container
// they are per network namespace and set at start, as compose does).
func newContainerFleet(t *testing.T, loads int, preparedServer bool) containerFleet {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	id := "mc-ans-" + hex.EncodeToString(b)
	f := containerFleet{id: id, network: id, server: id + "-server"}
	for i := 1; i <= loads; i++ {
		f.loads = append(f.loads, fmt.Sprintf("%s-load-%d", id, i))
	}
	t.Cleanup(func() { f.remove(t) })
	if out, err := run(time.Minute, "", nil, "docker", "network", "create", "--driver", "bridge", "--label", "massconn.test="+id, f.network); err != nil {
		t.Fatalf("docker network create: %v %s", err, out)
	}
	for _, name := range append([]string{f.server}, f.loads...) {
		args := []string{"run", "-d", "--name", name, "--hostname", name, "--network", f.network,
			"--label", "massconn.test=" + id,
			// An init that reaps, as a machine's has: the playbook's
			// processes outlive the Ansible session that started them.
			"--init",
			// What a machine here allows (ENVIRONMENT: 20,000); the
			// playbook's limit checks read it like any host's.
			"--ulimit", "nofile=20000:20000",
			"--sysctl", "net.ipv4.ip_local_port_range=1024 65535"}
		if name == f.server && preparedServer {
			args = append(args, "--sysctl", "net.core.somaxconn=65535", "--sysctl", "net.ipv4.tcp_max_syn_backlog=65535")
		}
		args = append(args, hostImage)
		if out, err := run(2*time.Minute, "", nil, "docker", args...); err != nil {
			t.Fatalf("docker run %s: %v %s", name, err, out)
		}
	}
	return f
}

func (f containerFleet) remove(t *testing.T) {
	ids, _ := run(20*time.Second, "", nil, "docker", "ps", "-aq", "--filter", "label=massconn.test="+f.id)
	if ids = strings.TrimSpace(ids); ids != "" {
		if out, err := run(2*time.Minute, "", nil, "docker", append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...); err != nil {
			t.Logf("docker rm: %v %s", err, out)
		}
	}
	if out, err := run(time.Minute, "", nil, "docker", "network", "rm", f.network); err != nil && !strings.Contains(out, "not found") {
		t.Logf("docker network rm %s: %v %s", f.network, err, out)
	}
}

func (f containerFleet) address(t *testing.T, name string) string {
	t.Helper()
	out, err := run(20*time.Second, "", nil, "docker", "inspect", "-f", "{{(index .NetworkSettings.Networks \""+f.network+"\").IPAddress}}", name)
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("address of %s: %v %s", name, err, out)
	}
	return strings.TrimSpace(out)
}

// inventory names every container as its own host.
func (f containerFleet) inventory(t *testing.T, path string) {
	t.Helper()
	host := func(name string) string {
		return name + " ansible_connection=community.docker.docker ansible_host=" + name +
			" ansible_python_interpreter=/usr/bin/python3\n"
	}
	var b strings.Builder
	b.WriteString("[massconn_server]\n" + host(f.server))
	b.WriteString("[massconn_load]\n")
	for _, l := range f.loads {
		b.WriteString(host(l))
	}
	fmt.Fprintf(&b, "[all:vars]\nmassconn_server_address=%s\n", f.address(t, f.server))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The playbook against three machines (one server host, two load hosts),
// the way docs/deploy.md runs it against a fleet: binaries copied in, the
// server side started on one host, one k6 part on each load host reaching
// the server over the network, results fetched and merged, verdict PASS.
func TestAnsibleRunsOnSeparateHosts(t *testing.T) {
	fleet, local := startContainerFleet(t, true)

	start := time.Now()
	out, err := runContainerFleet(t, local)
	t.Logf("ansible-playbook on %d containers: %s after %v", 1+len(fleet.loads), exitStatus(err), time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("ansible-playbook: %s; want exit 0\n%s", exitStatus(err), tail(out, 120))
	}
	raw, err := os.ReadFile(filepath.Join(local.results, "report", "report.json"))
	if err != nil {
		t.Fatalf("no merged report: %v\n%s", err, tail(out, 60))
	}
	var report struct {
		Pass        bool `json:"pass"`
		Connections struct {
			Opened   int64 `json:"opened"`
			Failures int64 `json:"failures"`
		} `json:"connections"`
		Parts []struct {
			Index    int    `json:"index"`
			Host     string `json:"host"`
			ExitCode int    `json:"exit_code"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if !report.Pass || report.Connections.Opened < 4000 || report.Connections.Failures != 0 {
		t.Errorf("merged report: pass %v, opened %d, failures %d; want PASS with 4000 opened\n%s",
			report.Pass, report.Connections.Opened, report.Connections.Failures, raw)
	}
	keepPageShot(t, filepath.Join(local.results, "report", "report.html"), "report-ansible-3-hosts.png")
	hosts := map[string]bool{}
	for _, p := range report.Parts {
		hosts[p.Host] = true
	}
	for _, l := range fleet.loads {
		if !hosts[l] {
			t.Errorf("no part ran on load host %s; parts ran on %v", l, hosts)
		}
	}
	if hosts[fleet.server] {
		t.Errorf("a k6 part ran on the server host %s", fleet.server)
	}
	if !fileExists(filepath.Join(local.results, "servers", "rss.csv")) {
		t.Error("the server host's memory samples were not fetched")
	}
	// Nothing left running on the server host.
	if ps, _ := run(20*time.Second, "", nil, "docker", "exec", fleet.server, "sh", "-c", "ls /opt/massconn/run/*.pid 2>/dev/null; pgrep -x postgres || true"); strings.TrimSpace(ps) != "" {
		t.Errorf("the playbook left processes or pid files on the server host:\n%s", ps)
	}
}

func startContainerFleet(t *testing.T, preparedServer bool) (containerFleet, localFleet) {
	t.Helper()
	requireDocker(t)
	ansiblePlaybook(t)
	ensureBaseImages(t)
	if err := buildStandin(t, standinContext(t, "host.Dockerfile"), hostImage); err != nil {
		t.Fatal(err)
	}
	fleet := newContainerFleet(t, 2, preparedServer)
	local := newLocalFleet(t) // for its bin/ and results/ on the controller
	local.linkBinaries(t)
	fleet.inventory(t, local.inventory)
	return fleet, local
}

func runContainerFleet(t *testing.T, local localFleet) (string, error) {
	t.Helper()
	args := []string{"-i", local.inventory, playbook,
		"-e", "massconn_connections=4000",
		"-e", "massconn_duration=20s",
		"-e", "massconn_results_dir=" + local.results,
		"-e", "massconn_bin_dir=" + local.bin,
		// The containers share this machine's kernel: check, never write.
		"-e", "massconn_tune=check",
		"-e", "massconn_part_timeout=600",
	}
	env := append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCAL_TEMP="+filepath.Join(local.dir, "ansible-tmp"))
	return run(20*time.Minute, filepath.Join(repoRoot, "infra", "ansible"), env, ansiblePlaybook(t), args...)
}

// One host failing its checks stops the whole run there: no k6 part may
// start against a server side that never came up (the first multi-host run
// did exactly that, then failed in the merge saying only that the server
// samples were missing).
func TestAnsibleStopsWhenOneHostFailsItsChecks(t *testing.T) {
	fleet, local := startContainerFleet(t, false)
	out, err := runContainerFleet(t, local)
	if err == nil {
		t.Fatalf("the playbook passed although %s is short of tcp_max_syn_backlog\n%s", fleet.server, tail(out, 60))
	}
	if !strings.Contains(out, "net.ipv4.tcp_max_syn_backlog") {
		t.Errorf("the failure does not name the short setting:\n%s", tail(out, 60))
	}
	if strings.Contains(out, "TASK [Run this host's parts") {
		t.Errorf("k6 parts started although the server host had failed:\n%s", tail(out, 80))
	}
	if fileExists(filepath.Join(local.results, "part-00")) {
		t.Error("part results were fetched from a run that should never have started")
	}
}
