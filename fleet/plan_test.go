package fleet

import (
	"math/big"
	"strings"
	"testing"
)

func TestPlanTilesAndFits(t *testing.T) {
	limit := PerProcessLimit(20000)
	cases := []struct {
		name      string
		cfg       PlanConfig
		wantParts int
	}{
		{"one process", PlanConfig{Connections: 5000, PerProcess: limit}, 1},
		{"exactly one process (make bench's default)", PlanConfig{Connections: limit, PerProcess: limit}, 1},
		{"just over one process", PlanConfig{Connections: limit + 1, PerProcess: limit}, 2},
		{"200k on this machine", PlanConfig{Connections: 200000, PerProcess: limit}, 11},
		{"a million", PlanConfig{Connections: 1000000, PerProcess: limit}, 53},
		{"uneven split", PlanConfig{Connections: 1001, Parts: 7, Servers: 3, PerProcess: limit}, 7},
		{"as many parts as connections", PlanConfig{Connections: 5, Parts: 5, PerProcess: limit}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPlan(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Parts) != tc.wantParts {
				t.Fatalf("%d parts, want %d", len(p.Parts), tc.wantParts)
			}
			// Segments tile [0,1]: start at 0, each starts where the previous
			// ended, the last ends at 1; the sequence lists the same bounds.
			prev := new(big.Rat)
			bounds := []string{"0"}
			var sum int64
			addrs := map[string]int{}
			for i, part := range p.Parts {
				from, to, ok := strings.Cut(part.Segment, ":")
				if !ok {
					t.Fatalf("part %d segment %q has no ':'", i, part.Segment)
				}
				f, okF := new(big.Rat).SetString(from)
				e, okT := new(big.Rat).SetString(to)
				if !okF || !okT || f.Cmp(prev) != 0 || e.Cmp(f) <= 0 {
					t.Fatalf("part %d segment %s does not continue from %s", i, part.Segment, prev.RatString())
				}
				prev = e
				bounds = append(bounds, to)
				if part.Connections > tc.cfg.PerProcess || part.Connections < 1 {
					t.Errorf("part %d holds %d connections, limit %d", i, part.Connections, tc.cfg.PerProcess)
				}
				sum += part.Connections
				for _, a := range part.LocalAddrs {
					if other, dup := addrs[a]; dup {
						t.Errorf("source address %s given to parts %d and %d", a, other, i)
					}
					addrs[a] = i
					if a == "127.0.0.1" {
						t.Errorf("part %d uses the servers' address 127.0.0.1", i)
					}
				}
				if int64(len(part.LocalAddrs))*addrPorts < part.Connections {
					t.Errorf("part %d: %d addresses for %d connections", i, len(part.LocalAddrs), part.Connections)
				}
			}
			if prev.Cmp(big.NewRat(1, 1)) != 0 {
				t.Fatalf("segments end at %s, want 1", prev.RatString())
			}
			if got := strings.Join(bounds, ","); got != p.Sequence {
				t.Errorf("sequence %q, segments give %q", p.Sequence, got)
			}
			if sum != tc.cfg.Connections {
				t.Errorf("parts sum to %d, want %d", sum, tc.cfg.Connections)
			}
			for _, s := range p.Servers {
				if s.MaxConns > tc.cfg.PerProcess {
					t.Errorf("server %d allows %d connections, over the limit %d", s.Index, s.MaxConns, tc.cfg.PerProcess)
				}
			}
			// Round-robin over the servers: a server's worst case must fit.
			worst := ceilDiv(tc.cfg.Connections, int64(len(p.Servers))) + int64(len(p.Parts))
			if worst > tc.cfg.PerProcess {
				t.Errorf("a server may get %d connections, over %d", worst, tc.cfg.PerProcess)
			}
		})
	}
}

// Across hosts the servers are named by the inventory: a host name or an
// IPv6 address must reach the URLs and --listen values as given.
func TestPlanKeepsTheServerHost(t *testing.T) {
	for host, want := range map[string]string{
		"bench-srv1": "bench-srv1:9000",
		"10.0.0.7":   "10.0.0.7:9000",
		"::1":        "[::1]:9000",
	} {
		p, err := NewPlan(PlanConfig{Connections: 10, PerProcess: 100, ServerHost: host, BasePort: 9000})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Servers[0].Listen; got != want {
			t.Errorf("host %q: listen %q, want %q", host, got, want)
		}
		if got := p.Parts[0].URLs[0]; got != "ws://"+want+"/ws?topic=Track" {
			t.Errorf("host %q: url %q", host, got)
		}
	}
}

func TestPlanRejectsWhatCannotWork(t *testing.T) {
	limit := PerProcessLimit(20000)
	cases := []struct {
		name string
		cfg  PlanConfig
		want string
	}{
		{"no connections", PlanConfig{PerProcess: limit}, "connections must be at least 1"},
		{"too few parts", PlanConfig{Connections: 200000, Parts: 5, PerProcess: limit}, "use --parts 11 or more"},
		{"too few servers", PlanConfig{Connections: 200000, Servers: 2, PerProcess: limit}, "use --servers"},
		{"more parts than connections", PlanConfig{Connections: 3, Parts: 4, PerProcess: limit}, "use --parts 3 or fewer"},
		{"ports past 65535", PlanConfig{Connections: 10, Servers: 3, BasePort: 65534, PerProcess: limit}, "lower --base-port"},
		{"bad path", PlanConfig{Connections: 10, Path: "ws", PerProcess: limit}, "must start with '/'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Scale and Start must agree with k6's arithmetic: consecutive segments'
// shares add up to the next segment's start, for awkward totals too.
func TestSegmentScaleAndStart(t *testing.T) {
	for _, parts := range []int{1, 2, 3, 7, 11, 53} {
		for _, total := range []int64{1, 2, 10, 999, 200000, 1000003} {
			if int64(parts) > total {
				continue
			}
			var next int64
			for i, s := range Segments(parts) {
				if got := s.Start(total); got != next {
					t.Fatalf("%d parts of %d: segment %d starts at %d, previous shares end at %d", parts, total, i, got, next)
				}
				next += s.Scale(total)
			}
			if next != total {
				t.Fatalf("%d parts of %d: shares sum to %d", parts, total, next)
			}
		}
	}
	// Known values of k6's ExecutionSegment.Scale (round half up).
	seg := Segment{From: big.NewRat(1, 3), To: big.NewRat(2, 3)}
	if got := seg.Scale(10); got != 4 { // round(20/3 - round(10/3)) = round(3.67)
		t.Errorf("1/3:2/3 of 10 = %d, want 4", got)
	}
	if s := (Segment{From: big.NewRat(0, 1), To: big.NewRat(1, 2)}).Scale(5); s != 3 {
		t.Errorf("0:1/2 of 5 = %d, want 3 (k6 rounds half up)", s)
	}
}

func TestPerProcessLimit(t *testing.T) {
	cases := []struct {
		nofile uint64
		want   int64
	}{{20000, 19000}, {1024, 512}, {1 << 20, 1<<20 - 1000}}
	for _, tc := range cases {
		if got := PerProcessLimit(tc.nofile); got != tc.want {
			t.Errorf("PerProcessLimit(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
}
