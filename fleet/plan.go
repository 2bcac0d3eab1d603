// Package fleet runs one k6 test as several k6 processes, each holding a
// slice of the connections chosen by k6's --execution-segment, against one
// or more server processes, and merges what the processes wrote into one
// report. The same split serves a single box (many 127.0.0.x source
// addresses, processes below the open-file limit) and many hosts.
package fleet

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
)

// PlanConfig describes the test to split.
type PlanConfig struct {
	Connections int64 // fleet total
	Parts       int   // k6 processes; 0 = fewest that fit PerProcess
	Servers     int   // server processes; 0 = fewest that fit PerProcess

	// PerProcess is the most connections one process may hold: an open file
	// per socket, below RLIMIT_NOFILE with room for everything else.
	PerProcess int64

	ServerHost string // address the servers listen on (default 127.0.0.1)
	BasePort   int    // first server port; server i listens on BasePort+i (default 8080)
	// Transport of the clients' connections: it gives the URLs' scheme
	// and the default Path ("" = TransportWS).
	Transport Transport
	Path      string // URL path and query of the endpoint (default: the transport's, /ws?topic=Track or /sse?topic=Track)

	// AddrsPerPart source addresses per part; 0 = enough that no part needs
	// more than addrPorts ephemeral ports on one address.
	AddrsPerPart int
}

// Plan is the split: which segment each k6 process runs, how many
// connections that gives it, its source addresses and the servers.
type Plan struct {
	Total     int64        `json:"total"`
	Transport Transport    `json:"transport"`
	Sequence  string       `json:"sequence"`
	Parts     []PartPlan   `json:"parts"`
	Servers   []ServerPlan `json:"servers"`
}

// PartPlan is one k6 process of the fleet.
type PartPlan struct {
	Index       int      `json:"index"`
	Segment     string   `json:"segment"`
	Connections int64    `json:"connections"`
	LocalAddrs  []string `json:"local_addrs"`
	URLs        []string `json:"urls"`
}

// ServerPlan is one server process of the fleet.
type ServerPlan struct {
	Index    int    `json:"index"`
	Listen   string `json:"listen"`
	MaxConns int64  `json:"max_conns"`
	// Extra are more flags for this server's serve command (the local
	// runner's --pprof for the profiled one).
	Extra []string `json:"extra_args,omitempty"`
}

// fdHeadroom is what a process keeps for files other than the connections:
// its binary's libraries, logs, the Postgres connection, k6's outputs.
const fdHeadroom = 1000

// addrPorts is how many connections the plan puts on one source address:
// below the 28,232 ephemeral ports (32768-60999) one address has, leaving
// room for sockets still in TIME_WAIT from an earlier run.
const addrPorts = 10000

// PerProcessLimit is the most connections a process may hold under an
// open-file limit of nofile.
func PerProcessLimit(nofile uint64) int64 {
	if nofile <= 2*fdHeadroom {
		return int64(nofile / 2) //nolint:gosec // small by the test above
	}
	return int64(nofile) - fdHeadroom //nolint:gosec // RLIMIT_NOFILE fits int64 in practice
}

// NewPlan splits cfg.Connections into parts whose segments tile [0,1].
func NewPlan(cfg PlanConfig) (Plan, error) {
	if cfg.Connections < 1 {
		return Plan{}, fmt.Errorf("connections must be at least 1, got %d", cfg.Connections)
	}
	if cfg.PerProcess < 1 {
		return Plan{}, fmt.Errorf("per-process connection limit must be at least 1, got %d", cfg.PerProcess)
	}
	if cfg.Parts < 0 || cfg.Servers < 0 || cfg.AddrsPerPart < 0 {
		return Plan{}, errors.New("parts, servers and addresses per part must be >= 0 (0 = automatic)")
	}
	if cfg.ServerHost == "" {
		cfg.ServerHost = "127.0.0.1"
	}
	if cfg.BasePort == 0 {
		cfg.BasePort = 8080
	}
	switch cfg.Transport {
	case "":
		cfg.Transport = TransportWS
	case TransportWS, TransportSSE:
	default:
		return Plan{}, fmt.Errorf("transport %q unknown: use %s or %s", cfg.Transport, TransportWS, TransportSSE)
	}
	if cfg.Path == "" {
		cfg.Path = cfg.Transport.path()
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return Plan{}, fmt.Errorf("path must start with '/', got %q", cfg.Path)
	}
	auto := int(ceilDiv(cfg.Connections, cfg.PerProcess))
	if cfg.Parts == 0 {
		cfg.Parts = auto
	}
	if cfg.Servers == 0 {
		// A server may get one connection more than its even share from
		// every part (see perServer below), so size for that.
		cfg.Servers = auto
		if room := cfg.PerProcess - int64(cfg.Parts); room > 0 {
			cfg.Servers = int(max(ceilDiv(cfg.Connections, room), 1))
		}
	}
	if int64(cfg.Parts) > cfg.Connections {
		return Plan{}, fmt.Errorf("%d parts for %d connections leaves parts with nothing to do: use --parts %d or fewer",
			cfg.Parts, cfg.Connections, cfg.Connections)
	}
	if cfg.Parts > 254*254 {
		return Plan{}, fmt.Errorf("at most %d parts, got %d", 254*254, cfg.Parts)
	}
	if cfg.BasePort+cfg.Servers-1 > 65535 {
		return Plan{}, fmt.Errorf("ports %d..%d do not fit below 65536: lower --base-port", cfg.BasePort, cfg.BasePort+cfg.Servers-1)
	}

	p := Plan{Total: cfg.Connections, Transport: cfg.Transport}
	segs := Segments(cfg.Parts)
	p.Sequence = SequenceString(segs)
	urls := make([]string, cfg.Servers)
	for i := range cfg.Servers {
		listen := net.JoinHostPort(cfg.ServerHost, strconv.Itoa(cfg.BasePort+i))
		urls[i] = cfg.Transport.scheme() + "://" + listen + cfg.Path
		p.Servers = append(p.Servers, ServerPlan{Index: i, Listen: listen, MaxConns: cfg.PerProcess})
	}
	for i, s := range segs {
		n := s.Scale(cfg.Connections)
		if n > cfg.PerProcess {
			return Plan{}, fmt.Errorf("part %d would hold %d connections, over the per-process limit %d: "+
				"use --parts %d or more", i, n, cfg.PerProcess, auto)
		}
		addrs := cfg.AddrsPerPart
		if addrs == 0 {
			addrs = int(max(1, ceilDiv(n, addrPorts)))
		}
		if addrs > 254 {
			return Plan{}, fmt.Errorf("part %d needs %d source addresses, at most 254", i, addrs)
		}
		p.Parts = append(p.Parts, PartPlan{
			Index:       i,
			Segment:     s.String(),
			Connections: n,
			LocalAddrs:  partAddrs(i, addrs),
			URLs:        urls,
		})
	}
	// Parts spread their connections round-robin over every server, so a
	// server gets at most one more than its share from each part.
	perServer := ceilDiv(cfg.Connections, int64(cfg.Servers)) + int64(cfg.Parts)
	if perServer > cfg.PerProcess {
		return Plan{}, fmt.Errorf("each of %d servers would hold up to %d connections, over the per-process limit %d: "+
			"use --servers %d or more", cfg.Servers, perServer, cfg.PerProcess,
			ceilDiv(cfg.Connections, cfg.PerProcess-int64(cfg.Parts)))
	}
	return p, nil
}

// partAddrs gives part i the addresses 127.a.b.1 .. 127.a.b.n with a.b
// unique to the part (a.b skips 0.x so 127.0.0.1, the servers' address,
// stays free of client sockets).
func partAddrs(i, n int) []string {
	hi, lo := 1+i/254, 1+i%254
	out := make([]string, n)
	for j := range n {
		out[j] = fmt.Sprintf("127.%d.%d.%d", hi, lo, j+1)
	}
	return out
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// Segment is a k6 execution segment from:to, two fractions of [0,1].
type Segment struct {
	From, To *big.Rat
}

// Segments splits [0,1] into n equal segments.
func Segments(n int) []Segment {
	out := make([]Segment, n)
	for i := range n {
		out[i] = Segment{From: big.NewRat(int64(i), int64(n)), To: big.NewRat(int64(i+1), int64(n))}
	}
	return out
}

// String is the form --execution-segment accepts: "0:1/3", "1/3:2/3", "2/3:1".
func (s Segment) String() string { return s.From.RatString() + ":" + s.To.RatString() }

// SequenceString is the --execution-segment-sequence for segs: "0,1/3,2/3,1".
func SequenceString(segs []Segment) string {
	parts := make([]string, 0, len(segs)+1)
	for i, s := range segs {
		if i == 0 {
			parts = append(parts, s.From.RatString())
		}
		parts = append(parts, s.To.RatString())
	}
	return strings.Join(parts, ",")
}

// Scale is this segment's share of total, with k6's rounding
// (lib.ExecutionSegment.Scale: round-half-up of total*to minus the rounded
// total*from), so the fleet's plan agrees with massconn.share(total) in
// each process and consecutive segments sum to total exactly.
func (s Segment) Scale(total int64) int64 {
	to := new(big.Rat).Mul(new(big.Rat).SetInt64(total), s.To)
	return roundHalfUp(to.Sub(to, new(big.Rat).SetInt64(s.Start(total)))).Int64()
}

// Start is the first connection index of this segment within [0,total):
// the sum of the shares of the segments before it.
func (s Segment) Start(total int64) int64 {
	return roundHalfUp(new(big.Rat).Mul(new(big.Rat).SetInt64(total), s.From)).Int64()
}

func roundHalfUp(r *big.Rat) *big.Int {
	num := new(big.Int).Mul(r.Num(), big.NewInt(2))
	num.Add(num, r.Denom())
	den := new(big.Int).Mul(r.Denom(), big.NewInt(2))
	return num.Div(num, den) // Euclidean division floors for a positive divisor
}
