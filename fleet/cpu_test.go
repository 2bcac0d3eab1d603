package fleet

import (
	"os"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/procfs"
)

func snap(at time.Duration, open int64, sent uint64, servers, k6 time.Duration) cpuSnapshot {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return cpuSnapshot{at: t0.Add(at), open: open, sent: sent, servers: servers, k6: k6, pg: at / 100,
		machine: procfs.MachineCPU{Busy: at, Idle: at}}
}

// The windows follow the run: connect from the parts' start to the first
// sample with all open, hold from the settled sample to the last one with
// all still open, whatever comes after the first close.
func TestCPUPhasesBoundTheWindows(t *testing.T) {
	p := cpuPhases{total: 100}
	start := snap(0, 0, 0, 0, 0)
	p.start = &start
	s := time.Second
	p.observe(snap(2*s, 40, 0, 100*time.Millisecond, 200*time.Millisecond), false)
	p.observe(snap(4*s, 100, 0, 300*time.Millisecond, 500*time.Millisecond), false)    // all open: connect ends
	p.observe(snap(10*s, 100, 500, 350*time.Millisecond, 520*time.Millisecond), true)  // settled: hold starts
	p.observe(snap(12*s, 100, 700, 360*time.Millisecond, 530*time.Millisecond), true)  //
	p.observe(snap(20*s, 100, 1500, 450*time.Millisecond, 600*time.Millisecond), true) // last with all open
	p.observe(snap(22*s, 60, 1600, 900*time.Millisecond, 900*time.Millisecond), true)  // closing
	p.observe(snap(24*s, 100, 1700, time.Second, time.Second), true)                   // not a hold again
	connect, hold := p.windows()
	if connect == nil || hold == nil {
		t.Fatalf("windows %+v %+v", connect, hold)
	}
	if connect.Seconds != 4 || connect.Connections != 100 || connect.ServersCPU != 0.3 || connect.K6CPU != 0.5 || connect.Deliveries != 0 {
		t.Errorf("connect window %+v", connect)
	}
	if hold.Seconds != 10 || hold.Connections != 100 || hold.Deliveries != 1000 || !near(hold.ServersCPU, 0.1) || !near(hold.K6CPU, 0.08) ||
		hold.MachineBusy != 10 || hold.MachineIdle != 10 || !near(hold.PostgresCPU, 0.1) || hold.DeliveriesFrom == "" {
		t.Errorf("hold window %+v", hold)
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

// A run whose connections never all opened has a connect window up to its
// last gain, and no hold window; unknown PostgreSQL or /proc/stat stay -1.
func TestCPUPhasesWhenConnectingStalls(t *testing.T) {
	p := cpuPhases{total: 100}
	start := snap(0, 0, 0, 0, 0)
	start.pg = -1
	p.start = &start
	s := time.Second
	p.observe(snap(2*s, 50, 0, 100*time.Millisecond, 0), false)
	last := snap(4*s, 90, 0, 200*time.Millisecond, 0)
	last.noProc = true
	p.observe(last, false)
	p.observe(snap(30*s, 90, 0, 900*time.Millisecond, 0), true)
	connect, hold := p.windows()
	if hold != nil {
		t.Errorf("a hold window without all open: %+v", hold)
	}
	if connect == nil || connect.Seconds != 4 || connect.Connections != 90 || connect.PostgresCPU != -1 || connect.MachineBusy != -1 {
		t.Errorf("connect window %+v", connect)
	}
}

// A stale server count (one did not answer) is said in the window.
func TestCPUPhasesStaleCounts(t *testing.T) {
	p := cpuPhases{total: 10}
	a := snap(0, 10, 0, 0, 0)
	p.observe(a, true)
	b := snap(2*time.Second, 10, 5, 0, 0)
	p.observe(b, true)
	c := snap(4*time.Second, 10, 9, 0, 0)
	c.stale = true
	p.observe(c, true) // stale: not all known open, not an end
	if _, hold := p.windows(); hold == nil || hold.Deliveries != 5 || hold.Stale {
		t.Errorf("hold %+v: want up to the last fresh sample", hold)
	}
}

func TestTakeCPUSnapshotOfThisProcess(t *testing.T) {
	s := takeCPUSnapshot(procfs.System{}, 3, 7, false, []int{os.Getpid()}, nil, nil, false)
	if s.open != 3 || s.sent != 7 || s.pg != -1 || s.noProc || s.machine.Busy <= 0 {
		t.Errorf("snapshot %+v", s)
	}
}
