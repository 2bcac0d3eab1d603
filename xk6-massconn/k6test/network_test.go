package k6test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lxzan/gws"
)

// addrServer is a WebSocket server (gws) listening on one port of several
// loopback addresses; it counts the upgrade requests by the address they
// reached and the address they came from. /403 refuses the upgrade with 403.
type addrServer struct {
	port int
	mu   sync.Mutex
	to   map[string]int // local address -> upgrade requests
	from map[string]int // remote address -> upgrade requests
}

func startAddrServer(t *testing.T, ips ...string) *addrServer {
	t.Helper()
	s := &addrServer{to: map[string]int{}, from: map[string]int{}}
	up := gws.NewUpgrader(&gws.BuiltinEventHandler{}, &gws.ServerOption{})
	mux := http.NewServeMux()
	mux.HandleFunc("/403", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Counted before the 101 goes out, so that k6 cannot have
		// finished before the count is taken.
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		localIP, _, _ := net.SplitHostPort(local.String())
		remoteIP, _, _ := net.SplitHostPort(r.RemoteAddr)
		s.mu.Lock()
		s.to[localIP]++
		s.from[remoteIP]++
		s.mu.Unlock()
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
	srv := &http.Server{Handler: mux} //nolint:gosec // a test server on loopback
	listeners := listenOnOnePort(t, ips)
	for _, l := range listeners {
		go func() { _ = srv.Serve(l) }()
	}
	s.port = listeners[0].Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// listenOnOnePort listens on the same port of every address in ips: the
// port the kernel gives the first, tried again with a new one when it is
// taken on another address (a socket of another test may hold it there).
func listenOnOnePort(t *testing.T, ips []string) []net.Listener {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		var ls []net.Listener
		port := 0
		for _, ip := range ips {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				lastErr = fmt.Errorf("listening on %s: %w", ip, err)
				break
			}
			ls = append(ls, l)
			port = l.Addr().(*net.TCPAddr).Port
		}
		if len(ls) == len(ips) {
			return ls
		}
		for _, l := range ls {
			_ = l.Close()
		}
	}
	t.Fatalf("no port free on every one of %v: %v", ips, lastErr)
	return nil
}

func (s *addrServer) counts() (to, from map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	to, from = map[string]int{}, map[string]int{}
	for k, v := range s.to {
		to[k] = v
	}
	for k, v := range s.from {
		from[k] = v
	}
	return to, from
}

// withHosts returns a wrapper that runs k6 in a mount namespace of its own
// whose /etc/hosts holds lines: the only way to give a name two addresses
// (k6's hosts option maps a name to one) without a DNS server. It skips the
// test where mount namespaces are not allowed (not root).
func withHosts(t *testing.T, lines ...string) []string {
	t.Helper()
	if err := exec.Command("unshare", "--mount", "true").Run(); err != nil {
		t.Skipf("needs `unshare --mount` (root) to give k6 an /etc/hosts of its own: %v", err)
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"unshare", "--mount", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hosts}
}

func runNetwork(t *testing.T, wrapper []string, k6Opts, connect string, extraArgs ...string) k6Result {
	t.Helper()
	return runK6Wrapped(t, wrapper, filepath.Join("testdata", "network.js"),
		map[string]string{"K6_OPTS": k6Opts, "CONNECT": connect}, extraArgs...)
}

func wantOK(t *testing.T, res k6Result) {
	t.Helper()
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
}

// k6's dns option decides how a name with two addresses is used: with
// select roundRobin the connections take them in turn, with first they
// all go to the first.
func TestK6DNSSelectSpreadsConnections(t *testing.T) {
	srv := startAddrServer(t, "127.0.0.1", "127.0.0.2")
	wrapper := withHosts(t, "127.0.0.1 localhost", "127.0.0.1 massconn.test", "127.0.0.2 massconn.test")
	connect := fmt.Sprintf(`{"urls":["ws://massconn.test:%d/"],"connections":10}`, srv.port)

	wantOK(t, runNetwork(t, wrapper, `{"dns":{"select":"roundRobin","ttl":"5m"}}`, connect))
	if to, _ := srv.counts(); to["127.0.0.1"] != 5 || to["127.0.0.2"] != 5 {
		t.Fatalf("roundRobin: connections by server address %v, want 5 on each", to)
	}
	wantOK(t, runNetwork(t, wrapper, `{"dns":{"select":"first"}}`, connect))
	if to, _ := srv.counts(); to["127.0.0.1"]+to["127.0.0.2"] != 20 || to["127.0.0.1"] != 15 && to["127.0.0.2"] != 15 {
		t.Fatalf("first: connections by server address %v, want the 10 new ones on one address", to)
	}
}

// k6's hosts option sends a name to the address it maps it to.
func TestK6HostsOption(t *testing.T) {
	srv := startAddrServer(t, "127.0.0.1", "127.0.0.2")
	connect := fmt.Sprintf(`{"urls":["ws://massconn.test:%d/"],"connections":4}`, srv.port)
	wantOK(t, runNetwork(t, nil, `{"hosts":{"massconn.test":"127.0.0.2"}}`, connect))
	if to, _ := srv.counts(); to["127.0.0.2"] != 4 || len(to) != 1 {
		t.Fatalf("connections by server address %v, want all 4 on 127.0.0.2", to)
	}
}

// k6's blacklistIPs and blockHostnames refuse the pool, and the error
// names the option.
func TestK6BlockOptionsNameTheOption(t *testing.T) {
	srv := startAddrServer(t, "127.0.0.1")
	for _, tt := range []struct{ name, k6Opts, url, want string }{
		{"blacklistIPs", `{"blacklistIPs":["127.0.0.0/8"]}`, fmt.Sprintf("ws://127.0.0.1:%d/", srv.port),
			"blacklistIPs"},
		{"blacklistIPs after hosts", `{"blacklistIPs":["127.0.0.0/8"],"hosts":{"massconn.test":"127.0.0.1"}}`,
			fmt.Sprintf("ws://massconn.test:%d/", srv.port), "blacklistIPs"},
		{"blockHostnames", `{"blockHostnames":["*.test"]}`, fmt.Sprintf("ws://massconn.test:%d/", srv.port),
			"blockHostnames"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := runK6Path(t, filepath.Join("testdata", "network.js"), map[string]string{
				"K6_OPTS": tt.k6Opts, "CONNECT": `{"urls":["` + tt.url + `"],"connections":2}`, "SETUP": "1",
			})
			if res.code != exitScriptException {
				t.Fatalf("k6 exited %d, want %d (script exception):\n%s", res.code, exitScriptException, res.output)
			}
			if want := "option 'urls[0]'"; !strings.Contains(res.output, want) || !strings.Contains(res.output, tt.want) {
				t.Fatalf("k6 output names neither %q nor %q:\n%s", want, tt.want, res.output)
			}
		})
	}
	if to, _ := srv.counts(); len(to) != 0 {
		t.Fatalf("refused pools reached the server: %v", to)
	}
}

// k6's --local-ips gives the source addresses when localAddrs is not set,
// and localAddrs wins when it is.
func TestK6LocalIPs(t *testing.T) {
	srv := startAddrServer(t, "127.0.0.1")
	connect := fmt.Sprintf(`{"urls":["ws://127.0.0.1:%d/"],"connections":6}`, srv.port)
	wantOK(t, runNetwork(t, nil, `{}`, connect, "--local-ips", "127.0.0.2-127.0.0.3"))
	if _, from := srv.counts(); from["127.0.0.2"] != 3 || from["127.0.0.3"] != 3 || len(from) != 2 {
		t.Fatalf("connections by source address %v, want 3 from each of 127.0.0.2 and 127.0.0.3", from)
	}
	own := fmt.Sprintf(`{"urls":["ws://127.0.0.1:%d/"],"connections":2,"localAddrs":["127.0.0.4"]}`, srv.port)
	wantOK(t, runNetwork(t, nil, `{}`, own, "--local-ips", "127.0.0.2-127.0.0.3"))
	if _, from := srv.counts(); from["127.0.0.4"] != 2 || len(from) != 3 {
		t.Fatalf("connections by source address %v, want localAddrs' 127.0.0.4 to win over --local-ips", from)
	}
}

// point is one sample of k6's JSON output.
type point struct {
	Type   string `json:"type"`
	Metric string `json:"metric"`
	Data   struct {
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	} `json:"data"`
}

func readPoints(t *testing.T, path string) []point {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []point
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("k6 JSON output: %v: %s", err, sc.Bytes())
		}
		if p.Type == "Point" {
			out = append(out, p)
		}
	}
	return out
}

// The samples carry the url tag (the URL as written, templates and all),
// the status tag (101 on a handshake, 403 on that refusal), one
// massconn_connect_failed sample per attempt, and ws_ping when the pool
// pings.
func TestMetricTagsRateAndPing(t *testing.T) {
	srv := startAddrServer(t, "127.0.0.1")
	// The npm ws server answers pings itself (gws leaves it to the handler).
	okURL := startWSPeer(t) + "?id={{conn}}"
	badURL := fmt.Sprintf("ws://127.0.0.1:%d/403", srv.port)
	out := filepath.Join(t.TempDir(), "out.json")
	res := runK6Path(t, filepath.Join("testdata", "network.js"), map[string]string{
		"CONNECT": `{"urls":["` + okURL + `"],"connections":3,"heartbeat":{"every":"50ms","ping":true}}`,
		"HOLD":    "500ms",
	}, "--out", "json="+out)
	wantOK(t, res)
	res = runK6Path(t, filepath.Join("testdata", "network.js"), map[string]string{
		"CONNECT": `{"urls":["` + badURL + `"],"connections":2,"tags":{"name":"refused"}}`,
	}, "--out", "json="+filepath.Join(filepath.Dir(out), "bad.json"))
	wantOK(t, res)

	type series struct{ metric, url, status, reason, name string }
	count := map[series]int{}
	sum := map[series]float64{}
	for _, f := range []string{out, filepath.Join(filepath.Dir(out), "bad.json")} {
		for _, p := range readPoints(t, f) {
			k := series{p.Metric, p.Data.Tags["url"], p.Data.Tags["status"], p.Data.Tags["reason"], p.Data.Tags["name"]}
			count[k]++
			sum[k] += p.Data.Value
		}
	}
	for _, w := range []struct {
		series
		count int
		sum   float64 // -1: any
	}{
		{series{"ws_connecting", okURL, "101", "", ""}, 3, -1},
		{series{"ws_sessions", okURL, "101", "", ""}, -1, 3},
		{series{"massconn_connect_failed", okURL, "101", "", ""}, 3, 0},
		{series{"massconn_connect_failed", badURL, "403", "http_403", "refused"}, 2, 2},
		{series{"massconn_failures", badURL, "403", "http_403", "refused"}, -1, 2},
	} {
		if w.count >= 0 && count[w.series] != w.count || w.sum >= 0 && sum[w.series] != w.sum {
			t.Errorf("%+v: %d samples summing to %v, want %d samples summing to %v", w.series, count[w.series], sum[w.series], w.count, w.sum)
		}
	}
	pings := 0
	for k, n := range count {
		if k.metric == "ws_ping" && k.url == okURL {
			pings += n
		}
	}
	if pings == 0 {
		t.Errorf("no ws_ping samples from a pool pinging every 50ms for 500ms; series: %v", count)
	}
}

// A threshold on massconn_connect_failed passes when no attempt fails and
// is crossed (exit 99) when they all do.
func TestConnectFailedThreshold(t *testing.T) {
	srv := startAddrServer(t, "127.0.0.1")
	const thresholds = `{"thresholds":{"massconn_connect_failed":["rate<0.001"]}}`
	url := fmt.Sprintf("ws://127.0.0.1:%d/", srv.port)
	ok := `{"urls":["` + url + `"],"connections":5}`
	// A threshold per target, as k6 users write them for ws_connecting.
	perURL := fmt.Sprintf(`{"thresholds":{"massconn_connect_failed":["rate<0.001"],"ws_sessions{url:%s,status:101}":["count==5"]}}`, url)
	res := runNetwork(t, nil, perURL, ok)
	wantOK(t, res)
	if got := res.value(t, "massconn_connect_failed", "value"); got != 0 {
		t.Errorf("massconn_connect_failed rate %v, want 0", got)
	}
	if got := res.value(t, "ws_sessions{url:"+url+",status:101}", "count"); got != 5 {
		t.Errorf("ws_sessions{url,status} count %v, want 5", got)
	}
	bad := fmt.Sprintf(`{"urls":["ws://127.0.0.1:%d/"],"connections":5}`, closedPort(t))
	res = runNetwork(t, nil, thresholds, bad)
	if res.code != exitThresholdsFailed {
		t.Fatalf("k6 exited %d, want %d (thresholds failed):\n%s", res.code, exitThresholdsFailed, res.output)
	}
	if got := res.value(t, "massconn_connect_failed", "value"); got != 1 {
		t.Errorf("massconn_connect_failed rate %v, want 1", got)
	}
}
