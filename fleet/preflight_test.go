package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/massconn/massconn/internal/procfs"
)

// fakeProc writes a /proc tree with the given files (path -> content).
func fakeProc(t *testing.T, files map[string]string) procfs.System {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return procfs.System{Root: root}
}

func TestPreflight(t *testing.T) {
	const plenty = "MemTotal: 24000000 kB\nMemAvailable: 23000000 kB\n"
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{
			"sys/fs/file-max": "2400000\n",
			"sys/fs/file-nr":  "3000\t0\t2400000\n",
			"meminfo":         plenty,
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	conntrack := map[string]string{
		"sys/net/netfilter/nf_conntrack_buckets": "65536\n",
		"sys/net/netfilter/nf_conntrack_max":     "262144\n",
		"sys/net/netfilter/nf_conntrack_count":   "20000\n",
	}
	cases := []struct {
		name        string
		files       map[string]string
		connections int64
		mayRaise    bool
		wantErr     []string // substrings of the error; nil = no error
		wantChanged string
		wantSysctl  map[string]string // file -> content after the check
	}{
		{name: "netfilter not loaded", files: base(nil), connections: 1_000_000},
		{name: "conntrack large enough", files: base(conntrack), connections: 200_000},
		{
			name: "conntrack too small, not root", files: base(conntrack), connections: 1_000_000,
			wantErr: []string{"net.netfilter.nf_conntrack_max is 262144", "1000000 connections need 1179648",
				"20000 entries in use", "table full, dropping packet", "sysctl -w net.netfilter.nf_conntrack_max=1179648"},
		},
		{
			name: "conntrack too small, root raises it", files: base(conntrack), connections: 1_000_000, mayRaise: true,
			wantChanged: "raised net.netfilter.nf_conntrack_max from 262144 to 1179648",
			wantSysctl: map[string]string{"sys/net/netfilter/nf_conntrack_max": "1179648\n",
				"sys/net/netfilter/nf_conntrack_buckets": "327680\n"},
		},
		{
			name: "file-max too small", files: base(map[string]string{"sys/fs/file-max": "1000000\n"}), connections: 1_000_000,
			wantErr: []string{"fs.file-max is 1000000", "ENFILE", "sysctl -w fs.file-max="},
		},
		{
			name: "memory short", files: base(map[string]string{"meminfo": "MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n"}),
			connections: 1_000_000, wantErr: []string{"memory: 1000000 connections need about 21484 MiB", "MemAvailable is 3906 MiB"},
		},
		{
			name: "two limits at once name both", files: base(map[string]string{"sys/fs/file-max": "100000\n",
				"sys/net/netfilter/nf_conntrack_max": "65536\n"}), connections: 100_000,
			wantErr: []string{"nf_conntrack_max is 65536", "fs.file-max is 100000"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sys := fakeProc(t, tc.files)
			changed, err := Preflight{Connections: tc.connections, System: sys, MayRaise: tc.mayRaise}.Check()
			if tc.wantErr == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, want := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v does not say %q", err, want)
				}
			}
			if tc.wantChanged != "" && !strings.Contains(strings.Join(changed, "\n"), tc.wantChanged) {
				t.Errorf("changed %q, want %q", changed, tc.wantChanged)
			}
			for file, want := range tc.wantSysctl {
				got, err := os.ReadFile(filepath.Join(sys.Root, file))
				if err != nil || string(got) != want {
					t.Errorf("%s = %q (%v), want %q", file, got, err, want)
				}
			}
		})
	}
}

func TestDBBudget(t *testing.T) {
	cases := []struct {
		name                     string
		maxConns, reserved, used int64
		servers                  int
		wantErr                  []string
	}{
		{name: "default cluster, 11 servers", maxConns: 100, reserved: 3, used: 1, servers: 11},
		{name: "default cluster, 53 servers", maxConns: 100, reserved: 3, used: 1, servers: 53,
			wantErr: []string{"max_connections is 100", "53 server processes need at least 106", "max_connections >= 120 (better 491)"}},
		{name: "sized for 53", maxConns: int64(DBConnections(53)) + 4, reserved: 3, used: 1, servers: 53},
		{name: "busy database", maxConns: 200, reserved: 3, used: 170, servers: 11,
			wantErr: []string{"170 in use", "fewer --servers"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkDBBudget(tc.maxConns, tc.reserved, tc.used, tc.servers)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("unexpected: %v", err)
			}
			for _, want := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v does not say %q", err, want)
				}
			}
		})
	}
}

func TestFleetRate(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		parts int
		want  float64
	}{{-1, 1, 0}, {-1, 53, AutoRate}, {0, 53, 0}, {2500, 11, 2500}} {
		if got := fleetRate(tc.rate, tc.parts); got != tc.want {
			t.Errorf("fleetRate(%v, %d) = %v, want %v", tc.rate, tc.parts, got, tc.want)
		}
	}
}
