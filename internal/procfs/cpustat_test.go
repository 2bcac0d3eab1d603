package procfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMachineCPUFromAFakeStat(t *testing.T) {
	root := t.TempDir()
	stat := "cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 50 2 25 500 10 1 3 1 0 0\nintr 1 2 3\n"
	if err := os.WriteFile(filepath.Join(root, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := System{Root: root}.MachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	// busy = user 100 + nice 5 + system 50 + irq 3 + softirq 7 + steal 2 = 167 ticks
	if want := 1670 * time.Millisecond; got.Busy != want {
		t.Errorf("busy %v, want %v", got.Busy, want)
	}
	if want := 10200 * time.Millisecond; got.Idle != want {
		t.Errorf("idle %v, want %v", got.Idle, want)
	}
	for _, bad := range []string{"cpu  1 2 3\n", "cpu0 1 2 3 4 5 6 7 8\n", "cpu  1 2 x 4 5 6 7 8\n"} {
		if _, err := parseMachineCPU(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMachineCPUOfThisMachine(t *testing.T) {
	c, err := System{}.MachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	if c.Busy <= 0 || c.Idle <= 0 {
		t.Fatalf("machine CPU %+v: a running machine has both", c)
	}
	if own := TotalCPUTime([]int{os.Getpid(), 1 << 30}); own < 0 {
		t.Fatalf("own CPU %v", own)
	}
}

func TestParseStatReapedChildren(t *testing.T) {
	stat := []byte("1234 (postgres) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 30 12 20 0 8 0 100 1000 200")
	got, err := parseStatTicks(stat, 13, 15)
	if err != nil {
		t.Fatal(err)
	}
	if got != 420*time.Millisecond {
		t.Fatalf("cutime 30 + cstime 12 ticks: got %v, want 420ms", got)
	}
	if _, err := parseStatTicks([]byte("1 (x) S 1 2 3"), 13, 15); err == nil {
		t.Fatal("a short stat line was accepted")
	}
	if _, err := ReapedChildrenCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
