package engine

import (
	"context"
	"net"
	"net/netip"
)

// Resolver gives the addresses the connections to one target dial. The k6
// binding implements it with k6's own resolver, so that k6's hosts, dns and
// blacklistIPs options apply; the engine itself knows nothing of them.
type Resolver interface {
	// Resolve returns the addresses of host (a name or an IP literal) on
	// port for n connections, in the order they dial them. The list is
	// used cyclically, so it may be shorter than n (one address is
	// enough when every connection goes to the same place). The port of
	// an address may differ from port (a hosts entry with a port).
	Resolve(ctx context.Context, host string, port uint16, n int) ([]netip.AddrPort, error)
}

// defaultResolver is Go's resolver, asked once per target: one address,
// the first IPv4 one if there is one (dual-stack loopback answers ::1
// first on some systems, and most servers under test listen on IPv4).
type defaultResolver struct{}

func (defaultResolver) Resolve(ctx context.Context, host string, port uint16, _ int) ([]netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip, port)}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, nil
	}
	ip := ips[0]
	for _, a := range ips {
		if a.Is4() {
			ip = a
			break
		}
	}
	return []netip.AddrPort{netip.AddrPortFrom(ip, port)}, nil
}

// targetAddrs holds the resolved addresses of each target. Connection idx
// dials target idx mod len(targets) and, among that target's addresses,
// the next one in turn: the k-th connection of a target takes address k
// mod the list's length.
type targetAddrs [][]netip.AddrPort

func (a targetAddrs) at(idx int64) netip.AddrPort {
	n := int64(len(a))
	list := a[idx%n]
	return list[(idx/n)%int64(len(list))]
}
