package k6bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/launch"
)

const adaptersDoc = `Environment: CONNECTIONS (10000), PUBS (20), EVERY_MS (500), K6_TIMEOUT (300), K6 (bin/k6),
CENTRIFUGO_BINARY (bin/centrifugo), PROTOPEERS_DIR (xk6-massconn/engine/testdata/protopeers).
`

type adaptersConfig struct {
	k6, centrifugo, peers string
	conns, pubs, everyMS  int
}

// RunAdapters is massconn-bench adapters (make bench-adapters):
// xk6-massconn's protocol adapters against real servers on this machine:
// CONNECTIONS clients of Centrifugo v6 (bin/centrifugo) and of a Socket.IO 4
// server (npm socket.io, in the protopeers directory), PUBS publications
// fanned out to all of them every EVERY_MS; prints connections held, drops,
// messages received/expected and publish-to-client latency
// (k6scripts/bench/adapter-fanout.js). Both servers run with their default
// ping intervals.
func RunAdapters(args []string, stdout, stderr io.Writer) int {
	if done, code := usageOnly("adapters", adaptersDoc, args, stderr); done {
		return code
	}
	cfg := adaptersConfig{k6: env("K6", "bin/k6"), centrifugo: env("CENTRIFUGO_BINARY", "bin/centrifugo"),
		peers: env("PROTOPEERS_DIR", "xk6-massconn/engine/testdata/protopeers"), conns: 10000, pubs: 20, everyMS: 500}
	err := envInts(map[string]*int{"CONNECTIONS": &cfg.conns, "PUBS": &cfg.pubs, "EVERY_MS": &cfg.everyMS})
	if err == nil {
		err = checkBinaries(cfg.k6, cfg.centrifugo)
	}
	return runBench("bench-adapters", 300, err, stderr, func(ctx context.Context, b *bench) error { return b.adapters(ctx, cfg, stdout) })
}

func (b *bench) adapters(ctx context.Context, cfg adaptersConfig, stdout io.Writer) error {
	port, err := freeport.Loopback()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`{"client": {"insecure": true}, "http_api": {"key": "bench-key"}, "health": {"enabled": true},
 "http_server": {"address": "127.0.0.1", "port": %d}, "log": {"level": "error"}}`, port)
	if err := os.WriteFile(b.path("centrifugo.json"), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("centrifugo config: %w", err)
	}
	cf, err := launch.Start(launch.Spec{Name: "centrifugo", Log: b.path("centrifugo.log"), Bin: cfg.centrifugo,
		Args: []string{"-c", b.path("centrifugo.json")}})
	if err != nil {
		return err
	}
	defer func() { _ = cf.Stop(15 * time.Second) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := cf.WaitHealthy(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		return httpOK("http://" + addr + "/health")
	}); err != nil {
		return err
	}
	line, err := b.adapterRun(ctx, cfg, "centrifugo", "ws://"+addr+"/connection/websocket", "http://"+addr+"/api")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, line)
	if err := cf.Stop(15 * time.Second); err != nil {
		return err
	}

	sio, err := b.startPeer(ctx, launch.Spec{Name: "socket.io server", Log: b.path("sio.out"), Bin: "node",
		Args: []string{filepath.Join(cfg.peers, "server.js"), "socketio", "0"},
		Env:  []string{"PEER_KEEP_RUNNING=1", "SIO_PING_INTERVAL=25000", "SIO_PING_TIMEOUT=20000"}}, false)
	if err != nil {
		return err
	}
	defer func() { _ = sio.proc.Stop(15 * time.Second) }()
	line, err = b.adapterRun(ctx, cfg, "socketio", "ws://127.0.0.1:"+sio.wsPort+"/socket.io/", "http://127.0.0.1:"+sio.wsPort)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, line)
	return nil
}

// httpOK reports whether GET url answers 200.
func httpOK(url string) (bool, error) {
	resp, err := probeClient.Get(url)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// resultLine is the RESULT {...} line adapter-fanout.js logs at its end
// (quoted inside k6's log line, hence the unescaping).
var resultLine = regexp.MustCompile(`RESULT (\{.*?\})"?\s`)

// adapterRun runs adapter-fanout.js for one protocol and returns its
// report line.
func (b *bench) adapterRun(ctx context.Context, cfg adaptersConfig, protocol, wsURL, publish string) (string, error) {
	res, err := b.run(ctx, k6Run{name: protocol, bin: cfg.k6, args: []string{"run", "--no-color", "--quiet",
		"--summary-export", b.path(protocol + ".json"),
		"-e", "PROTOCOL=" + protocol, "-e", "WS_URL=" + wsURL, "-e", "PUBLISH=" + publish, "-e", "API_KEY=bench-key",
		"-e", "CONNECTIONS=" + strconv.Itoa(cfg.conns), "-e", "PUBS=" + strconv.Itoa(cfg.pubs), "-e", "EVERY_MS=" + strconv.Itoa(cfg.everyMS),
		"k6scripts/bench/adapter-fanout.js"}})
	if err != nil {
		return "", err
	}
	sum, err := readSummary(b.path(protocol + ".json"))
	if err != nil {
		return "", err
	}
	m := resultLine.FindStringSubmatch(res.log)
	if m == nil {
		return "", fmt.Errorf("%s: no RESULT line in the k6 log:\n%s", protocol, launch.LastLines(res.log, 20))
	}
	var r struct {
		Connections, Held, Dropped, Failed, Received, Expected int64
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(m[1], `\"`, `"`)), &r); err != nil {
		return "", fmt.Errorf("%s: RESULT line %q: %w", protocol, m[1], err)
	}
	lat := func(stat string) string {
		v, ok := sum["massconn_latency"][stat]
		if !ok || math.IsNaN(v) {
			return "nan"
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return fmt.Sprintf("%-11s connections=%d held=%d drops=%d failed=%d received=%d/%d latency p50=%sms p99=%sms max=%sms",
		protocol, r.Connections, r.Held, r.Dropped, r.Failed, r.Received, r.Expected, lat("p(50)"), lat("p(99)"), lat("max")), nil
}
