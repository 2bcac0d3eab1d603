package infra

// The harness for the tests that run the deployment files on a real Docker
// engine: find the engine (skip with a clear line locally, fail in CI), make
// the base images exist (pull, else build stand-ins: Docker Hub is not
// reachable everywhere), copy the tree cleanly, and run compose under a
// project name of the test's own so nothing is shared with a user's stack or
// another test run.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// skipDockerEnv lets a developer leave the engine tests out of a quick local
// run; CI refuses it, so the tests always run there.
const skipDockerEnv = "MASSCONN_SKIP_DOCKER"

// dockerLock serialises the engine tests of every checkout on this machine:
// they build and tag the same images (massconn/server:local, ...).
const dockerLock = "/tmp/massconn-docker-tests.lock"

// requireDocker returns once a Docker engine and the Compose plugin answer,
// holding the machine-wide engine-test lock until the test ends. Without an
// engine the test skips, or fails under CI=true.
func requireDocker(t *testing.T) {
	t.Helper()
	if v := os.Getenv(skipDockerEnv); v != "" && v != "0" {
		if inCI() {
			t.Fatalf("%s=%s but CI=true: the Docker engine tests always run in CI; unset %s", skipDockerEnv, v, skipDockerEnv)
		}
		t.Skipf("%s=%s: skipping the Docker engine test (unset it to run it)", skipDockerEnv, v)
	}
	missing := func(what string, err error, out string) {
		t.Helper()
		msg := fmt.Sprintf("%s: %v %s; .ci/run installs docker.io, builds the Compose plugin and starts dockerd "+
			"(or set %s=1 to skip these tests locally)", what, err, strings.TrimSpace(out), skipDockerEnv)
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip("no Docker engine to run on: " + msg)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		missing("no docker CLI", err, "")
	}
	if out, err := run(20*time.Second, "", nil, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		missing("no Docker engine answers `docker info`", err, out)
	}
	if out, err := run(20*time.Second, "", nil, "docker", "compose", "version"); err != nil {
		missing("the Compose v2 plugin is missing (`docker compose version`)", err, out)
	}
	dockerLockOnce.Do(func() { dockerLockErr = takeDockerLock(t) })
	if dockerLockErr != nil {
		t.Fatal(dockerLockErr)
	}
}

var (
	dockerLockOnce sync.Once
	dockerLockErr  error
	dockerLockFile *os.File // held until the test binary exits
)

// takeDockerLock takes the machine-wide lock once per test binary: the
// package's tests run one after another, so holding it to the end keeps
// other checkouts out without a test ever waiting on its own package.
func takeDockerLock(t *testing.T) error {
	lock, err := os.OpenFile(dockerLock, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return fmt.Errorf("open %s: %w", dockerLock, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("waiting for %s: another checkout's Docker test is running", dockerLock)
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return fmt.Errorf("lock %s: %w", dockerLock, err)
		}
	}
	dockerLockFile = lock
	return nil
}

// run runs a command bounded by timeout and returns its combined output.
func run(timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	var buf bytes.Buffer
	err := runTo(&buf, timeout, dir, env, name, args...)
	return buf.String(), err
}

func runTo(w io.Writer, timeout time.Duration, dir string, env []string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdout, cmd.Stderr = w, w
	// SIGTERM first: compose and the fleet script clean up on it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: gave up after %v: %w", name, strings.Join(args, " "), timeout, ctx.Err())
	}
	return err
}

// The images the Dockerfiles and the compose file start FROM.
const (
	debianImage   = "debian:bookworm-slim"
	golangImage   = "golang:1.26-bookworm"
	postgresImage = "postgres:15-bookworm"
)

var (
	baseImagesOnce sync.Once
	baseImagesErr  error
)

// ensureBaseImages makes the three base images exist locally: already there
// (cached from an earlier run, or a mirror), pulled, or else built as
// stand-ins tagged with the official names (infra/standin/).
func ensureBaseImages(t *testing.T) {
	t.Helper()
	baseImagesOnce.Do(func() { baseImagesErr = buildBaseImages(t) })
	if baseImagesErr != nil {
		t.Fatalf("base images: %v", baseImagesErr)
	}
}

func imageExists(tag string) bool {
	_, err := run(20*time.Second, "", nil, "docker", "image", "inspect", "--format", "{{.Id}}", tag)
	return err == nil
}

// havePulled reports whether tag is local now, trying a pull bounded so that
// an unreachable registry costs seconds, not minutes.
func havePulled(t *testing.T, tag string) bool {
	if imageExists(tag) {
		return true
	}
	out, err := run(45*time.Second, "", nil, "docker", "pull", "--quiet", tag)
	if err != nil {
		t.Logf("docker pull %s failed (%v: %s): building a stand-in", tag, err, strings.TrimSpace(lastLine(out)))
		return false
	}
	return true
}

func buildBaseImages(t *testing.T) error {
	if !havePulled(t, debianImage) {
		if err := importDebian(t); err != nil {
			return err
		}
	}
	hostGo, err := run(10*time.Second, "", nil, "go", "env", "GOROOT", "GOVERSION")
	if err != nil {
		return fmt.Errorf("go env: %w %s", err, hostGo)
	}
	goroot, goVersion, _ := strings.Cut(strings.TrimSpace(hostGo), "\n")
	if !havePulled(t, golangImage) {
		if !strings.HasPrefix(goVersion, "go1.26") {
			return fmt.Errorf("the %s stand-in copies the host's Go, which is %s, not 1.26", golangImage, goVersion)
		}
		ctx := standinContext(t, "golang.Dockerfile")
		if out, err := run(10*time.Minute, "", nil, "cp", "-a", goroot+"/.", filepath.Join(ctx, "go")); err != nil {
			return fmt.Errorf("copy the host's Go tree %s: %w %s", goroot, err, out)
		}
		if err := buildStandin(t, ctx, golangImage); err != nil {
			return err
		}
	}
	if !havePulled(t, postgresImage) {
		if err := buildStandin(t, standinContext(t, "postgres.Dockerfile", "postgres-entrypoint.sh"), postgresImage); err != nil {
			return err
		}
	}
	return nil
}

// importDebian makes debian:bookworm-slim from a minimal debootstrap.
func importDebian(t *testing.T) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("%s cannot be pulled and debootstrap is missing (apt-get install debootstrap; .ci/run does)", debianImage)
	}
	dir, err := os.MkdirTemp("/var/tmp", "massconn-rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	if out, err := run(15*time.Minute, "", nil, "debootstrap", "--variant=minbase", "bookworm", dir, "http://deb.debian.org/debian"); err != nil {
		return fmt.Errorf("debootstrap: %w\n%s", err, tail(out, 20))
	}
	// Keep the image small, as the official slim one is.
	for _, p := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		entries, _ := filepath.Glob(filepath.Join(dir, p, "*"))
		for _, e := range entries {
			os.RemoveAll(e)
		}
	}
	cmd := fmt.Sprintf("tar -C %s -c . | docker import --change 'CMD [\"bash\"]' --message massconn-standin - %s", dir, debianImage)
	if out, err := run(10*time.Minute, "", nil, "bash", "-o", "pipefail", "-c", cmd); err != nil {
		return fmt.Errorf("docker import: %w\n%s", err, tail(out, 20))
	}
	t.Logf("built the %s stand-in (debootstrap + docker import) in %v", debianImage, time.Since(start).Round(time.Second))
	return nil
}

// standinContext is a build context holding files from infra/standin and the
// host's CA bundle.
func standinContext(t *testing.T, files ...string) string {
	dir := t.TempDir()
	for _, f := range files {
		copyFile(t, filepath.Join(repoRoot, "infra", "standin", f), filepath.Join(dir, f))
	}
	if ca := "/etc/ssl/certs/ca-certificates.crt"; fileExists(ca) {
		copyFile(t, ca, filepath.Join(dir, "ca-certificates.crt"))
	} else {
		t.Fatalf("%s is missing: the stand-in images need the host's CA bundle (apt-get install ca-certificates)", ca)
	}
	return dir
}

func buildStandin(t *testing.T, ctx, tag string) error {
	dockerfile := ""
	entries, _ := os.ReadDir(ctx)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".Dockerfile") {
			dockerfile = e.Name()
		}
	}
	start := time.Now()
	out, err := run(20*time.Minute, ctx, nil, "docker", "build", "--quiet", "--label", "massconn.standin=1",
		"-f", dockerfile, "-t", tag, ".")
	if err != nil {
		return fmt.Errorf("docker build %s (%s): %w\n%s", tag, dockerfile, err, tail(out, 30))
	}
	t.Logf("built the %s stand-in in %v", tag, time.Since(start).Round(time.Second))
	return nil
}

// cleanTree copies the files git knows (tracked, or new and not ignored) into
// a temporary directory: what a fresh clone of this working tree holds,
// without bin/, node_modules or results of earlier runs.
func cleanTree(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	// os.MkdirTemp, not t.TempDir: containers may write here as other users
	// and the cleanup must not fail the test over their files.
	dir, err := os.MkdirTemp("", "massconn-tree-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(repoRoot, rel)
		fi, err := os.Lstat(src)
		if err != nil {
			continue // deleted in the working tree
		}
		if fi.Mode().IsRegular() {
			copyFile(t, src, filepath.Join(dir, rel))
		}
	}
	return dir
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// composeProject is a compose project of the test's own: its containers,
// network (a bridge created by compose) and volumes are removed when the
// test ends, whatever happened.
type composeProject struct {
	name, dir string
	env       []string
}

func newComposeProject(t *testing.T, prefix string, env ...string) composeProject {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	p := composeProject{name: prefix + "-" + hex.EncodeToString(b), dir: cleanTree(t)}
	p.env = append(os.Environ(), "COMPOSE_PROJECT_NAME="+p.name, "COMPOSE_PROGRESS=plain", "COMPOSE_ANSI=never")
	p.env = append(p.env, env...)
	t.Cleanup(func() { p.down(t) })
	return p
}

func (p composeProject) down(t *testing.T) {
	out, err := run(3*time.Minute, p.dir, p.env, "docker", "compose", "--profile", "fleet", "down", "-v", "--remove-orphans", "--timeout", "10")
	if err != nil {
		t.Logf("docker compose down: %v\n%s", err, out)
	}
	// Containers started with `docker compose run --name` outside compose's
	// bookkeeping, if a script died before removing them.
	ids, _ := run(20*time.Second, "", nil, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+p.name)
	if ids = strings.TrimSpace(ids); ids != "" {
		out, err := run(time.Minute, "", nil, "docker", append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
		t.Logf("removed leftover containers of %s: %v %s", p.name, err, out)
	}
}

// compose runs `docker compose ARGS` in the project's tree.
func (p composeProject) compose(t *testing.T, timeout time.Duration, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	start := time.Now()
	out, err := run(timeout, p.dir, append(slicesClone(p.env), extraEnv...), "docker", append([]string{"compose"}, args...)...)
	t.Logf("docker compose %s (%s): %v after %v", strings.Join(args, " "), strings.Join(extraEnv, " "), exitStatus(err),
		time.Since(start).Round(time.Second))
	return out, err
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// exitStatus describes how a command ended: "exit 0", "exit 99", or the error.
func exitStatus(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit 0"
	case errors.As(err, &ee):
		return fmt.Sprintf("exit %d", ee.ExitCode())
	default:
		return err.Error()
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func lastLine(s string) string { return tail(s, 1) }
