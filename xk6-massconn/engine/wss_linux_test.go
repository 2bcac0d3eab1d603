//go:build linux

package engine

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// startGWSTLSServer is startGWSServer over TLS, capped at maxVersion.
func startGWSTLSServer(t testing.TB, cert testpeer.Cert, maxVersion uint16) (*gwsServer, string) {
	t.Helper()
	s := newGWSServer()
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MaxVersion: maxVersion}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the failure cases make it log handshake errors
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, "wss://" + s.Listener.Addr().String()
}

var tlsVersions = []struct {
	name    string
	version uint16
	node    string
}{
	{"TLS1.3", tls.VersionTLS13, "TLSv1.3"},
	{"TLS1.2", tls.VersionTLS12, "TLSv1.2"},
}

func TestWSSAgainstGWS(t *testing.T) {
	cert := testpeer.NewCert(t)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			srv, base := startGWSTLSServer(t, cert, v.version)
			trusted := &tls.Config{RootCAs: cert.Roots}
			t.Run("echo, latency, heartbeat and close handshake", func(t *testing.T) {
				const n = 20
				p := dial(t, Config{URLs: []string{base + "/echo"}, Connections: n, OnOpenSend: "push 50", TLS: trusted,
					Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond}, Heartbeat: Heartbeat{Every: 20 * time.Millisecond, Ping: true}})
				if st := p.Stats(); st.Open != n || st.Failed != 0 {
					t.Fatalf("opening: %+v", st)
				}
				var measured int64
				eventually(t, "every pushed message to be measured", func() bool {
					measured += p.Drain().LatencyCount
					return measured == n*50
				})
				eventually(t, "pings", func() bool { return srv.pingCount() >= 2*n })
				if err := p.Close(5 * time.Second); err != nil {
					t.Fatal(err)
				}
				if st := p.Stats(); st.Open != 0 || st.Dropped != 0 || st.Received != n*50 {
					t.Fatalf("after close: %+v", st)
				}
				eventually(t, "server to see 1000 from every connection", func() bool { return srv.closeCodes()[1000] >= n })
			})
			t.Run("large messages span records", func(t *testing.T) {
				big := strings.Repeat("x", 100_000) // more than six 16 KiB records each way
				p := dial(t, Config{URLs: []string{base + "/echo"}, Connections: 3, OnOpenSend: big, TLS: trusted,
					Replies: []Reply{{Match: big, Send: "got it"}}})
				eventually(t, "echo and reply to its echo", func() bool { return p.Stats().Received >= 6 })
				if st := p.Stats(); st.Dropped != 0 || st.Failed != 0 {
					t.Fatalf("stats %+v", st)
				}
			})
			t.Run("server close code", func(t *testing.T) {
				p := dial(t, Config{URLs: []string{base + "/close?code=4001"}, Connections: 5, TLS: trusted})
				eventually(t, "drops", func() bool { return p.Stats().Dropped == 5 })
				if r := p.Drain(); r.Drops[4001] != 5 {
					t.Fatalf("drops %v", r.Drops)
				}
			})
			t.Run("reconnect", func(t *testing.T) {
				const n = 5
				p := dial(t, Config{URLs: []string{base + "/close?code=4002"}, Connections: n, Reconnect: true, TLS: trusted})
				eventually(t, "dropped connections to be redialed over TLS and dropped again", func() bool {
					s := p.Stats()
					return s.Dropped >= 3*n && s.Attempted >= 3*n
				})
				if err := p.Close(time.Second); err != nil {
					t.Fatal(err)
				}
				if s := p.Stats(); s.Open != 0 || s.Failures[ReasonTLS] != 0 {
					t.Fatalf("after Close: %+v", s)
				}
			})
			t.Run("certificate failures are reason tls", func(t *testing.T) {
				for name, conf := range map[string]*tls.Config{
					"unknown authority":   nil,
					"wrong name":          {RootCAs: cert.Roots, ServerName: "other.test"},
					"TLS version too new": {RootCAs: cert.Roots, MinVersion: v.version + 1},
				} {
					if v.version == tls.VersionTLS13 && conf != nil && conf.MinVersion != 0 {
						continue
					}
					p := dial(t, Config{URLs: []string{base + "/echo"}, Connections: 3, TLS: conf})
					if st := p.Stats(); st.Failures[ReasonTLS] != 3 || st.Open != 0 {
						t.Errorf("%s: %+v", name, st)
					}
				}
			})
			t.Run("insecureSkipTLSVerify and server name from the config", func(t *testing.T) {
				p := dial(t, Config{URLs: []string{base + "/echo"}, Connections: 3, OnOpenSend: "hi",
					TLS: &tls.Config{InsecureSkipVerify: true, ServerName: "other.test"}})
				eventually(t, "echoes", func() bool { return p.Stats().Received == 3 })
				p2 := dial(t, Config{URLs: []string{base + "/echo"}, Connections: 3, OnOpenSend: "hi",
					TLS: &tls.Config{RootCAs: cert.Roots, ServerName: "massconn.test"}})
				eventually(t, "echoes", func() bool { return p2.Stats().Received == 3 })
			})
		})
	}
}

// TestWSSKeyUpdate retires the client's TLS 1.3 write key every few
// records, asking the server to renew its keys too (request_update), so
// that both directions of the record layer go through key updates against
// a real TLS stack. (No server here sends a KeyUpdate on its own: Go's
// crypto/tls and Node's https only answer one.)
func TestWSSKeyUpdate(t *testing.T) {
	tlsUpdateAfter.Store(3)
	t.Cleanup(func() { tlsUpdateAfter.Store(0) })
	cert := testpeer.NewCert(t)
	_, gwsBase := startGWSTLSServer(t, cert, tls.VersionTLS13)
	nodeBase := testpeer.WSPeer(t, "TLS_CERT="+cert.CertFile, "TLS_KEY="+cert.KeyFile)
	for name, url := range map[string]string{"gws": gwsBase + "/echo", "node": nodeBase + "/"} {
		t.Run(name, func(t *testing.T) {
			before := tlsKeyUpdatesRead.Load()
			const n = 5
			p := dial(t, Config{URLs: []string{url}, Connections: n, TLS: &tls.Config{RootCAs: cert.Roots},
				Heartbeat: Heartbeat{Every: 10 * time.Millisecond, Text: "beat"}})
			eventually(t, "30 echoes per connection", func() bool { return p.Stats().Received >= 30*n })
			if st := p.Stats(); st.Dropped != 0 || st.Failed != 0 {
				t.Fatalf("stats %+v", st)
			}
			if got := tlsKeyUpdatesRead.Load() - before; got < n {
				t.Fatalf("the server answered %d KeyUpdates, want at least one per connection", got)
			}
			if err := p.Close(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			if st := p.Stats(); st.Dropped != 0 {
				t.Fatalf("after close: %+v", st)
			}
		})
	}
}

func TestWSSAgainstNpmWS(t *testing.T) {
	cert := testpeer.NewCert(t)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			base := testpeer.WSPeer(t, "TLS_CERT="+cert.CertFile, "TLS_KEY="+cert.KeyFile, "TLS_MAX_VERSION="+v.node)
			trusted := &tls.Config{RootCAs: cert.Roots}
			t.Run("echo and close", func(t *testing.T) { checkEchoAndClose(t, base, trusted) })
			t.Run("latency from fragmented messages", func(t *testing.T) {
				const n, per = 10, 20
				p := dial(t, Config{URLs: []string{base + "/"}, Connections: n, OnOpenSend: "fragpush 20", TLS: trusted,
					Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond}})
				var count int64
				eventually(t, "every reassembled message to be measured", func() bool {
					count += p.Drain().LatencyCount
					return count == n*per
				})
			})
			t.Run("server ping gets our pong", func(t *testing.T) {
				p := dial(t, Config{URLs: []string{base + "/"}, Connections: 5, OnOpenSend: "ping", TLS: trusted})
				eventually(t, `"pong seen" from every connection`, func() bool { return p.Stats().Received == 5 })
			})
			t.Run("server close code and reconnect", func(t *testing.T) {
				p := dial(t, Config{URLs: []string{base + "/?close=4003"}, Connections: 5, TLS: trusted, Reconnect: true})
				eventually(t, "drops and redials", func() bool { s := p.Stats(); return s.Dropped >= 10 && s.Attempted >= 10 })
				if r := p.Drain(); r.Drops[4003] < 10 {
					t.Fatalf("drops %v", r.Drops)
				}
			})
			t.Run("untrusted certificate", func(t *testing.T) {
				p := dial(t, Config{URLs: []string{base + "/"}, Connections: 3})
				if st := p.Stats(); st.Failures[ReasonTLS] != 3 {
					t.Fatalf("failures %v", st.Failures)
				}
			})
		})
	}
}

// TestWSSHoldsWithoutGoroutines holds a few thousand wss:// connections to
// the node peer (out of process, so that every goroutine here is the
// client's) and checks that none of them keeps a goroutine once open.
func TestWSSHoldsWithoutGoroutines(t *testing.T) {
	limit, err := fileLimit()
	if err != nil {
		t.Fatal(err)
	}
	n := min(2000, limit-openFiles()-200)
	cert := testpeer.NewCert(t)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			base := testpeer.WSPeer(t, "TLS_CERT="+cert.CertFile, "TLS_KEY="+cert.KeyFile, "TLS_MAX_VERSION="+v.node)
			// One node process serves every handshake on one core: a
			// generous connect timeout keeps a busy machine from failing
			// the test (nothing here measures time).
			p := dial(t, Config{URLs: []string{base + "/"}, Connections: n, MaxInFlight: 200, TLS: &tls.Config{RootCAs: cert.Roots},
				ConnectTimeout: time.Minute, Heartbeat: Heartbeat{Every: time.Second, Text: "beat"}})
			if st := p.Stats(); st.Open != int64(n) || st.Failed != 0 {
				t.Fatalf("opening %d: %+v", n, st)
			}
			eventually(t, "an echoed heartbeat on every connection", func() bool { return p.Stats().Received >= int64(n) })
			if g := engineGoroutines(t); g > 0 {
				t.Fatalf("%d engine goroutines while %d wss:// connections are held; want none", g, n)
			}
			if err := p.Close(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if st := p.Stats(); st.Open != 0 || st.Dropped != 0 || p.live.Load() != 0 {
				t.Fatalf("after close: %+v, %d sockets", st, p.live.Load())
			}
		})
	}
}

// engineGoroutines counts goroutines running a connection of this package:
// a handshake, or a portable-engine connection.
func engineGoroutines(t *testing.T) int {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	// debug=1 format: "N @ pc..." opens a group of N goroutines with the
	// same stack, then one "#\tpc\tfunction+off\tfile:line" line per frame.
	n, group, counted := 0, 0, false
	for _, line := range strings.Split(buf.String(), "\n") {
		if count, _, ok := strings.Cut(line, " @ "); ok {
			if _, err := fmt.Sscan(count, &group); err == nil {
				counted = false
				continue
			}
		}
		if !counted && strings.HasPrefix(line, "#") &&
			(strings.Contains(line, "engine.(*tlsHandshake)") || strings.Contains(line, "engine.(*portable).run")) {
			n += group
			counted = true
		}
	}
	return n
}

// TestWSSClientLeavesTCPCloseToTheServer is TestClientLeavesTCPCloseToTheServer
// over TLS: pool.close() sends a close frame and waits for the server's,
// and the server closes TCP first, so TIME_WAIT is the server's.
func TestWSSClientLeavesTCPCloseToTheServer(t *testing.T) {
	cert := testpeer.NewCert(t)
	checkClientLeavesTCPClose(t, "wss", &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, &tls.Config{RootCAs: cert.Roots})
}
