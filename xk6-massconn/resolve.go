package massconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"go.k6.io/k6/lib"
	"go.k6.io/k6/lib/netext"
	"go.k6.io/k6/lib/types"
)

// roundRobinCycle is how many addresses one target is given at most: k6's
// round-robin counter per host is a uint8, so its own sequence repeats
// every 256 lookups and a list of 256 used cyclically is that sequence.
const roundRobinCycle = 256

// k6Resolver resolves the pool's targets through the VU's k6 dialer, so
// k6's hosts, dns (ttl, select, policy), blacklistIPs and blockHostnames
// options apply as they do to k6's own WebSocket and HTTP clients. Each
// lookup is what one connection of stock k6 would get: with select
// roundRobin or random the connections of a target spread over its
// addresses.
type k6Resolver struct {
	dialer *netext.Dialer
	sel    types.DNSSelect
}

// newK6Resolver returns the VU's resolver, or nil (the engine's own) when
// the VU's dialer is not k6's: another runner or a test harness.
func newK6Resolver(state *lib.State) *k6Resolver {
	d, ok := state.Dialer.(*netext.Dialer)
	if !ok || d == nil || d.Resolver == nil {
		return nil
	}
	return &k6Resolver{dialer: d, sel: state.Options.DNS.Select.DNSSelect}
}

func (r *k6Resolver) Resolve(_ context.Context, host string, port uint16, n int) ([]netip.AddrPort, error) {
	lookups := min(n, roundRobinCycle)
	if r.sel == types.DNSfirst {
		lookups = 1 // every lookup gives the same address
	}
	hostPort := net.JoinHostPort(host, strconv.Itoa(int(port)))
	out := make([]netip.AddrPort, 0, lookups)
	for range lookups {
		ip, p, err := r.dialer.ResolveAddr(hostPort)
		if err != nil {
			return nil, k6NetworkError(err)
		}
		addr, ok := netip.AddrFromSlice(ip)
		if !ok || p < 0 || p > 65535 {
			return nil, fmt.Errorf("k6's resolver gave %v port %d for %s", ip, p, hostPort)
		}
		out = append(out, netip.AddrPortFrom(addr.Unmap(), uint16(p)))
	}
	return out, nil
}

// k6NetworkError names the k6 option behind a refusal of k6's dialer, so
// the script's author knows where to look.
func k6NetworkError(err error) error {
	var blocked netext.BlockedHostError
	if errors.As(err, &blocked) {
		return fmt.Errorf("%w: refused by k6's blockHostnames option (remove the pattern or use another host)", err)
	}
	var blacklisted netext.BlackListedIPError
	if errors.As(err, &blacklisted) {
		return fmt.Errorf("%w: refused by k6's blacklistIPs option (remove the range or use another address)", err)
	}
	return err
}

// k6LocalAddrs is k6's --local-ips (options.localIPs) as the pool's
// source addresses, for a pool that sets no localAddrs of its own. Stock
// k6 gives each VU one address of the range; here one VU holds many
// connections, so its connections take the range's addresses in turn,
// starting at the pool's first {{conn}} index (so the processes of a
// fleet start at different addresses). At most one address per
// connection is listed.
func k6LocalAddrs(opts lib.Options, first int64, connections int) []netip.Addr {
	if !opts.LocalIPs.Valid || opts.LocalIPs.Pool == nil {
		return nil
	}
	pool := opts.LocalIPs.Pool
	start := uint64(max(first, 0))
	var out []netip.Addr
	for i := range connections {
		ip, ok := netip.AddrFromSlice(pool.GetIP(start + uint64(i)))
		if !ok {
			break
		}
		ip = ip.Unmap()
		if i > 0 && ip == out[0] {
			break // the range wrapped: every address is listed
		}
		out = append(out, ip)
	}
	return out
}
