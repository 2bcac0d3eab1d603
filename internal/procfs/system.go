package procfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// System reads (and, for sysctls, writes) the machine-wide figures under a
// /proc tree: Root "" is the real /proc; tests point it at a directory
// holding the same files with the values they want.
type System struct {
	Root string
}

func (s System) path(rel string) string {
	root := s.Root
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(root, rel)
}

// ErrNoSysctl is returned for a sysctl that this kernel does not have (for
// nf_conntrack: netfilter's connection tracking is not loaded).
var ErrNoSysctl = errors.New("no such sysctl")

func sysctlPath(name string) string { return filepath.Join("sys", strings.ReplaceAll(name, ".", "/")) }

// Sysctl reads a numeric sysctl such as net.netfilter.nf_conntrack_max
// (its first field, for multi-valued ones).
func (s System) Sysctl(name string) (int64, error) {
	b, err := os.ReadFile(s.path(sysctlPath(name)))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", name, ErrNoSysctl)
	}
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", name, err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("sysctl %s is empty", name)
	}
	v, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sysctl %s: %w", name, err)
	}
	return v, nil
}

// SysctlFields reads every field of a multi-valued sysctl (tcp_mem).
func (s System) SysctlFields(name string) ([]int64, error) {
	b, err := os.ReadFile(s.path(sysctlPath(name)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNoSysctl)
	}
	if err != nil {
		return nil, fmt.Errorf("read sysctl %s: %w", name, err)
	}
	var out []int64
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sysctl %s: %w", name, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// SetSysctl writes a sysctl (root only on a real /proc).
func (s System) SetSysctl(name string, v int64) error {
	if err := os.WriteFile(s.path(sysctlPath(name)), []byte(strconv.FormatInt(v, 10)+"\n"), 0o644); err != nil { //nolint:gosec // sysctl files are world-readable by design
		return fmt.Errorf("write sysctl %s=%d: %w", name, v, err)
	}
	return nil
}

// MemAvailableKB is MemAvailable from meminfo, in KiB.
func (s System) MemAvailableKB() (int64, error) {
	return s.meminfo("MemAvailable:")
}

// MemTotalKB is MemTotal from meminfo, in KiB.
func (s System) MemTotalKB() (int64, error) {
	return s.meminfo("MemTotal:")
}

func (s System) meminfo(key string) (int64, error) {
	b, err := os.ReadFile(s.path("meminfo"))
	if err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, key)
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("meminfo line %q: want 'N kB'", strings.TrimSpace(line))
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s line in meminfo", strings.TrimSuffix(key, ":"))
}

// Sockstat is the TCP line of /proc/net/sockstat.
type Sockstat struct {
	InUse, Orphan, TimeWait, Alloc int64
	MemPages                       int64 // kernel memory of TCP sockets, in pages
}

// TCPSockstat reads the TCP line of net/sockstat.
func (s System) TCPSockstat() (Sockstat, error) {
	b, err := os.ReadFile(s.path("net/sockstat"))
	if err != nil {
		return Sockstat{}, fmt.Errorf("read sockstat: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "TCP:")
		if !ok {
			continue
		}
		var st Sockstat
		fields := strings.Fields(rest)
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseInt(fields[i+1], 10, 64)
			if err != nil {
				return Sockstat{}, fmt.Errorf("sockstat %s: %w", fields[i], err)
			}
			switch fields[i] {
			case "inuse":
				st.InUse = v
			case "orphan":
				st.Orphan = v
			case "tw":
				st.TimeWait = v
			case "alloc":
				st.Alloc = v
			case "mem":
				st.MemPages = v
			}
		}
		return st, nil
	}
	return Sockstat{}, errors.New("no TCP line in sockstat")
}

// PssKB is the proportional set size of pid (smaps_rollup), in KiB: shared
// memory (PostgreSQL's shared buffers) divided among the processes sharing
// it, so a sum over processes does not count it many times.
func (s System) PssKB(pid int) (int64, error) {
	b, err := os.ReadFile(s.path(fmt.Sprintf("%d/smaps_rollup", pid)))
	if err != nil {
		return 0, fmt.Errorf("read smaps_rollup of pid %d: %w", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "Pss:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("no Pss line for pid %d", pid)
}

// Children lists the child processes of pid (all its threads' children).
func (s System) Children(pid int) ([]int, error) {
	tasks, err := os.ReadDir(s.path(fmt.Sprintf("%d/task", pid)))
	if err != nil {
		return nil, fmt.Errorf("tasks of pid %d: %w", pid, err)
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(s.path(fmt.Sprintf("%d/task/%s/children", pid, t.Name())))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out, nil
}
