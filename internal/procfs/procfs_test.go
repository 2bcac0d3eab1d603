package procfs

import (
	"os"
	"strings"
	"testing"
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
