//go:build linux

package engine

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A signal that interrupts a loop's epoll_wait (the Go runtime sends its
// preemption signal, SIGURG, to busy threads, and any signal can land on a
// loop's thread) leaves the loop running: epoll_wait then returns -1 with
// EINTR, and the loop must take that as no events.
func TestLoopSurvivesAnInterruptedWait(t *testing.T) {
	loops, err := getLoops()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range loops {
		eventually(t, "the loop's thread id", func() bool { return l.tid.Load() != 0 })
		for range 50 {
			if err := unix.Tgkill(unix.Getpid(), int(l.tid.Load()), unix.SIGURG); err != nil {
				t.Fatalf("tgkill: %v", err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// The loops still serve: a pool connects, echoes and closes.
	srv := startGWSServer(t)
	p := dial(t, Config{URLs: []string{srv.url("/echo")}, Connections: 4, OnOpenSend: "after the signals"})
	eventually(t, "the greetings to be echoed", func() bool { return p.Stats().Received == 4 })
	if err := p.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
