package infra

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/pgtest"
)

const (
	serverImage = "massconn/server:local"
	k6Image     = "massconn/k6:local"
)

type composeFile struct {
	services map[string]map[string]any
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	docs := yamlDocs(t, "docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("docker-compose.yml: want one YAML document, got %d", len(docs))
	}
	raw, ok := docs[0]["services"].(map[string]any)
	if !ok {
		t.Fatal("docker-compose.yml has no services")
	}
	c := composeFile{services: map[string]map[string]any{}}
	for name, v := range raw {
		svc, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("service %s is not a mapping", name)
		}
		c.services[name] = svc
	}
	return c
}

func (c composeFile) service(t *testing.T, name string) map[string]any {
	t.Helper()
	s, ok := c.services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q", name)
	}
	return s
}

// environment returns a service's environment with ${X:-default} resolved.
func environment(svc map[string]any) map[string]string {
	out := map[string]string{}
	switch e := svc["environment"].(type) {
	case map[string]any:
		for k, v := range e {
			out[k] = composeDefault(str(v))
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(str(kv), "=")
			out[k] = composeDefault(v)
		}
	}
	return out
}

func command(svc map[string]any, key string) []string {
	var out []string
	for _, a := range strList(svc[key]) {
		out = append(out, composeDefault(a))
	}
	return out
}

func checkBuild(t *testing.T, name string, svc map[string]any, dockerfile string) {
	t.Helper()
	if ctx := str(get(svc, "build", "context")); ctx != "." {
		t.Errorf("service %s: build context %q, want . (the repository root: the Dockerfile runs make)", name, ctx)
	}
	if df := str(get(svc, "build", "dockerfile")); df != dockerfile {
		t.Errorf("service %s: build dockerfile %q, want %s", name, df, dockerfile)
	}
}

// The server-image services run real massconn-server commands with real
// flags and environment variables, and agree on ports and the database.
func TestComposeServerServicesMatchTheBinary(t *testing.T) {
	cli := loadServerCLI(t)
	c := loadCompose(t)
	pg := c.service(t, "postgres")
	if img := str(pg["image"]); !strings.HasPrefix(img, "postgres:") {
		t.Errorf("postgres service uses %q, want the official postgres image", img)
	}
	if get(pg, "healthcheck", "test") == nil {
		t.Error("postgres has no healthcheck: the server would start before the database accepts connections")
	}
	pgPassword := environment(pg)["POSTGRES_PASSWORD"]

	var serverPort string
	used := 0
	for name, svc := range c.services {
		if str(svc["image"]) != serverImage {
			continue
		}
		used++
		checkBuild(t, name, svc, "server/Dockerfile")
		args := command(svc, "command")
		if err := cli.checkArgs(args); err != nil {
			t.Errorf("service %s: command %v: %v", name, args, err)
			continue
		}
		env := environment(svc)
		known := cli.envVars(args[0])
		for k := range env {
			if !known[k] {
				t.Errorf("service %s: environment %s is not read by massconn-server %s (it reads %v)", name, k, args[0], known)
			}
		}
		dbURL, err := url.Parse(env["DATABASE_URL"])
		if err != nil || dbURL.Scheme != "postgres" {
			t.Errorf("service %s: DATABASE_URL %q is not a postgres:// URL", name, env["DATABASE_URL"])
			continue
		}
		if _, ok := c.services[dbURL.Hostname()]; !ok {
			t.Errorf("service %s: DATABASE_URL host %q is not a service", name, dbURL.Hostname())
		}
		if p, _ := dbURL.User.Password(); dbURL.Port() != "5432" || p != pgPassword {
			t.Errorf("service %s: DATABASE_URL %s does not match the postgres service (port 5432, POSTGRES_PASSWORD)", name, dbURL.Redacted())
		}
		// With --exit-code-from k6, compose stops everything when any
		// container exits: a finite insert loop would end the benchmark.
		if args[0] != "serve" && args[0] != "insert" && svc["profiles"] == nil {
			t.Errorf("service %s runs %q, which exits and would abort `docker compose up --exit-code-from k6`", name, args[0])
		}
		if args[0] == "insert" && (strings.Contains(strings.Join(args, " "), "--count") || env["COUNT"] != "") {
			t.Errorf("service %s: a bounded insert loop exits and would abort `up --exit-code-from k6`", name)
		}
		if args[0] != "serve" {
			continue
		}
		listen := env["LISTEN"]
		if listen == "" {
			listen = cli["serve"]["listen"].Default
		}
		host, port, _ := strings.Cut(listen, ":")
		if host == "127.0.0.1" || host == "localhost" {
			t.Errorf("service %s: LISTEN %s is loopback inside the container", name, listen)
		}
		serverPort = port
		if ports := strList(svc["ports"]); len(ports) != 1 || ports[0] != port {
			t.Errorf("service %s: ports %v should publish container port %s without a fixed host port (so --scale works)", name, ports, port)
		}
		if hc := strings.Join(strList(get(svc, "healthcheck", "test")), " "); !strings.Contains(hc, "/dev/tcp/127.0.0.1/"+port) || !strings.Contains(hc, "/healthz") {
			t.Errorf("service %s: healthcheck %q does not probe /healthz on port %s", name, hc, port)
		}
		maxConns, err := strconv.Atoi(env["MAX_CONNS"])
		if err != nil {
			t.Errorf("service %s: MAX_CONNS %q: %v", name, env["MAX_CONNS"], err)
		}
		if nofile, _ := strconv.Atoi(composeDefault(str(get(svc, "ulimits", "nofile", "hard")))); nofile < maxConns+100 {
			t.Errorf("service %s: ulimits nofile %d cannot hold MAX_CONNS=%d sockets", name, nofile, maxConns)
		}
	}
	if used < 2 || serverPort == "" {
		t.Fatalf("want the server and the insert loop from %s, found %d services, serve port %q", serverImage, used, serverPort)
	}
	ins := c.service(t, "insert")
	if command(ins, "command")[0] != "insert" {
		t.Errorf("insert service runs %v", command(ins, "command"))
	}

	t.Run("k6", func(t *testing.T) { checkComposeK6(t, c, serverPort) })
}

func checkComposeK6(t *testing.T, c composeFile, serverPort string) {
	k6 := c.service(t, "k6")
	if str(k6["image"]) != k6Image {
		t.Errorf("k6 service image %q, want %s", k6["image"], k6Image)
	}
	checkBuild(t, "k6", k6, "xk6-massconn/Dockerfile")
	args := command(k6, "command")
	if len(args) < 2 || args[0] != "run" {
		t.Fatalf("k6 command %v should be `run ... SCRIPT`", args)
	}
	flags := k6RunFlags(t)
	for _, a := range args[1 : len(args)-1] {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "--") && !flags[name] {
			t.Errorf("k6 command flag %s is not a `k6 run` flag", a)
		}
	}
	var copies []instruction
	for _, in := range parseDockerfile(t, "xk6-massconn/Dockerfile") {
		if in.Cmd == "COPY" {
			copies = append(copies, in)
		}
	}
	script, err := imageScriptSource(copies, args[len(args)-1])
	if err != nil {
		t.Fatalf("k6 script: %v", err)
	}
	if script != "k6scripts/capacity.js" {
		t.Errorf("docker compose up should run k6scripts/capacity.js, runs %s", script)
	}
	reads := scriptEnv(t, script)
	env := environment(k6)
	for k := range env {
		if !reads[k] {
			t.Errorf("k6 environment %s is not read by %s (it reads %v)", k, script, reads)
		}
	}
	for _, u := range strings.Split(env["URLS"], ",") {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "ws" {
			t.Errorf("k6 URLS entry %q is not a ws:// URL", u)
			continue
		}
		if _, ok := c.services[pu.Hostname()]; !ok || pu.Port() != serverPort || pu.Path != "/ws" {
			t.Errorf("k6 URLS entry %q should reach the server service on port %s at /ws", u, serverPort)
		}
	}
	if every := command(c.service(t, "insert"), "command"); len(every) != 3 || every[1] != "--every" || every[2] != env["INSERT_EVERY"] {
		t.Errorf("insert runs %v but k6 expects a row every INSERT_EVERY=%q", every, env["INSERT_EVERY"])
	}
	if n, _ := strconv.Atoi(env["CONNECTIONS"]); n < 1 {
		t.Errorf("k6 CONNECTIONS %q", env["CONNECTIONS"])
	}
	nofile, _ := strconv.Atoi(composeDefault(str(get(k6, "ulimits", "nofile", "hard"))))
	if n, _ := strconv.Atoi(env["CONNECTIONS"]); nofile < n+100 {
		t.Errorf("k6 ulimits nofile %d cannot hold CONNECTIONS=%d", nofile, n)
	}
	deps, _ := k6["depends_on"].(map[string]any)
	if str(get(deps, "server", "condition")) != "service_healthy" {
		t.Error("k6 must wait for the server to be healthy, or its first connections fail")
	}
	if get(c.service(t, "server"), "healthcheck") == nil {
		t.Error("the server service has no healthcheck for k6 to wait on")
	}
	for name, svc := range c.services {
		deps, _ := svc["depends_on"].(map[string]any)
		for dep := range deps {
			if _, ok := c.services[dep]; !ok {
				t.Errorf("service %s depends on %s, which does not exist", name, dep)
			}
		}
		if svc["profiles"] == nil && name != "k6" && len(strList(svc["entrypoint"])) > 0 {
			t.Errorf("service %s overrides its entrypoint but runs by default; only k6 may exit in `up --exit-code-from k6`", name)
		}
	}
}

// The fleet services run the fleet tool with subcommands and flags it has.
func TestComposeFleetServicesMatchTheFleetTool(t *testing.T) {
	c := loadCompose(t)
	fleet := fleetBinary(t)
	for _, name := range []string{"k6-part", "fleet-merge"} {
		svc := c.service(t, name)
		if str(svc["image"]) != k6Image {
			t.Errorf("%s: image %q, want %s (it holds massconn-fleet)", name, svc["image"], k6Image)
		}
		if len(strList(svc["profiles"])) == 0 {
			t.Errorf("%s must be in a profile: it is started by `docker compose run`, not by `up`", name)
		}
		ep := command(svc, "entrypoint")
		if len(ep) < 2 || ep[0] != "massconn-fleet" {
			t.Fatalf("%s: entrypoint %v should be massconn-fleet SUBCOMMAND", name, ep)
		}
		checkFleetArgs(t, fleet, ep[1:])
	}
}

// shellWords splits a line printed with bash's printf %q back into words.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	escaped, inWord := false, false
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// infra/compose-fleet.sh drives the compose file; its docker commands
// (printed by --dry-run) must name real services, real massconn-fleet flags,
// a script in the image and the replicas compose will create.
func TestComposeFleetScriptCommands(t *testing.T) {
	c := loadCompose(t)
	project := str(yamlDocs(t, "docker-compose.yml")[0]["name"])
	fleet := fleetBinary(t)
	var copies []instruction
	for _, in := range parseDockerfile(t, "xk6-massconn/Dockerfile") {
		if in.Cmd == "COPY" {
			copies = append(copies, in)
		}
	}
	cmd := exec.Command("bash", filepath.Join(repoRoot, "infra", "compose-fleet.sh"), "--dry-run",
		"--parts", "3", "--servers", "2", "--connections", "300", "--duration", "5m")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("compose-fleet.sh --dry-run: %v\n%s", err, out)
	}
	var partDirs []string
	var merged bool
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		w := shellWords(line)
		if len(w) < 3 || w[0] != "docker" {
			t.Fatalf("not a docker command: %q", line)
		}
		if w[1] != "compose" || w[2] != "run" {
			continue
		}
		// docker compose run [options] SERVICE args...
		i := 3
		for i < len(w) && strings.HasPrefix(w[i], "-") {
			if w[i] == "--name" || w[i] == "--entrypoint" {
				i++
			}
			i++
		}
		if i >= len(w) {
			t.Fatalf("no service in %q", line)
		}
		svcName, args := w[i], w[i+1:]
		svc := c.service(t, svcName)
		if strings.Contains(line, "--entrypoint") {
			continue
		}
		full := append(command(svc, "entrypoint")[1:], args...)
		checkFleetArgs(t, fleet, full)
		switch full[0] {
		case "part":
			dash := slices.Index(args, "--")
			if dash < 0 || dash+1 >= len(args) {
				t.Fatalf("part command without -- SCRIPT: %q", line)
			}
			if src, err := imageScriptSource(copies, args[dash+1]); err != nil || src != "k6scripts/capacity.js" {
				t.Errorf("part script %s: %s %v", args[dash+1], src, err)
			}
			reads := scriptEnv(t, "k6scripts/capacity.js")
			for j := dash + 2; j+1 < len(args); j += 2 {
				k, v, _ := strings.Cut(args[j+1], "=")
				if args[j] != "-e" || !reads[k] {
					t.Errorf("part passes %s %s, which capacity.js does not read", args[j], args[j+1])
				}
				if k == "URLS" && v != fmt.Sprintf("ws://%s-server-1:8080/ws?topic=Track,ws://%s-server-2:8080/ws?topic=Track", project, project) {
					t.Errorf("URLS %s should name the %s-server-N replicas compose creates", v, project)
				}
			}
			idx := slices.Index(args, "--index")
			if idx < 0 || args[idx+1] != strconv.Itoa(len(partDirs)) || args[slices.Index(args, "--parts")+1] != "3" {
				t.Errorf("part %d: %q", len(partDirs), line)
			}
			partDirs = append(partDirs, args[slices.Index(args, "--dir")+1])
		case "merge":
			merged = true
			if got := args[len(args)-len(partDirs):]; !slices.Equal(got, partDirs) {
				t.Errorf("merge reads %v, the parts wrote %v", got, partDirs)
			}
		}
	}
	if len(partDirs) != 3 || !merged {
		t.Errorf("want 3 parts and a merge, got parts %v, merge %v:\n%s", partDirs, merged, out)
	}
	if _, port, _ := strings.Cut(environment(c.service(t, "server"))["LISTEN"], ":"); port != "8080" {
		t.Errorf("compose-fleet.sh assumes the server listens on 8080, compose says %s", port)
	}
	bad := exec.Command("bash", filepath.Join(repoRoot, "infra", "compose-fleet.sh"), "--parts", "4", "--connections", "3")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "--parts 4 is more than --connections 3") {
		t.Errorf("more parts than connections: %v %s", err, out)
	}
}

// The server's compose healthcheck is run for real against the real server:
// it must pass once the server is up, and fail where nothing listens.
func TestComposeServerHealthcheckProbesARealServer(t *testing.T) {
	c := loadCompose(t)
	svc := c.service(t, "server")
	test := strList(get(svc, "healthcheck", "test"))
	if len(test) < 2 || test[0] != "CMD" {
		t.Fatalf("server healthcheck %v should be an exec-form CMD", test)
	}
	_, port, _ := strings.Cut(environment(svc)["LISTEN"], ":")
	probe := func(p int) error {
		args := slices.Clone(test[1:])
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "/127.0.0.1/"+port, fmt.Sprintf("/127.0.0.1/%d", p))
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.WaitDelay = 5 * time.Second
		return cmd.Run()
	}

	nobody := freeport.Must(t)
	if err := probe(nobody); err == nil {
		t.Errorf("the healthcheck passes with nothing listening on port %d", nobody)
	}

	pg := pgtest.Start(t)
	p := freeport.Must(t)
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, serverBinary(t), "serve")
	srv.Env = append(os.Environ(), "DATABASE_URL="+pg.URL(), fmt.Sprintf("LISTEN=127.0.0.1:%d", p))
	srv.Cancel = func() error { return srv.Process.Signal(syscall.SIGTERM) }
	srv.WaitDelay = 15 * time.Second
	var logs strings.Builder
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = srv.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := probe(p)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the healthcheck never passed against a running server: %v\nserver log:\n%s", err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
