package fleet

import (
	"fmt"
	"sync"

	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/procfs"
)

// machineSampler keeps the machine's memory by component at the moment it
// used the most, and the peak of the connection-tracking table: the
// figures that say which limit a large run ran into.
type machineSampler struct {
	sys   procfs.System
	pgPID int // 0: the database is not ours to measure

	mu   sync.Mutex
	peak report.MachineMemory
	have bool
}

func (m *machineSampler) sample(open int64, k6, servers []int) {
	var cur report.MachineMemory
	cur.Open = open
	cur.K6RSS = rssBytes(k6)
	cur.ServerRSS = rssBytes(servers)
	cur.PostgresPSS = -1
	if m.pgPID > 0 {
		pids := []int{m.pgPID}
		if kids, err := m.sys.Children(m.pgPID); err == nil {
			pids = append(pids, kids...)
		}
		cur.PostgresPSS = 0
		for _, pid := range pids {
			if kb, err := m.sys.PssKB(pid); err == nil {
				cur.PostgresPSS += kb << 10
			}
		}
	}
	if st, err := m.sys.TCPSockstat(); err == nil {
		cur.KernelTCP = st.MemPages * 4096
		cur.TCPInUse = st.InUse
	}
	total, errT := m.sys.MemTotalKB()
	avail, errA := m.sys.MemAvailableKB()
	if errT == nil && errA == nil {
		cur.Total, cur.Used = total<<10, (total-avail)<<10
	}
	ct, _ := m.sys.Sysctl(conntrackCount)
	ctMax, _ := m.sys.Sysctl(conntrackMax)
	m.mu.Lock()
	defer m.mu.Unlock()
	peakCT := max(m.peak.ConntrackPeak, ct)
	if !m.have || cur.Used > m.peak.Used {
		m.peak, m.have = cur, true
	}
	m.peak.ConntrackPeak, m.peak.ConntrackMax = peakCT, ctMax
}

func (m *machineSampler) result() *report.MachineMemory {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.have {
		return nil
	}
	p := m.peak
	return &p
}

// limitProblems names the kernel limits the run ran into.
func (m *machineSampler) limitProblems() []string {
	r := m.result()
	if r == nil || r.ConntrackMax == 0 || float64(r.ConntrackPeak) < 0.98*float64(r.ConntrackMax) {
		return nil
	}
	return []string{fmt.Sprintf("the kernel's connection-tracking table was full (nf_conntrack_count reached %d of net.netfilter.nf_conntrack_max %d): "+
		"new connections were dropped silently; raise it with sysctl -w net.netfilter.nf_conntrack_max=N", r.ConntrackPeak, r.ConntrackMax)}
}

func rssBytes(pids []int) int64 { return procfs.TotalVmRSS(pids) << 10 }

// conntrack is the latest connection-tracking count and limit.
func (m *machineSampler) conntrack() (int64, int64) {
	ct, _ := m.sys.Sysctl(conntrackCount)
	ctMax, _ := m.sys.Sysctl(conntrackMax)
	return ct, ctMax
}
