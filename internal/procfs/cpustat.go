package procfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// MachineCPU is the machine's CPU time so far, summed over its cores, from
// the "cpu" line of /proc/stat.
type MachineCPU struct {
	// Busy is every state but idle and iowait: user, nice, system, irq,
	// softirq and steal (guest time is already inside user).
	Busy time.Duration
	// Idle is idle plus iowait.
	Idle time.Duration
}

// MachineCPU reads the summed "cpu" line of stat.
func (s System) MachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile(s.path("stat"))
	if err != nil {
		return MachineCPU{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	return parseMachineCPU(string(b))
}

func parseMachineCPU(stat string) (MachineCPU, error) {
	for line := range strings.Lines(stat) {
		rest, ok := strings.CutPrefix(line, "cpu ")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		// user nice system idle iowait irq softirq steal [guest guest_nice]
		if len(fields) < 8 {
			return MachineCPU{}, fmt.Errorf("/proc/stat cpu line has %d fields, want at least 8", len(fields))
		}
		var ticks [8]uint64
		for i := range ticks {
			v, err := strconv.ParseUint(fields[i], 10, 64)
			if err != nil {
				return MachineCPU{}, fmt.Errorf("/proc/stat cpu field %d %q: %w", i+1, fields[i], err)
			}
			ticks[i] = v
		}
		tick := func(v uint64) time.Duration { return time.Duration(v) * time.Second / clockTicks }
		busy := ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
		return MachineCPU{Busy: tick(busy), Idle: tick(ticks[3] + ticks[4])}, nil
	}
	return MachineCPU{}, errors.New("no cpu line in /proc/stat")
}

// TotalCPUTime is the summed user+sys CPU time of pids; a process that is
// gone adds nothing, so a sampler can pass every pid it started.
func TotalCPUTime(pids []int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		if v, err := CPUTime(pid); err == nil {
			d += v
		}
	}
	return d
}
