// Package launch starts the child processes of the fleet and the benchmark
// commands (servers, insert loops, echo peers, k6) with their output in a
// log file, waits for them to become healthy and stops them: SIGTERM, a
// grace period (a server gives its clients their close 1001), then SIGKILL.
package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Spec is what to start.
type Spec struct {
	Name string // for messages: "massconn-server", "nodews", ...
	Log  string // file for its stdout and stderr
	// Out, when set instead of Log, receives its stdout and stderr.
	Out  io.Writer
	Bin  string   // program
	Args []string // its arguments
	Env  []string // added to this process's environment
	Dir  string   // working directory; "" = this process's
	// Stdin keeps a pipe open to the process's stdin, for peers that exit
	// when it closes (CloseStdin or Stop).
	Stdin bool
}

// Proc is one started child process.
type Proc struct {
	Name   string // Spec.Name
	Log    string // Spec.Log
	cmd    *exec.Cmd
	stdin  io.WriteCloser // nil unless Spec.Stdin
	exited chan struct{}  // closed once the process has been reaped
	err    error          // its exit status, valid once exited is closed
}

// Start starts the process described by s.
func Start(s Spec) (*Proc, error) {
	var f io.WriteCloser = nopCloser{s.Out}
	if s.Out == nil {
		var err error
		if f, err = os.Create(s.Log); err != nil {
			return nil, fmt.Errorf("%s log: %w", s.Name, err)
		}
	}
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	var err error
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Dir = s.Dir
	p := &Proc{Name: s.Name, Log: s.Log, cmd: cmd, exited: make(chan struct{})}
	if s.Stdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s stdin: %w", s.Name, err)
		}
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

// CloseStdin closes the pipe to the process's stdin (Spec.Stdin).
func (p *Proc) CloseStdin() {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
}

// CPU is the user+system CPU time of the process once it has exited (from
// its rusage, exact), 0 before.
func (p *Proc) CPU() time.Duration {
	select {
	case <-p.exited:
	default:
		return 0
	}
	if p.cmd.ProcessState == nil {
		return 0
	}
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}

// Signal sends sig to the process if it still runs.
func (p *Proc) Signal(sig os.Signal) {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// PID is the process id, for /proc readings.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Wait waits for the process to exit by itself and returns its status.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
		if p.err != nil {
			return fmt.Errorf("%s: %w", p.Name, p.err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", p.Name, ctx.Err())
	}
}

// WaitHealthy polls ready every interval until it answers true, the
// process exits (an error with the end of its log) or timeout passes (an
// error naming the last reason ready gave).
func (p *Proc) WaitHealthy(ctx context.Context, timeout, interval time.Duration, ready func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := ready()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			why := "not ready"
			if err != nil {
				why = err.Error()
			}
			return fmt.Errorf("%s not healthy after %v (%s); end of %s:\n%s", p.Name, timeout, why, p.Log, p.Tail(20))
		}
		select {
		case <-p.exited:
			status := p.err
			if status == nil {
				status = errors.New("exit status 0")
			}
			return fmt.Errorf("%s exited during start-up (%w); end of %s:\n%s", p.Name, status, p.Log, p.Tail(20))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", p.Name, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// Stop closes the process's stdin (Spec.Stdin) and waits up to half of
// grace for it to exit, then sends SIGTERM, waits up to grace, then kills. It returns an error
// only when the process had to be killed; safe to call on a nil Proc and
// on one that has exited.
func (p *Proc) Stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	if p.stdin != nil {
		// A peer that exits when its stdin closes gets to do so first.
		p.CloseStdin()
		select {
		case <-p.exited:
			return nil
		case <-time.After(grace / 2):
		}
	}
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.Name, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v; killed it", p.Name, p.PID(), grace)
}

// Tail is the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	return LastLines(string(b), n)
}

// LastLines is the last n lines of s.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
