package fleet

import (
	"strings"
	"testing"

	"github.com/massconn/massconn/fleet/report"
)

func budgetByName(b []report.LimitBudget) map[string]report.LimitBudget {
	m := map[string]report.LimitBudget{}
	for _, l := range b {
		m[l.Name] = l
	}
	return m
}

// TestMachineBudget: the load generator's limits read from /proc as
// connections; a limit root may raise is none, --lg-budget replaces one.
func TestMachineBudget(t *testing.T) {
	sys := fakeProc(t, map[string]string{
		"meminfo":                              "MemTotal: 24000000 kB\nMemAvailable: 2200000 kB\n",
		"sys/net/ipv4/ip_local_port_range":     "40000\t42499\n",
		"sys/net/netfilter/nf_conntrack_max":   "262144\n",
		"sys/net/netfilter/nf_conntrack_count": "2144\n",
		"sys/fs/file-max":                      "2400000\n",
		"sys/fs/file-nr":                       "50000\t0\t2400000\n",
	})
	got := budgetByName(machineBudget(sys, false, nil))
	want := map[string]int64{budgetMemory: 100000, budgetPorts: 2500, budgetConntrack: 250000, budgetOpenFiles: 1150000}
	for name, n := range want {
		if got[name].Connections != n || got[name].Detail == "" {
			t.Errorf("%s: %+v, want %d connections with the figures it came from", name, got[name], n)
		}
	}
	root := budgetByName(machineBudget(sys, true, map[string]int64{budgetMemory: 7}))
	if _, ok := root[budgetConntrack]; ok {
		t.Errorf("conntrack %+v: root raises it, no limit", root[budgetConntrack])
	}
	if _, ok := root[budgetOpenFiles]; ok {
		t.Errorf("open files %+v: root raises fs.file-max, no limit", root[budgetOpenFiles])
	}
	if m := root[budgetMemory]; m.Connections != 7 || !strings.Contains(m.Detail, "--lg-budget") {
		t.Errorf("memory %+v: want the given 7", m)
	}
	// The default range (28,232 ports) is above what the plan puts on one
	// address: ports are no limit then.
	wide := fakeProc(t, map[string]string{"sys/net/ipv4/ip_local_port_range": "32768\t60999\n"})
	if p, ok := budgetByName(machineBudget(wide, true, nil))[budgetPorts]; ok {
		t.Errorf("ports %+v: the default range is no limit", p)
	}
}
