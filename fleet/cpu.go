package fleet

import (
	"os"
	"time"

	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/internal/procfs"
)

// cpuSnapshot is the CPU the run's processes and the machine have used so
// far, and what the servers counted, at one moment: the difference of two
// is a report.CPUWindow.
type cpuSnapshot struct {
	at      time.Time
	open    int64  // connections the servers hold
	sent    uint64 // messages the servers queued to subscribers, summed
	stale   bool   // some server did not answer: its last counts are in open and sent
	servers time.Duration
	k6      time.Duration
	runner  time.Duration // this process: the fleet runner itself
	pg      time.Duration // -1: not ours to measure
	machine procfs.MachineCPU
	noProc  bool // /proc/stat could not be read
}

// takeCPUSnapshot reads the CPU of the given processes and the machine now;
// pg is the postmaster first, then its children.
func takeCPUSnapshot(sys procfs.System, open int64, sent uint64, stale bool, servers, k6, pg []int, pgOurs bool) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), open: open, sent: sent, stale: stale,
		servers: procfs.TotalCPUTime(servers), k6: procfs.TotalCPUTime(k6), pg: -1,
		runner: procfs.TotalCPUTime([]int{os.Getpid()})}
	if pgOurs {
		s.pg = procfs.TotalCPUTime(pg)
		// Backends that ended count through the postmaster, which reaps them.
		if len(pg) > 0 {
			if reaped, err := procfs.ReapedChildrenCPU(pg[0]); err == nil {
				s.pg += reaped
			}
		}
	}
	m, err := sys.MachineCPU()
	s.machine, s.noProc = m, err != nil
	return s
}

// cpuWindow is what happened between two snapshots. k6 processes that had
// not started at a (the connect phase's start) count from 0, which is
// right: they had used nothing.
func cpuWindow(a, b cpuSnapshot, connections int64, withDeliveries bool) *report.CPUWindow {
	w := &report.CPUWindow{
		Seconds:     b.at.Sub(a.at).Seconds(),
		Connections: connections,
		ServersCPU:  (b.servers - a.servers).Seconds(),
		K6CPU:       (b.k6 - a.k6).Seconds(),
		RunnerCPU:   (b.runner - a.runner).Seconds(),
		PostgresCPU: -1,
		MachineBusy: -1,
		Stale:       a.stale || b.stale,
	}
	if a.pg >= 0 && b.pg >= 0 {
		w.PostgresCPU = (b.pg - a.pg).Seconds()
	}
	if !a.noProc && !b.noProc {
		w.MachineBusy = (b.machine.Busy - a.machine.Busy).Seconds()
		w.MachineIdle = (b.machine.Idle - a.machine.Idle).Seconds()
	}
	if withDeliveries && b.sent >= a.sent {
		w.Deliveries = int64(b.sent - a.sent)
		w.DeliveriesFrom = "messages the servers queued to subscribers: their /healthz messages_sent, the counter behind massconn_messages_sent_total"
	}
	return w
}

// cpuPhases follows the run's progress samples and keeps the snapshots
// that bound its two CPU windows: the connect phase (parts started until
// every connection was open, or the last gain when connecting stalled)
// and the hold window (from when the hold was settled to the last sample
// with every connection still open).
type cpuPhases struct {
	total int64
	// deliveriesFrom, when set, replaces what the hold window's
	// deliveries are said to come from (a target's are estimated).
	deliveriesFrom string

	start      *cpuSnapshot // before the parts started
	lastGain   *cpuSnapshot // the latest sample with more connections open than before
	connectEnd *cpuSnapshot
	holdStart  *cpuSnapshot
	holdEnd    *cpuSnapshot
	holdOver   bool
	best       int64
}

// observe takes one progress sample. settled says the hold has been on
// for long enough to start the hold window (watchProgress's memory
// snapshot moment).
func (p *cpuPhases) observe(s cpuSnapshot, settled bool) {
	allOpen := s.open >= p.total && !s.stale
	if s.open > p.best {
		p.best = s.open
		p.lastGain = &s
	}
	if allOpen && p.connectEnd == nil {
		p.connectEnd = &s
	}
	switch {
	case p.holdOver:
	case p.holdStart == nil:
		if settled && allOpen {
			p.holdStart = &s
		}
	case allOpen:
		p.holdEnd = &s
	case s.open < p.total:
		p.holdOver = true // the first connections closed: the hold is over
	}
}

// windows are the report's CPU windows, nil where the run did not get
// that far.
func (p *cpuPhases) windows() (connect, hold *report.CPUWindow) {
	if p.start != nil {
		end := p.connectEnd
		if end == nil {
			end = p.lastGain // connecting stalled (failures): up to the last gain
		}
		if end != nil && end.open > p.start.open {
			connect = cpuWindow(*p.start, *end, end.open-p.start.open, false)
		}
	}
	if p.holdStart != nil && p.holdEnd != nil && p.holdEnd.at.After(p.holdStart.at) {
		hold = cpuWindow(*p.holdStart, *p.holdEnd, p.holdEnd.open, true)
		if p.deliveriesFrom != "" && hold.Deliveries > 0 {
			hold.DeliveriesFrom = p.deliveriesFrom
		}
	}
	return connect, hold
}

// cpuSnapshot is takeCPUSnapshot of this run's servers, k6 processes and
// (when the run started it) PostgreSQL.
func (r *localRun) cpuSnapshot(open int64, sent uint64, stale bool) cpuSnapshot {
	var pg []int
	if pid := r.machine.pgPID; pid > 0 {
		pg = append(pg, pid)
		if kids, err := r.machine.sys.Children(pid); err == nil {
			pg = append(pg, kids...)
		}
	}
	var k6 []int
	if r.parts != nil {
		k6 = r.parts.pids()
	}
	return takeCPUSnapshot(r.machine.sys, open, sent, stale, r.serverPIDs, k6, pg, r.machine.pgPID > 0)
}

// floorResult is the floor with the run's CPU windows.
func (r *localRun) floorResult() *report.Floor {
	if r.floor == nil {
		return nil
	}
	f := *r.floor
	f.Connect, f.Hold = r.cpu.windows()
	return &f
}

// floorFigures is a copy of f with its comparisons against r's figures:
// the fan-out p99 while every connection was open, to the connections held.
// A heartbeat run publishes nothing: a latency its clients happened to
// record (a target's own events) is no fan-out, so it is not compared.
func floorFigures(f *report.Floor, r *report.Report) *report.Floor {
	if f == nil {
		return nil
	}
	out := *f
	out.AgainstTarget = r.Target != nil
	p99, burst := 0.0, r.P99PerSecondMaxMs
	if r.Latency != nil {
		p99 = r.Latency.P99
	}
	if r.Heartbeat != nil {
		p99, burst = 0, 0
	}
	out.Compute(p99, r.Connections.PeakOpen)
	out.AddBurst(burst, r.Connections.PeakOpen)
	return &out
}
