package engine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// fdHeadroom is kept free for everything else the process opens (k6 outputs,
// logs, DNS, the epoll and eventfd descriptors of the loops).
const fdHeadroom = 64

// portRangeFile holds the kernel's ephemeral port range ("lo hi").
const portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// CheckCapacity tells, before any socket is opened, whether cfg.Connections
// fit in this process's open-file limit and in the ephemeral ports of every
// (source address, target address) pair, and how to lift the limit if not.
func CheckCapacity(cfg Config) error {
	prep, err := cfg.prepare()
	if err != nil {
		return err
	}
	if err := checkFiles(cfg.Connections); err != nil {
		return err
	}
	addrs, err := resolveTargets(context.Background(), cfg, prep.targets)
	if err != nil {
		return err
	}
	return checkPorts(cfg, addrs)
}

func checkFiles(want int) error {
	limit, err := fileLimit()
	if err != nil || limit <= 0 {
		return nil // no limit known on this platform: let the dials find out
	}
	used := openFiles()
	free := limit - used - fdHeadroom
	if want > free {
		return fmt.Errorf("capacity: %d connections need %d open files but this process may open %d more "+
			"(RLIMIT_NOFILE soft limit %d, %d already open, %d kept in reserve); "+
			"raise the limit with `ulimit -n` (infra/tune.sh raises it for you), "+
			"or split the connections across processes with k6 --execution-segment",
			want, want, max(free, 0), limit, used, fdHeadroom)
	}
	return nil
}

// openFiles counts this process's open descriptors; 0 when unknown.
func openFiles() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}

// ephemeralPorts is the size of the kernel's ephemeral port range, or 0 if it
// cannot be read.
func ephemeralPorts() (lo, hi int) {
	b, err := os.ReadFile(portRangeFile)
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0, 0
	}
	return lo, hi
}

// checkPorts counts the connections that will share each (source address,
// target address:port) pair under round-robin assignment; each needs its own
// ephemeral port.
func checkPorts(cfg Config, addrs targetAddrs) error {
	lo, hi := ephemeralPorts()
	if hi == 0 {
		return nil
	}
	ports := hi - lo + 1
	type pair struct {
		src netip.Addr // zero: the kernel's choice of source
		dst netip.AddrPort
	}
	count := map[pair]int{}
	for i := 0; i < cfg.Connections; i++ {
		p := pair{dst: addrs.at(int64(i))}
		if len(cfg.LocalAddrs) > 0 {
			p.src = cfg.LocalAddrs[i%len(cfg.LocalAddrs)]
		}
		count[p]++
	}
	for p, n := range count {
		if n > ports {
			src := "the default source address"
			if p.src.IsValid() {
				src = "source " + p.src.String()
			}
			return &FieldError{
				Field: "Connections",
				Reason: fmt.Sprintf("capacity: %d connections from %s to %s need %d ephemeral ports but the range %d-%d (%s) has %d",
					n, src, p.dst, n, lo, hi, portRangeFile, ports),
				Fix: "add %s (e.g. 127.0.0.2, 127.0.0.3 on loopback) or more %s on other addresses/ports, " +
					"widen net.ipv4.ip_local_port_range, or split across processes with k6 --execution-segment",
				Refs: []string{"LocalAddrs", "URLs"},
			}
		}
	}
	return nil
}

// resolveTargets asks cfg.Resolver (or Go's default resolver) for the
// addresses of each target, in order, for the connections that dial it.
func resolveTargets(ctx context.Context, cfg Config, targets []target) (targetAddrs, error) {
	out := make(targetAddrs, len(targets))
	res := cfg.Resolver
	if res == nil {
		res = defaultResolver{}
	}
	for i, t := range targets {
		host, portStr, _ := net.SplitHostPort(t.host)
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("URLs[%d]", i), Value: portStr, Reason: "bad port"}
		}
		// Connection c dials target c mod len(targets).
		n := (cfg.Connections - i + len(targets) - 1) / len(targets)
		addrs, err := res.Resolve(ctx, host, uint16(port), max(n, 1))
		if err == nil && len(addrs) == 0 {
			err = fmt.Errorf("no address for %q", host)
		}
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("URLs[%d]", i), Reason: fmt.Sprintf("cannot resolve %q: %v", host, err)}
		}
		for j, a := range addrs {
			addrs[j] = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		}
		out[i] = addrs
	}
	return out, nil
}
