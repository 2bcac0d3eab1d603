package engine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// Generous bounds that only stop a broken test from hanging; nothing here
// asserts how long anything took.
const (
	settleWithin  = 60 * time.Second
	eventuallyFor = 30 * time.Second
)

func dial(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), settleWithin)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v (stats %+v)", err, p.Stats())
	}
	return p
}

// eventually polls cond until it holds or the bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventuallyFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEchoOnOpenSendAndReplies(t *testing.T) {
	srv := startGWSServer(t)
	const n = 50
	p := dial(t, Config{
		URLs:        []string{srv.url("/echo")},
		Connections: n,
		OnOpenSend:  "hello {{conn}} from {{vu}}",
		VU:          7,
		Replies:     []Reply{{Match: "hello ", Prefix: true, Send: "thanks"}},
	})
	st := p.Stats()
	if st.Attempted != n || st.Open != n || st.Failed != 0 {
		t.Fatalf("after Wait: %+v", st)
	}
	// Each connection sends its greeting, gets it echoed, replies "thanks"
	// and gets that echoed: two messages each way.
	eventually(t, "greetings and replies to be echoed", func() bool {
		s := p.Stats()
		return s.Received == 2*n && s.Sent == 2*n
	})
	if err := p.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	st = p.Stats()
	if st.Open != 0 || st.Dropped != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	eventually(t, "server to see 1000 from every client", func() bool { return srv.closeCodes()[1000] == n })
	r := p.Drain()
	if r.Opened != n || r.SessionsEnded != n || len(r.Connecting) != n || len(r.Sessions) != n {
		t.Fatalf("Drain after close: opened %d ended %d samples %d/%d", r.Opened, r.SessionsEnded, len(r.Connecting), len(r.Sessions))
	}
	if again := p.Close(time.Second); again != nil {
		t.Fatalf("second Close: %v", again)
	}
}

func TestLatencyFromServerTimestamps(t *testing.T) {
	srv := startGWSServer(t)
	const n, per = 20, 25
	p := dial(t, Config{
		URLs:        []string{srv.url("/echo")},
		Connections: n,
		OnOpenSend:  fmt.Sprintf("push %d", per),
		Latency:     &LatencySpec{Field: "ts", Unit: time.Microsecond},
		SampleLimit: 100,
	})
	var count int64
	var samples int
	var maxLat time.Duration
	eventually(t, "every pushed message to be measured", func() bool {
		r := p.Drain()
		count += r.LatencyCount
		samples += len(r.Latencies)
		maxLat = max(maxLat, r.LatencyMax)
		return count == n*per
	})
	if samples == 0 || samples > int(count) {
		t.Fatalf("%d samples for %d latencies", samples, count)
	}
	if maxLat <= 0 {
		t.Fatalf("latency max %v", maxLat)
	}
	if r := p.Drain(); r.LatencyCount != 0 || len(r.Latencies) != 0 {
		t.Fatalf("second Drain repeated data: %+v", r)
	}
}

func TestSampleLimitBoundsDrain(t *testing.T) {
	srv := startGWSServer(t)
	p := dial(t, Config{
		URLs:        []string{srv.url("/echo")},
		Connections: 4,
		OnOpenSend:  "push 500",
		Latency:     &LatencySpec{Field: "ts", Unit: time.Microsecond},
		SampleLimit: 10,
	})
	var count int64
	eventually(t, "2000 latencies", func() bool {
		r := p.Drain()
		if len(r.Latencies) > 10 {
			t.Fatalf("Drain returned %d latency samples with SampleLimit 10", len(r.Latencies))
		}
		count += r.LatencyCount
		return count == 2000
	})
}

func TestServerInitiatedCloseIsADrop(t *testing.T) {
	srv := startGWSServer(t)
	const n = 10
	p := dial(t, Config{URLs: []string{srv.url("/close?code=4001")}, Connections: n})
	eventually(t, "every connection to be dropped", func() bool { return p.Stats().Dropped == n })
	r := p.Drain()
	if r.Drops[4001] != n || r.SessionsEnded != n {
		t.Fatalf("drops %v, sessions ended %d", r.Drops, r.SessionsEnded)
	}
	if st := p.Stats(); st.Open != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConnectionLostWithoutCloseFrameIs1006(t *testing.T) {
	srv := startGWSServer(t)
	p := dial(t, Config{URLs: []string{srv.url("/kill")}, Connections: 5})
	eventually(t, fmt.Sprintf("drops (%+v)", p.Stats()), func() bool { return p.Stats().Dropped == 5 })
	if r := p.Drain(); r.Drops[1006] != 5 {
		t.Fatalf("drops %v", r.Drops)
	}
}

func TestReconnectRedialsDroppedConnections(t *testing.T) {
	srv := startGWSServer(t)
	const n = 5
	p := dial(t, Config{URLs: []string{srv.url("/close?code=4002")}, Connections: n, Reconnect: true})
	eventually(t, "dropped connections to be redialed and dropped again", func() bool {
		s := p.Stats()
		return s.Dropped >= 2*n && s.Attempted >= 2*n
	})
	if err := p.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Open != 0 {
		t.Fatalf("after Close: %+v", s)
	}
}

func TestHeartbeatPingsAndTexts(t *testing.T) {
	srv := startGWSServer(t)
	const n = 10
	dial(t, Config{URLs: []string{srv.url("/echo")}, Connections: n, Heartbeat: Heartbeat{Every: 50 * time.Millisecond, Ping: true}})
	eventually(t, "server to receive pings", func() bool { return srv.pingCount() >= 3*n })

	p := dial(t, Config{URLs: []string{srv.url("/echo")}, Connections: n, Heartbeat: Heartbeat{Every: 50 * time.Millisecond, Text: "beat"}})
	eventually(t, "text heartbeats to be echoed", func() bool {
		s := p.Stats()
		return s.Received >= 3*n && s.Sent >= 3*n
	})
}

func TestFailureReasons(t *testing.T) {
	srv := startGWSServer(t)
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "ws://" + addr + "/"
	}()
	badAccept := testpeer.RawServer(t, func(c net.Conn) {
		key, err := readRequestKey(c)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptFor(key+"x"))
		_, _ = c.Read(make([]byte, 1))
	})
	silent := testpeer.RawServer(t, func(c net.Conn) {
		_, _ = c.Read(make([]byte, 4096))
		_, _ = c.Read(make([]byte, 1)) // never answers; returns when the client gives up
	})
	resetting := testpeer.RawServer(t, func(c net.Conn) {
		_, _ = readRequestKey(c)
		_ = c.(*net.TCPConn).SetLinger(0) // close with RST
	})
	tests := []struct {
		reason string
		cfg    Config
	}{
		{ReasonRefused, Config{URLs: []string{closedPort}}},
		{"http_503", Config{URLs: []string{srv.url("/503")}}},
		{ReasonHandshake, Config{URLs: []string{badAccept}}},
		{ReasonProtocol, Config{URLs: []string{srv.url("/masked")}}},
		{ReasonTimeout, Config{URLs: []string{silent}, ConnectTimeout: 300 * time.Millisecond}},
		{ReasonReset, Config{URLs: []string{resetting}}},
		// 192.0.2.1 (TEST-NET-1) is on no interface here: bind fails locally
		// and no packet leaves the machine.
		{ReasonAddrNotAvail, Config{URLs: []string{srv.url("/echo")}, LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			const n = 3
			tc.cfg.Connections = n
			p := dial(t, tc.cfg)
			eventually(t, "failures to be counted", func() bool { return p.Stats().Failed == n })
			st := p.Stats()
			if st.Failures[tc.reason] != n || len(st.Failures) != 1 {
				t.Fatalf("failures %v, want %d x %s", st.Failures, n, tc.reason)
			}
			if r := p.Drain(); r.Failures[tc.reason] != n {
				t.Fatalf("Drain failures %v", r.Failures)
			}
		})
	}
	t.Run("protocol violation is answered with 1002", func(t *testing.T) {
		eventually(t, "server to see 1002", func() bool { return srv.closeCodes()[1002] > 0 })
	})
}

func TestLocalAddrsAreUsed(t *testing.T) {
	srv := startGWSServer(t)
	p := dial(t, Config{
		URLs:        []string{srv.url("/echo")},
		Connections: 6,
		LocalAddrs:  []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")},
	})
	if st := p.Stats(); st.Open != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// Validate names the field at fault by its Go path, as a FieldError; the
// binding's options_test.go checks the same cases under the JS names.
func TestValidateNamesTheField(t *testing.T) {
	ok := Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1}
	tests := []struct {
		field  string
		mutate func(*Config)
	}{
		{"URLs", func(c *Config) { c.URLs = nil }},
		{"URLs[0]", func(c *Config) { c.URLs = []string{"ftp://x/"} }},
		{"Connections", func(c *Config) { c.Connections = 0 }},
		{"Rate", func(c *Config) { c.Rate = -1 }},
		{"MaxInFlight", func(c *Config) { c.MaxInFlight = -1 }},
		{"LocalAddrs[0]", func(c *Config) { c.LocalAddrs = []netip.Addr{{}} }},
		{"ConnectTimeout", func(c *Config) { c.ConnectTimeout = -time.Second }},
		{"Heartbeat.Every", func(c *Config) { c.Heartbeat = Heartbeat{Ping: true} }},
		{"Heartbeat", func(c *Config) { c.Heartbeat = Heartbeat{Every: time.Second} }},
		{"Replies[0].Match", func(c *Config) { c.Replies = []Reply{{Send: "x"}} }},
		{"Latency.Path", func(c *Config) { c.Latency = &LatencySpec{Unit: time.Millisecond} }},
		{"Latency.Path", func(c *Config) { c.Latency = &LatencySpec{Path: "a..b", Unit: time.Millisecond} }},
		{"Latency", func(c *Config) { c.Latency = &LatencySpec{Path: "a", Field: "a", Unit: time.Millisecond} }},
		{"Batched", func(c *Config) { c.Batched, c.Protocol = true, mustGraphQLWS(t) }},
		{"Replies", func(c *Config) { c.Replies, c.Protocol = []Reply{{Match: "2", Send: "3"}}, mustGraphQLWS(t) }},
		{"Latency.Unit", func(c *Config) { c.Latency = &LatencySpec{Field: "ts"} }},
		{"Header", func(c *Config) { c.Header = map[string][]string{"Sec-WebSocket-Key": {"x"}} }},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	for _, tc := range tests {
		c := ok
		tc.mutate(&c)
		err := c.Validate()
		fes := FieldErrors(err)
		if len(fes) == 0 || fes[0].Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
}

func TestCapacityCheck(t *testing.T) {
	limit, err := fileLimit()
	if err != nil {
		t.Fatal(err)
	}
	err = CheckCapacity(Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: limit})
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || !strings.Contains(err.Error(), "ulimit -n") {
		t.Fatalf("open-file limit not reported: %v", err)
	}
	if _, err := Dial(context.Background(), Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: limit}); err == nil {
		t.Fatal("Dial accepted more connections than files")
	}
	lo, hi := ephemeralPorts()
	ports := hi - lo + 1
	dst := targetAddrs{{netip.MustParseAddrPort("127.0.0.1:8080")}}
	err = checkPorts(Config{Connections: ports + 1}, dst)
	if err == nil || !strings.Contains(err.Error(), "ephemeral ports") || !strings.Contains(err.Error(), "LocalAddrs") {
		t.Fatalf("port limit not reported: %v", err)
	}
	two := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	if err := checkPorts(Config{Connections: ports + 1, LocalAddrs: two}, dst); err != nil {
		t.Fatalf("two source addresses should fit %d: %v", ports+1, err)
	}
	if err := CheckCapacity(Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 10}); err != nil {
		t.Fatal(err)
	}
}

func mustGraphQLWS(t *testing.T) *protocol.GraphQLWS {
	t.Helper()
	a, err := protocol.NewGraphQLWS(protocol.GraphQLWSOptions{Query: "subscription { tick }"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
