package procfs

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	cases := []struct {
		name    string
		status  string
		want    int64
		wantErr string
	}{
		{"normal", "Name:\tk6\nVmPeak:\t  99 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n", 12345, ""},
		{"server", "Name:\tmassconn-server\nVmPeak:\t  200000 kB\nVmRSS:\t  123612 kB\nThreads:\t7\n", 123612, ""},
		{"kernel thread", "Name:\tkthreadd\nThreads:\t1\n", 0, "no VmRSS"},
		{"odd unit", "VmRSS:\t 12 MB\n", 0, "unexpected VmRSS"},
		{"not a number", "VmRSS:\t x kB\n", 0, "VmRSS value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tc.status))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestVmRSSOfThisProcess(t *testing.T) {
	kib, err := VmRSS(os.Getpid())
	if err != nil || kib <= 0 {
		t.Fatalf("VmRSS(self) = %d, %v", kib, err)
	}
}

// A pid that is gone adds nothing: the sum over this process and one that
// has exited is this process's RSS.
func TestTotalVmRSSSkipsGoneProcesses(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	self, err := VmRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	total := TotalVmRSS([]int{os.Getpid(), gone.Process.Pid})
	// Our own RSS moves between the two reads: allow a few MiB either way.
	if total <= 0 || total < self-4096 || total > self+4096 {
		t.Fatalf("TotalVmRSS(self, gone) = %d KiB, self alone %d KiB", total, self)
	}
	if n := TotalVmRSS(nil); n != 0 {
		t.Fatalf("TotalVmRSS(nil) = %d", n)
	}
}

func TestParseLimits(t *testing.T) {
	limits := `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
`
	got, err := parseLimits(strings.NewReader(limits))
	if err != nil || got != 20000 {
		t.Fatalf("open files = %d, %v", got, err)
	}
	if _, err := parseLimits(strings.NewReader("Limit Soft\n")); err == nil {
		t.Error("no open-files line: no error")
	}
}

// /proc/self/limits and getrlimit must agree about this process.
func TestOpenFileLimitOfThisProcess(t *testing.T) {
	own, err := OpenFileLimit(0)
	if err != nil {
		t.Fatal(err)
	}
	viaProc, err := OpenFileLimit(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if own != viaProc {
		t.Fatalf("getrlimit says %d, /proc/%d/limits says %d", own, os.Getpid(), viaProc)
	}
}

func TestParseStatCPU(t *testing.T) {
	stat := []byte("1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 1000 200 18446744073709551615")
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3250*time.Millisecond {
		t.Fatalf("utime 250 + stime 75 ticks: got %v, want 3.25s", got)
	}
	if _, err := parseStatCPU([]byte("1234 no parens")); err == nil {
		t.Fatal("stat without (comm) accepted")
	}
}

func TestCPUTimeOfSelf(t *testing.T) {
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
