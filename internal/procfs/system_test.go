package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSystemFromAFakeTree(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sys/net/ipv4/tcp_mem", "283200\t377600\t566400\n")
	write("net/sockstat", "sockets: used 36\nTCP: inuse 5 orphan 0 tw 20904 alloc 7 mem 276\nUDP: inuse 0 mem 0\n")
	write("meminfo", "MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   22000000 kB\n")
	write("42/smaps_rollup", "00400000-7fff [rollup]\nRss:  1000 kB\nPss:   321 kB\n")
	s := System{Root: root}
	if v, err := s.SysctlFields("net.ipv4.tcp_mem"); err != nil || len(v) != 3 || v[2] != 566400 {
		t.Errorf("tcp_mem %v %v", v, err)
	}
	if _, err := s.Sysctl("net.netfilter.nf_conntrack_max"); !errors.Is(err, ErrNoSysctl) {
		t.Errorf("missing sysctl: %v, want ErrNoSysctl", err)
	}
	if err := s.SetSysctl("net.ipv4.tcp_mem", 7); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Sysctl("net.ipv4.tcp_mem"); err != nil || v != 7 {
		t.Errorf("after write: %v %v", v, err)
	}
	if st, err := s.TCPSockstat(); err != nil || st.InUse != 5 || st.TimeWait != 20904 || st.MemPages != 276 || st.Alloc != 7 {
		t.Errorf("sockstat %+v %v", st, err)
	}
	if v, err := s.MemAvailableKB(); err != nil || v != 22000000 {
		t.Errorf("MemAvailable %v %v", v, err)
	}
	if v, err := s.PssKB(42); err != nil || v != 321 {
		t.Errorf("Pss %v %v", v, err)
	}
	write("meminfo", "MemAvailable: lots\n")
	if _, err := s.MemAvailableKB(); err == nil {
		t.Error("a malformed meminfo line was accepted")
	}
}

func TestSystemOfThisMachine(t *testing.T) {
	var s System
	if _, err := s.MemTotalKB(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TCPSockstat(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.PssKB(os.Getpid()); err != nil || v <= 0 {
		t.Fatalf("own Pss %v %v", v, err)
	}
}
