package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const emfileChildEnv = "MASSCONN_EMFILE_CHILD_URL"

// TestFailureEMFILE lowers RLIMIT_NOFILE in a child process (a re-run of
// this test binary) after the capacity check passed, so that socket() fails
// with EMFILE, and checks the child counted the emfile reason.
func TestFailureEMFILE(t *testing.T) {
	if url := os.Getenv(emfileChildEnv); url != "" {
		emfileChild(t, url)
		return
	}
	srv := startGWSServer(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailureEMFILE$", "-test.v")
	cmd.Env = append(os.Environ(), emfileChildEnv+"="+srv.url("/echo"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "emfile counted") {
		t.Fatalf("child did not report emfile:\n%s", out)
	}
}

func emfileChild(t *testing.T, url string) {
	// Start the event loops (they need descriptors of their own) with one
	// ordinary connection.
	warm := dial(t, Config{URLs: []string{url}, Connections: 1})
	if err := warm.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	const n = 10
	p, err := Dial(context.Background(), Config{URLs: []string{url}, Connections: n, Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	// Dial has passed the capacity check; now leave room for two sockets.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(openFiles() + 2)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleWithin)
	defer cancel()
	werr := p.Wait(ctx)
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	if werr != nil {
		t.Fatal(werr)
	}
	st := p.Stats()
	_ = p.Close(time.Second)
	if st.Failures[ReasonTooManyFiles] == 0 || st.Failures[ReasonTooManyFiles] != st.Failed {
		t.Fatalf("stats %+v: want only emfile failures", st)
	}
	fmt.Printf("emfile counted: %d of %d\n", st.Failures[ReasonTooManyFiles], n)
}
