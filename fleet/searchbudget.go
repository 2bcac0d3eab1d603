package fleet

import (
	"fmt"

	"github.com/massconn/massconn/fleet/limit"
	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/procfs"
)

// The load generator's budget: how many connections this machine's
// limits let the search open, read before the first step from the same
// figures the preflight checks. A limit the preflight may raise (root
// writes sysctls) is no limit; the per-process open-file limit is none
// either, since the fleet adds k6 processes under it.

// The names of the budget's limits, as --lg-budget takes them.
const (
	budgetOpenFiles = "open-files"
	budgetPorts     = "ports"
	budgetConntrack = "conntrack"
	budgetMemory    = "memory"
)

// BudgetNames are the limits --lg-budget may replace.
var BudgetNames = []string{budgetOpenFiles, budgetPorts, budgetConntrack, budgetMemory}

// portRange is the sysctl of the ephemeral ports a source address has.
const portRange = "net.ipv4.ip_local_port_range"

// LoadGeneratorBudget reads the machine's limits as connection counts;
// given replaces the ones it names.
func LoadGeneratorBudget(given map[string]int64) limit.Budget {
	return machineBudget(procfs.System{}, mayRaise(), given)
}

func machineBudget(sys procfs.System, mayRaise bool, given map[string]int64) limit.Budget {
	var b limit.Budget
	add := func(name string, n int64, detail string) {
		if _, ok := given[name]; !ok {
			b = append(b, report.LimitBudget{Name: name, Connections: max(n, 0), Detail: detail})
		}
	}
	if kb, err := sys.MemAvailableKB(); err == nil {
		add(budgetMemory, (kb<<10)/memPerConnEstimate, fmt.Sprintf("MemAvailable %d MiB at %d KiB per connection for k6, target and kernel",
			kb>>10, memPerConnEstimate>>10))
	}
	// Each source address has the ephemeral port range to one target; the
	// plan puts up to addrPorts connections on an address, so a range
	// narrower than that is what one address, and a small run, can hold.
	if r, err := sys.SysctlFields(portRange); err == nil && len(r) == 2 {
		if n := r[1] - r[0] + 1; n < addrPorts {
			add(budgetPorts, n, fmt.Sprintf("%s %d-%d for one source address", portRange, r[0], r[1]))
		}
	}
	if !mayRaise {
		if ctMax, err := sys.Sysctl(conntrackMax); err == nil {
			inUse, _ := sys.Sysctl(conntrackCount)
			add(budgetConntrack, ctMax-inUse-10000, fmt.Sprintf("%s %d, %d in use, 10,000 kept for the rest (raising it needs root)",
				conntrackMax, ctMax, inUse))
		}
		if fMax, err := sys.Sysctl(fileMax); err == nil {
			open, _ := sys.Sysctl(fileNr)
			add(budgetOpenFiles, (fMax-open-50000)/2, fmt.Sprintf("%s %d, %d open, two per loopback connection (raising it needs root)",
				fileMax, fMax, open))
		}
	}
	for _, name := range BudgetNames {
		if n, ok := given[name]; ok {
			b = append(b, report.LimitBudget{Name: name, Connections: n, Detail: "given with --lg-budget"})
		}
	}
	return b
}
