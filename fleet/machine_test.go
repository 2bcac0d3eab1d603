package fleet

import (
	"os"
	"strings"
	"testing"

	"github.com/massconn/massconn/internal/pgtest"
)

// The sampler measures a real PostgreSQL cluster (postmaster and its
// backends, proportionally) and this process.
func TestMachineSamplerMeasuresPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	pid, err := pg.PID()
	if err != nil {
		t.Fatal(err)
	}
	m := &machineSampler{pgPID: pid}
	m.sample(7, []int{os.Getpid()}, nil)
	r := m.result()
	if r == nil || r.PostgresPSS <= 0 || r.K6RSS <= 0 || r.Open != 7 || r.Total <= 0 || r.Used <= 0 {
		t.Fatalf("%+v: want PostgreSQL, this process and the machine measured", r)
	}
}

func TestLimitProblemsNameConntrack(t *testing.T) {
	sys := fakeProc(t, map[string]string{
		"sys/net/netfilter/nf_conntrack_max":   "262144\n",
		"sys/net/netfilter/nf_conntrack_count": "262144\n",
		"meminfo":                              "MemTotal: 100 kB\nMemAvailable: 50 kB\n",
	})
	m := &machineSampler{sys: sys}
	m.sample(262000, nil, nil)
	p := strings.Join(m.limitProblems(), "; ")
	if !strings.Contains(p, "connection-tracking table was full") || !strings.Contains(p, "nf_conntrack_max 262144") {
		t.Fatalf("problems %q do not name the full conntrack table", p)
	}
	sys = fakeProc(t, map[string]string{
		"sys/net/netfilter/nf_conntrack_max":   "4194304\n",
		"sys/net/netfilter/nf_conntrack_count": "262144\n",
		"meminfo":                              "MemTotal: 100 kB\nMemAvailable: 50 kB\n",
	})
	m = &machineSampler{sys: sys}
	m.sample(262000, nil, nil)
	if p := m.limitProblems(); p != nil {
		t.Fatalf("problems %q with room in the table", p)
	}
}
