//go:build linux

// Command massconn-engine-bench measures the engine alone: it opens as many
// connections as this process's open-file limit allows against a server in
// another process, and prints the client's RSS per held connection and the
// connections established per second. It is a benchmark, not a test.
//
//	go run ./engine/cmd/massconn-engine-bench                 # server: gws, in a child process
//	go run ./engine/cmd/massconn-engine-bench -server ws      # server: npm ws (testdata/wspeer)
//	go run ./engine/cmd/massconn-engine-bench -url ws://...   # an already running server
//	go run ./engine/cmd/massconn-engine-bench -tls            # wss:// to gws over TLS (ECDSA P-256)
//
// With -tls, the gws server serves TLS with a fresh self-signed ECDSA P-256
// certificate. The server alone (-serve ADDR) is what massconn-bench k6-tls
// runs: ws:// on ADDR ("listening PORT"), and with -tls-dir DIR also wss://
// on a second port ("listening-tls PORT"), its certificate in DIR/cert.pem
// (which the k6 benchmark hands to both k6 binaries as SSL_CERT_FILE);
// GET /metrics on the ws:// port reports massconn_connections, the
// WebSocket connections it holds.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

func main() {
	var (
		serve       = flag.String("serve", "", "internal: run the gws server on this address and print its port")
		server      = flag.String("server", "gws", "server to start in a child process: gws or ws (npm)")
		url         = flag.String("url", "", "use this running server instead of starting one")
		conns       = flag.Int("conns", 0, "connections to open (0 = as many as RLIMIT_NOFILE allows, minus headroom)")
		rate        = flag.Float64("rate", 0, "connection attempts per second (0 = as fast as allowed)")
		maxInFlight = flag.Int("max-in-flight", 2000, "handshakes in progress at once")
		hold        = flag.Duration("hold", 3*time.Second, "how long to hold the connections before measuring")
		profile     = flag.String("memprofile", "", "write a heap profile here after measuring")
		cpuprofile  = flag.String("cpuprofile", "", "write a CPU profile of the opening phase here")
		local       = flag.String("local", "", "comma-separated source addresses (localAddrs), e.g. 127.0.0.1,127.0.0.2")
		useTLS      = flag.Bool("tls", false, "wss://: the gws server serves TLS 1.3 with an ECDSA P-256 certificate")
		tlsDir      = flag.String("tls-dir", "", "with -serve: also serve wss:// and write the certificate to DIR/cert.pem")
		tlsCurves   = flag.String("tls-curves", "", "key exchanges the TLS server prefers, comma-separated "+
			"Go names (X25519MLKEM768, X25519, P256); empty = Go's default")
	)
	flag.Parse()
	if *serve != "" {
		if err := runGWSServer(*serve, *tlsDir, *tlsCurves); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var localAddrs []netip.Addr
	for a := range strings.SplitSeq(*local, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		ip, err := netip.ParseAddr(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "massconn-engine-bench: -local:", err)
			os.Exit(2)
		}
		localAddrs = append(localAddrs, ip)
	}
	cfg := benchConfig{
		Server: *server, URL: *url, Conns: *conns, Rate: *rate, MaxInFlight: *maxInFlight, LocalAddrs: localAddrs,
		Hold: *hold, MemProfile: *profile, CPUProfile: *cpuprofile, TLS: *useTLS, TLSCurves: *tlsCurves,
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "massconn-engine-bench:", err)
		os.Exit(1)
	}
}

// benchConfig is one measurement: which server, how many connections, how
// fast, and where the profiles go (the command-line flags of the same names).
type benchConfig struct {
	Server      string       // gws or ws, started in a child process unless URL is set
	URL         string       // a running server instead
	Conns       int          // 0 = as many as RLIMIT_NOFILE allows, minus headroom
	Rate        float64      // connection attempts per second, 0 = as fast as allowed
	MaxInFlight int          // handshakes in progress at once
	LocalAddrs  []netip.Addr // source addresses
	Hold        time.Duration
	MemProfile  string // heap profile file after measuring, "" = none
	CPUProfile  string // CPU profile file of the opening phase, "" = none
	TLS         bool   // wss:// to the gws server (ECDSA P-256)
	TLSCurves   string // key exchanges the TLS server prefers; "" = Go's default
}

func run(cfg benchConfig) error {
	// url and n are resolved below: the started server's URL, the count
	// from RLIMIT_NOFILE.
	url, n := cfg.URL, cfg.Conns
	serverPID := 0
	var tlsConf *tls.Config
	if url == "" {
		tlsDir := ""
		if cfg.TLS {
			if cfg.Server != "gws" {
				return errors.New("-tls: only with -server gws")
			}
			dir, err := os.MkdirTemp("", "massconn-engine-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			tlsDir = dir
		}
		u, pid, stop, err := startServer(cfg.Server, tlsDir, cfg.TLSCurves)
		if err != nil {
			return err
		}
		defer stop()
		url, serverPID = u, pid
		if cfg.TLS {
			pemBytes, err := os.ReadFile(filepath.Join(tlsDir, "cert.pem"))
			if err != nil {
				return err
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(pemBytes)
			tlsConf = &tls.Config{RootCAs: roots}
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if n == 0 {
		n = int(lim.Cur) - openFiles() - 2000 // headroom as the k6 benchmark would leave
	}
	// Start the event loops and warm the code paths with one connection, so
	// the baseline includes everything that does not grow with the count.
	warm, err := engine.Dial(context.Background(), engine.Config{URLs: []string{url}, Connections: 1, TLS: tlsConf})
	if err != nil {
		return err
	}
	if err := warm.Wait(context.Background()); err != nil {
		return err
	}
	_ = warm.Close(time.Second)
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := vmRSS()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cpu0, srvCPU0 := cpuTime(os.Getpid()), cpuTime(serverPID)
	start := time.Now()
	p, err := engine.Dial(context.Background(), engine.Config{
		URLs: []string{url}, Connections: n, Rate: cfg.Rate, MaxInFlight: cfg.MaxInFlight, ConnectTimeout: 30 * time.Second,
		LocalAddrs: cfg.LocalAddrs, TLS: tlsConf,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	cpu, srvCPU := cpuTime(os.Getpid())-cpu0, cpuTime(serverPID)-srvCPU0
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	st := p.Stats()
	time.Sleep(cfg.Hold)
	rssHeld := vmRSS()
	runtime.GC()
	debug.FreeOSMemory()
	rssGC := vmRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	held := p.Stats().Open

	fmt.Printf("server                 %s (%s)\n", cfg.Server, url)
	fmt.Printf("RLIMIT_NOFILE          %d, localAddrs %v\n", lim.Cur, cfg.LocalAddrs)
	fmt.Printf("connections            attempted %d, open %d, failed %d %v\n", st.Attempted, st.Open, st.Failed, st.Failures)
	fmt.Printf("established per second %.0f (%d in %v, rate %v, maxInFlight %d, GOMAXPROCS %d)\n",
		float64(st.Open)/elapsed.Seconds(), st.Open, elapsed.Round(time.Millisecond), cfg.Rate, cfg.MaxInFlight, runtime.GOMAXPROCS(0))
	fmt.Printf("CPU while opening      client %v, server %v (of %v wall on %d cores; other load on the machine counts too)\n",
		cpu.Round(time.Millisecond), srvCPU.Round(time.Millisecond), elapsed.Round(time.Millisecond), runtime.NumCPU())
	if held > 0 {
		fmt.Printf("client RSS per conn    %.0f B held (VmRSS %d -> %d KiB), %.0f B after GC+FreeOSMemory (%d KiB)\n",
			float64(rssHeld-rss0)*1024/float64(held), rss0, rssHeld, float64(rssGC-rss0)*1024/float64(held), rssGC)
		fmt.Printf("Go heap per conn       %.0f B in use (HeapInuse %d -> %d KiB), %d goroutines\n",
			float64(ms.HeapInuse-ms0.HeapInuse)/float64(held), ms0.HeapInuse>>10, ms.HeapInuse>>10, runtime.NumGoroutine())
	}
	if cfg.MemProfile != "" {
		f, err := os.Create(cfg.MemProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			return err
		}
	}
	closeStart := time.Now()
	err = p.Close(10 * time.Second)
	fmt.Printf("closed                 in %v\n", time.Since(closeStart).Round(time.Millisecond))
	return err
}

func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

func openFiles() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// startServer runs the server in a child process, so its memory and
// descriptors are not the client's, and returns its URL.
func startServer(kind, tlsDir, tlsCurves string) (string, int, func(), error) {
	var cmd *exec.Cmd
	scheme := "ws"
	switch kind {
	case "gws":
		self, err := os.Executable()
		if err != nil {
			return "", 0, nil, err
		}
		cmd = exec.Command(self, "-serve", "127.0.0.1:0", "-tls-dir", tlsDir, "-tls-curves", tlsCurves)
	case "ws":
		dir := os.Getenv("WSPEER_DIR")
		if dir == "" {
			dir = filepath.Join("engine", "testdata", "wspeer")
		}
		cmd = exec.Command("node", "server.js", "0")
		cmd.Dir = dir
	default:
		return "", 0, nil, fmt.Errorf("-server %q: want gws or ws", kind)
	}
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe() // both servers exit when stdin closes
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("starting %s server: %w", kind, err)
	}
	stop := func() { stdin.Close(); _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }
	sc := bufio.NewScanner(out)
	want := "listening "
	if tlsDir != "" {
		want, scheme = "listening-tls ", "wss"
	}
	for sc.Scan() {
		if port, ok := strings.CutPrefix(sc.Text(), want); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return scheme + "://127.0.0.1:" + port + "/", cmd.Process.Pid, stop, nil
		}
	}
	stop()
	return "", 0, nil, errors.New("server exited before reporting its port")
}

// runGWSServer is a plain gws echo server with a goroutine per connection,
// and the same over TLS on a second port when tlsDir is set.
func runGWSServer(addr, tlsDir, curves string) error {
	var held atomic.Int64
	up := gws.NewUpgrader(&echo{held: &held}, nil)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprintf(w, "massconn_connections %d\n", held.Load())
			return
		}
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	if tlsDir != "" {
		conf, err := serverTLS(filepath.Join(tlsDir, "cert.pem"), curves)
		if err != nil {
			return err
		}
		host, _, _ := net.SplitHostPort(addr)
		tln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return err
		}
		fmt.Printf("listening-tls %d\n", tln.Addr().(*net.TCPAddr).Port)
		srv := &http.Server{Handler: handler, ErrorLog: log.New(io.Discard, "", 0)}
		go func() { _ = srv.Serve(tls.NewListener(tln, conf)) }()
	}
	go func() { _, _ = os.Stdin.Read(make([]byte, 1)); os.Exit(0) }()
	return http.Serve(ln, handler)
}

// serverTLS is the TLS server config: a fresh certificate (written to
// certPath) and, if curves is set, the key exchanges the server prefers.
func serverTLS(certPath, curves string) (*tls.Config, error) {
	cert, err := writeCert(certPath)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}}
	byName := map[string]tls.CurveID{
		"X25519MLKEM768": tls.X25519MLKEM768, "X25519": tls.X25519,
		"P256": tls.CurveP256, "P384": tls.CurveP384, "P521": tls.CurveP521,
	}
	for name := range strings.SplitSeq(curves, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		id, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("-tls-curves: unknown key exchange %q; use X25519MLKEM768, X25519, P256, P384 or P521", name)
		}
		conf.CurvePreferences = append(conf.CurvePreferences, id)
	}
	return conf, nil
}

// writeCert makes a self-signed ECDSA P-256 certificate for 127.0.0.1 and
// localhost and writes it (not its key) as PEM to path.
func writeCert(path string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "massconn-engine-bench"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

type echo struct {
	gws.BuiltinEventHandler
	held *atomic.Int64
}

func (e echo) OnOpen(*gws.Conn)         { e.held.Add(1) }
func (e echo) OnClose(*gws.Conn, error) { e.held.Add(-1) }

func (echo) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// cpuTime is the user+system CPU time of a process so far, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may contain spaces; fields follow its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
