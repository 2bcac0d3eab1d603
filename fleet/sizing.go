package fleet

import (
	"fmt"

	"github.com/massconn/massconn/internal/procfs"
)

// memPerConn is the memory budget per connection when sizing a default run:
// kernel socket memory for both ends (~10 KB on loopback) plus client and
// server user space, with room to spare.
const memPerConn = 64 << 10

// DefaultConnections is the count a run on this machine uses when none is
// given: what one k6 process may hold, or less if memory is short.
func DefaultConnections() (int64, string, error) {
	nofile, err := procfs.OpenFileLimit(0)
	if err != nil {
		return 0, "", err
	}
	n := PerProcessLimit(nofile)
	why := fmt.Sprintf("one k6 process's share of the open-file limit %d", nofile)
	if avail, err := memAvailable(); err == nil && avail/memPerConn < n {
		n = avail / memPerConn
		why = fmt.Sprintf("%d MiB available at %d KiB per connection", avail>>20, memPerConn>>10)
	}
	return max(n, 1), why, nil
}

// memAvailable is the machine's MemAvailable in bytes.
func memAvailable() (int64, error) {
	kb, err := procfs.System{}.MemAvailableKB()
	return kb << 10, err
}

// AutoRate is the fleet's total connection rate when several k6 processes
// share this machine and none is given: without one shared rate, every part
// opens as fast as it can and dozens of bursts on few cores time each
// other out.
const AutoRate = 4000

// fleetRate is the total rate a run uses: the one given, else AutoRate for
// a fleet of several parts, and unpaced for one process.
func fleetRate(rate float64, parts int) float64 {
	switch {
	case rate >= 0:
		return rate
	case parts > 1:
		return AutoRate
	}
	return 0
}
