package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// residentBytes is a process's resident set size (VmRSS in
// /proc/PID/status): what the server really holds in RAM, whatever the Go
// runtime thinks it uses.
func residentBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read server RSS (--server-pid %d): %w", pid, err)
	}
	defer f.Close()
	kb, err := statusField(f, "VmRSS")
	if err != nil {
		return 0, fmt.Errorf("server RSS (--server-pid %d): %w", pid, err)
	}
	return kb * 1024, nil
}

// statusField reads a "Name:   123 kB" line of /proc/PID/status.
func statusField(r io.Reader, name string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != name {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", name, sc.Text())
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line", name)
}

// openFileLimit is the soft RLIMIT_NOFILE of process pid (0: this one), as
// the kernel enforces it. Go raises its own soft limit to the hard one at
// start, so for Go processes this is the hard limit.
func openFileLimit(pid int) (uint64, error) {
	if pid == 0 {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("getrlimit NOFILE: %w", err)
		}
		return lim.Cur, nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, fmt.Errorf("read open-file limit of --server-pid %d: %w", pid, err)
	}
	defer f.Close()
	return parseLimits(f)
}

// parseLimits finds the soft "Max open files" value in /proc/PID/limits.
func parseLimits(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Max open files")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 {
			break
		}
		if fields[0] == "unlimited" {
			return ^uint64(0), nil
		}
		return strconv.ParseUint(fields[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no 'Max open files' line in limits")
}
