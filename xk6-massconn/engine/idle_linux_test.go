//go:build linux

package engine

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// loopGoroutineStates returns the scheduler state of every loop
// goroutine, as the runtime's goroutine dump shows it ("IO wait",
// "syscall", "runnable", ...).
func loopGoroutineStates() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var states []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if !bytes.Contains(g, []byte("engine.(*loop).run(")) {
			continue
		}
		head, _, _ := strings.Cut(string(g), "\n")
		// "goroutine 7 [IO wait, 2 minutes, locked to thread]:"
		if _, state, ok := strings.Cut(head, "["); ok {
			state, _, _ = strings.Cut(state, "]")
			state, _, _ = strings.Cut(state, ",")
			states = append(states, state)
		}
	}
	return states
}

// An idle loop waits as a parked goroutine in Go's network poller, not in
// a blocking epoll_wait: a goroutine in a syscall holds its P, and sysmon
// keeps waking every 20 µs to take it back, the larger part of an idle k6
// process's CPU.
func TestIdleLoopWaitsInThePoller(t *testing.T) {
	srv := startGWSServer(t)
	p := dial(t, Config{URLs: []string{srv.url("/echo")}, Connections: 4, OnOpenSend: "hello"})
	eventually(t, "the greetings to be echoed", func() bool { return p.Stats().Received == 4 })
	var states []string
	// A loop may be between waits at any one look; idle, it is parked
	// nearly all the time.
	for range 100 {
		states = loopGoroutineStates()
		parked := len(states) > 0
		for _, s := range states {
			parked = parked && s == "IO wait"
		}
		if parked {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range states {
		if s != "IO wait" {
			t.Errorf("an idle loop goroutine is in state %q, want %q: it waits in a blocking syscall", s, "IO wait")
		}
	}
	if len(states) == 0 {
		t.Fatal("no loop goroutine in the goroutine dump")
	}
	if err := p.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
