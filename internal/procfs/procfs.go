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
	"time"

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

// TotalVmRSS is the summed VmRSS of pids in KiB; a process that is gone
// (or a zombie, which has no VmRSS) adds nothing, so a sampler can pass
// every pid it started.
func TotalVmRSS(pids []int) int64 {
	var kb int64
	for _, pid := range pids {
		if v, err := VmRSS(pid); err == nil {
			kb += v
		}
	}
	return kb
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

// clockTicks is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// which Linux fixes at 100 for user space whatever the kernel's HZ.
const clockTicks = 100

// CPUTime is the user+sys CPU time process pid (all its threads) has used,
// from /proc/PID/stat, with 10 ms resolution.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// ReapedChildrenCPU is the user+sys CPU time of pid's children that have
// exited and been waited for (cutime+cstime of /proc/PID/stat): for a
// process that forks short-lived workers (PostgreSQL's backends), their
// CPU after they are gone.
func ReapedChildrenCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return parseStatTicks(b, 13, 15)
}

func parseStatCPU(stat []byte) (time.Duration, error) { return parseStatTicks(stat, 11, 13) }

// parseStatTicks sums fields [from, to) counted after the comm field
// (utime is 11, stime 12, cutime 13, cstime 14) as a duration.
func parseStatTicks(stat []byte, from, to int) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields from after its closing parenthesis.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat without a (comm) field")
	}
	fields := strings.Fields(string(stat[i+1:]))
	// After comm: state is field 3, utime field 14, stime field 15,
	// cutime 16, cstime 17.
	if len(fields) < to {
		return 0, fmt.Errorf("stat has %d fields after comm, want at least %d", len(fields), to)
	}
	var ticks uint64
	for _, f := range fields[from:to] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat CPU field %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
