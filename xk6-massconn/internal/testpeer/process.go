// Package testpeer holds what the engine's and the k6-level tests need
// to run real peers: one launcher for helper processes (the npm ws peer,
// the protocol peers, openssl s_server), the npm ws peer itself, and one
// self-signed certificate maker.
package testpeer

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds how long a peer may take to say it is ready (node
// on a loaded machine): it only keeps a broken peer from hanging the run.
const startTimeout = 30 * time.Second

// Process is a running helper process. Its stdin stays open for the
// test's lifetime: the node peers exit when it closes.
type Process struct {
	Stdin  io.WriteCloser
	Stdout io.Reader
}

// Run starts cmd with stdin and stdout piped and stderr on the test's
// stderr. When the test ends stdin is closed, the process killed (in case
// it ignores that) and waited for, which also ends any reader of Stdout.
func Run(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &Process{Stdin: stdin, Stdout: stdout}
}

// Lines reads Stdout line by line into the returned channel, which closes
// when the process's output ends. Call it at most once.
func (p *Process) Lines() <-chan string {
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(p.Stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// NextLine returns the next line of lines; what names the peer in the
// failure when it exits or stays silent.
func NextLine(t testing.TB, lines <-chan string, what string) string {
	t.Helper()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("%s exited", what)
		}
		return line
	case <-time.After(startTimeout):
		t.Fatalf("%s said nothing within %v", what, startTimeout)
	}
	return ""
}

// ListeningPort waits for the "listening PORT" line every node peer of
// this project prints once it accepts connections, and returns PORT.
func ListeningPort(t testing.TB, lines <-chan string, what string) string {
	t.Helper()
	line := NextLine(t, lines, what)
	port, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		t.Fatalf("%s said %q, want listening PORT", what, line)
	}
	return port
}
