package launch

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A process that exits while a benchmark waits for it is reported with the
// end of its log, not after the whole timeout.
func TestWaitHealthyReportsAnExitWithItsLog(t *testing.T) {
	p, err := Start(Spec{Name: "dying", Log: filepath.Join(t.TempDir(), "log"), Bin: "sh",
		Args: []string{"-c", "echo cannot bind; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitHealthy(context.Background(), time.Minute, 10*time.Millisecond, func() (bool, error) { return false, nil })
	if err == nil || !strings.Contains(err.Error(), "dying exited during start-up") || !strings.Contains(err.Error(), "cannot bind") {
		t.Fatalf("got %v, want the exit and the log line", err)
	}
}

func TestWaitHealthyNamesTheLastReason(t *testing.T) {
	p, err := Start(Spec{Name: "sleeper", Log: filepath.Join(t.TempDir(), "log"), Bin: "sleep", Args: []string{"30"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(time.Second) }()
	err = p.WaitHealthy(context.Background(), 50*time.Millisecond, 10*time.Millisecond, func() (bool, error) {
		return false, errors.New("listener is reconnecting")
	})
	if err == nil || !strings.Contains(err.Error(), "listener is reconnecting") {
		t.Fatalf("got %v, want the ready function's reason", err)
	}
}

// Stop kills a process that ignores SIGTERM after the grace period, and says so.
func TestStopKillsAfterGrace(t *testing.T) {
	p, err := Start(Spec{Name: "stubborn", Log: filepath.Join(t.TempDir(), "log"), Bin: "sh",
		Args: []string{"-c", "trap '' TERM; echo ready; sleep 30"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHealthy(context.Background(), 10*time.Second, 10*time.Millisecond, func() (bool, error) {
		return strings.Contains(p.Tail(1), "ready"), nil
	}); err != nil {
		t.Fatal(err)
	}
	err = p.Stop(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "ignored SIGTERM") {
		t.Fatalf("got %v, want a report that it was killed", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("process still running after Stop")
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// A peer that exits when its stdin closes is stopped by closing it.
func TestStopClosesStdin(t *testing.T) {
	p, err := Start(Spec{Name: "cat", Log: filepath.Join(t.TempDir(), "log"), Bin: "cat", Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("cat did not exit on stdin close: %v", err)
	}
	if err := p.Wait(context.Background()); err != nil {
		t.Errorf("cat exit: %v", err)
	}
}

func TestLastLines(t *testing.T) {
	if got := LastLines("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("got %q", got)
	}
	if got := LastLines("a", 5); got != "a" {
		t.Errorf("got %q", got)
	}
}
