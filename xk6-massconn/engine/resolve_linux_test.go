package engine

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// fixedResolver answers every name with the addresses it holds (two real
// servers, as a DNS name with two A records would) or with its error.
type fixedResolver struct {
	addrs []netip.AddrPort
	asked []int // n of each call
	err   error
}

func (r *fixedResolver) Resolve(_ context.Context, _ string, _ uint16, n int) ([]netip.AddrPort, error) {
	r.asked = append(r.asked, n)
	return r.addrs, r.err
}

func TestResolverSpreadsConnectionsOverItsAddresses(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		a, b := startGWSServer(t), startGWSServer(t)
		res := &fixedResolver{addrs: []netip.AddrPort{
			netip.MustParseAddrPort(a.Listener.Addr().String()),
			netip.MustParseAddrPort(b.Listener.Addr().String()),
		}}
		const n = 10
		p := dial(t, Config{URLs: []string{"ws://massconn.test:9/echo"}, Connections: n, Resolver: res})
		if s := p.Stats(); s.Open != n {
			t.Fatalf("stats %+v", s)
		}
		opened := func(s *gwsServer) int {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.opened
		}
		eventually(t, "each server to see half the connections", func() bool {
			return opened(a) == n/2 && opened(b) == n/2
		})
		if len(res.asked) != 1 || res.asked[0] != n {
			t.Fatalf("resolver asked for %v connections, want one call for %d", res.asked, n)
		}
	})
}

func TestResolverErrorNamesTheURL(t *testing.T) {
	res := &fixedResolver{err: errors.New("IP (127.0.0.1) is in a blacklisted range (127.0.0.0/8)")}
	_, err := Dial(context.Background(), Config{
		URLs:        []string{"ws://127.0.0.1:1/", "ws://massconn.test:1/"},
		Connections: 2, Resolver: res,
	})
	fields := FieldErrors(err)
	if len(fields) != 1 || fields[0].Field != "URLs[0]" || !strings.Contains(err.Error(), "blacklisted") {
		t.Fatalf("want a URLs[0] error carrying the resolver's, got %v", err)
	}
}

func TestTargetAddrsTakeTurns(t *testing.T) {
	x := netip.MustParseAddrPort("127.0.0.1:1")
	y := netip.MustParseAddrPort("127.0.0.2:1")
	z := netip.MustParseAddrPort("127.0.0.3:2")
	a := targetAddrs{{x, y}, {z}}
	want := []netip.AddrPort{x, z, y, z, x, z}
	for i, w := range want {
		if got := a.at(int64(i)); got != w {
			t.Errorf("connection %d dials %v, want %v", i, got, w)
		}
	}
}
