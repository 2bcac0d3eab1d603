// Package tempdb starts a throwaway PostgreSQL cluster: initdb into a
// temporary directory, pg_ctl start on a free loopback port, trust auth.
// The fleet and the benchmarks run against one when no database is given;
// internal/pgtest wraps it for tests. initdb and pg_ctl refuse to run as
// root, so as root the cluster runs as the `postgres` OS user.
package tempdb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/massconn/massconn/internal/freeport"
)

// Cluster is one running throwaway cluster.
type Cluster struct {
	dir  string // temporary root: data/, sock/, postgres.log
	port int
	cred *syscall.Credential // nil when not running as root
	uid  int
	gid  int

	maxConns int // max_connections; 0 = DefaultMaxConnections

	mu      sync.Mutex
	stopped bool
}

// DefaultMaxConnections is a throwaway cluster's max_connections unless
// NewWithMaxConnections asks for more.
const DefaultMaxConnections = 100

// New starts a cluster with DefaultMaxConnections; the caller must call
// Stop.
func New() (*Cluster, error) { return NewWithMaxConnections(0) }

// NewWithMaxConnections starts a cluster allowing maxConns client
// connections (0 = DefaultMaxConnections): a benchmark with many server
// processes, each holding a listener and a small pool, needs more than 100.
func NewWithMaxConnections(maxConns int) (*Cluster, error) {
	bin, err := exec.LookPath("initdb")
	if err != nil {
		bin, err = findDebianBinDir()
		if err != nil {
			return nil, err
		}
	} else {
		bin = filepath.Dir(bin)
	}
	s := &Cluster{uid: -1, gid: -1, maxConns: maxConns}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the 'postgres' OS user (useradd --system postgres): %w", err)
		}
		s.uid, _ = strconv.Atoi(u.Uid)
		s.gid, _ = strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid)}
	}
	s.reapOrphans()
	s.dir, err = os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, s.failed(fmt.Errorf("record owner: %w", err))
	}
	// os.MkdirTemp makes 0700 dirs; the postgres user must be able to enter.
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return nil, s.failed(fmt.Errorf("chmod %s: %w", s.dir, err))
	}
	for _, sub := range []string{"data", "sock"} {
		if err := os.Mkdir(filepath.Join(s.dir, sub), 0o700); err != nil {
			return nil, s.failed(fmt.Errorf("create %s: %w", sub, err))
		}
	}
	if s.cred != nil {
		for _, p := range []string{s.dir, filepath.Join(s.dir, "data"), filepath.Join(s.dir, "sock")} {
			if err := os.Chown(p, s.uid, s.gid); err != nil {
				return nil, s.failed(fmt.Errorf("chown %s: %w", p, err))
			}
		}
	}
	if out, err := s.run(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		return nil, s.failed(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	s.port, err = freeport.Loopback()
	if err != nil {
		return nil, s.failed(err)
	}
	if err := s.start(); err != nil {
		return nil, s.failed(err)
	}
	return s, nil
}

// URL is a lib/pq connection URL for the cluster's `postgres` database.
func (s *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the loopback TCP port the cluster listens on.
func (s *Cluster) Port() int { return s.port }

// StopKeepData stops the server but keeps its data for a later Start.
func (s *Cluster) StopKeepData() error {
	if out, err := s.run("pg_ctl", "-D", s.dataDir(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// StartAgain starts a server previously stopped with StopKeepData.
func (s *Cluster) StartAgain() error { return s.start() }

// Stop stops the cluster and removes its files. Safe to call twice.
func (s *Cluster) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	if _, err := os.Stat(filepath.Join(s.dataDir(), "postmaster.pid")); err == nil {
		if out, err := s.run("pg_ctl", "-D", s.dataDir(), "-m", "immediate", "-w", "-t", "60", "stop"); err != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %w\n%s", err, out))
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", s.dir, err))
	}
	return errors.Join(errs...)
}

func (s *Cluster) dataDir() string { return filepath.Join(s.dir, "data") }

// ownerFile holds the pid of the process that started a cluster.
const ownerFile = "owner.pid"

// dirPrefix starts the name of every cluster's directory in os.TempDir.
const dirPrefix = "tempdb-"

// oldDirPrefix named them before this package moved out of internal/pgtest:
// orphans from then are reaped too.
const oldDirPrefix = "pgtest-"

// reapOrphans stops and removes clusters whose process died without
// cleaning up (a test killed by go test's -timeout, a run stopped with
// Ctrl-C twice): postgres runs detached under pg_ctl and would otherwise
// live on.
func (s *Cluster) reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), oldDirPrefix+"*"))
	dirs = append(dirs, old...)
	for _, dir := range dirs {
		raw, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or still being created
		}
		pid, err := strconv.Atoi(string(raw))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // owner alive (or unknowable): leave it alone
		}
		orphan := &Cluster{dir: dir, cred: s.cred, uid: s.uid, gid: s.gid}
		_ = orphan.Stop()
	}
}

func (s *Cluster) start() error {
	maxConns := s.maxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConnections
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=%d",
		s.port, filepath.Join(s.dir, "sock"), maxConns)
	logFile := filepath.Join(s.dir, "postgres.log")
	if out, err := s.run("pg_ctl", "-D", s.dataDir(), "-l", logFile, "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, tail(log, 2000))
	}
	return nil
}

func (s *Cluster) run(name string, args ...string) ([]byte, error) {
	if filepath.Base(name) == name {
		if p, err := exec.LookPath(name); err == nil {
			name = p
		} else if dir, derr := findDebianBinDir(); derr == nil {
			name = filepath.Join(dir, name)
		}
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		cmd.Env = append(os.Environ(), "HOME="+s.dir, "USER=postgres")
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// pg_ctl redirects postgres to the log file, but if a child ever kept
	// our pipes open, WaitDelay keeps Wait from hanging on them.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	return out.Bytes(), err
}

func (s *Cluster) failed(err error) error {
	_ = s.Stop()
	return err
}

func findDebianBinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", errors.New("initdb not found on PATH or in /usr/lib/postgresql/*/bin; install PostgreSQL 15 (apt-get install postgresql)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// PID is the postmaster's process id (from postmaster.pid), for measuring
// the cluster's memory.
func (s *Cluster) PID() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("postmaster pid: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("postmaster pid %q: %w", line, err)
	}
	return pid, nil
}
