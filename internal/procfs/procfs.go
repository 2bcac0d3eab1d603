// Package procfs reads the two per-process figures the benchmarks size and
// judge themselves by: resident memory and the open-file limit.
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// VmRSS returns the resident set size of pid in KiB, from the VmRSS line of
// /proc/PID/status: user-space memory only; the kernel's socket buffers are
// not in it.
func VmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	return parseVmRSS(b)
}

func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := strings.Fields(string(rest))
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", strings.TrimSpace(string(line)))
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS value %q: %w", fields[0], err)
		}
		return n, nil
	}
	return 0, errors.New("no VmRSS line (kernel thread or exited process)")
}

// OpenFileLimit is the soft RLIMIT_NOFILE of process pid (0: this one), as
// the kernel enforces it. Go raises its own soft limit to the hard one at
// start, so for Go processes this is the hard limit.
func OpenFileLimit(pid int) (uint64, error) {
	if pid == 0 {
		var rl unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
		}
		return rl.Cur, nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, fmt.Errorf("read open-file limit of pid %d: %w", pid, err)
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
	return 0, errors.New("no 'Max open files' line in limits")
}
