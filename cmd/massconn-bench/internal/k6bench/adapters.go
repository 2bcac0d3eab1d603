package k6bench

import (
	"context"
	"encoding/json"
	"errors"
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
CENTRIFUGO_BINARY (bin/centrifugo), PROTOPEERS_DIR (xk6-massconn/engine/testdata/protopeers),
ADAPTERS (centrifugo,socketio,mqtt: the phases to run; the raw ws:// phase always runs).
`

type adaptersConfig struct {
	k6, centrifugo, peers string
	conns, pubs, everyMS  int
	phases                map[string]bool
}

// RunAdapters is massconn-bench adapters (make bench-adapters):
// xk6-massconn's protocol adapters against real servers on this machine:
// CONNECTIONS clients of Centrifugo v6 (bin/centrifugo), of a Socket.IO 4
// server (npm socket.io, in the protopeers directory) and of Mosquitto
// (MQTT over WebSocket), PUBS publications fanned out to all of them every
// EVERY_MS; prints connections held, drops, messages received/expected,
// publish-to-client latency (k6scripts/bench/adapter-fanout.js) and k6's
// RSS per held connection, beside the same number of raw ws:// connections
// to the gws echo server. The servers run with their default ping
// intervals.
func RunAdapters(args []string, stdout, stderr io.Writer) int {
	if done, code := usageOnly("adapters", adaptersDoc, args, stderr); done {
		return code
	}
	cfg := adaptersConfig{k6: env("K6", "bin/k6"), centrifugo: env("CENTRIFUGO_BINARY", "bin/centrifugo"),
		peers: env("PROTOPEERS_DIR", "xk6-massconn/engine/testdata/protopeers"), conns: 10000, pubs: 20, everyMS: 500}
	err := envInts(map[string]*int{"CONNECTIONS": &cfg.conns, "PUBS": &cfg.pubs, "EVERY_MS": &cfg.everyMS})
	if err == nil {
		cfg.phases, err = adapterPhases(env("ADAPTERS", "centrifugo,socketio,mqtt"))
	}
	if err == nil && cfg.phases["centrifugo"] {
		err = checkBinaries(cfg.centrifugo)
	}
	if err == nil {
		err = checkBinaries(cfg.k6)
	}
	return runBench("bench-adapters", 300, err, stderr, func(ctx context.Context, b *bench) error { return b.adapters(ctx, cfg, stdout) })
}

// adapterPhases reads ADAPTERS.
func adapterPhases(list string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		switch name = strings.TrimSpace(name); name {
		case "centrifugo", "socketio", "mqtt":
			out[name] = true
		case "":
		default:
			return nil, fmt.Errorf("ADAPTERS: unknown adapter %q; known: centrifugo, socketio, mqtt", name)
		}
	}
	return out, nil
}

func (b *bench) adapters(ctx context.Context, cfg adaptersConfig, stdout io.Writer) error {
	idle, _, err := b.idle(ctx, cfg.k6, "k6scripts/bench/idle-massconn.js")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "k6 RSS per connection is (RSS once every connection is held - idle VU's %.1f MB) / connections\n", float64(idle)/1024)
	for _, phase := range []struct {
		name string
		run  func(context.Context, adaptersConfig, int64) (string, error)
	}{{"centrifugo", b.centrifugoPhase}, {"socketio", b.socketIOPhase}, {"mqtt", b.mqttPhase}, {"raw", b.rawPhase}} {
		if phase.name != "raw" && !cfg.phases[phase.name] {
			continue
		}
		line, err := phase.run(ctx, cfg, idle)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

func (b *bench) centrifugoPhase(ctx context.Context, cfg adaptersConfig, idle int64) (string, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return "", err
	}
	conf := fmt.Sprintf(`{"client": {"insecure": true}, "http_api": {"key": "bench-key"}, "health": {"enabled": true},
 "http_server": {"address": "127.0.0.1", "port": %d}, "log": {"level": "error"}}`, port)
	if err := os.WriteFile(b.path("centrifugo.json"), []byte(conf), 0o600); err != nil {
		return "", fmt.Errorf("centrifugo config: %w", err)
	}
	cf, err := launch.Start(launch.Spec{Name: "centrifugo", Log: b.path("centrifugo.log"), Bin: cfg.centrifugo,
		Args: []string{"-c", b.path("centrifugo.json")}})
	if err != nil {
		return "", err
	}
	defer func() { _ = cf.Stop(15 * time.Second) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := cf.WaitHealthy(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		return httpOK("http://" + addr + "/health")
	}); err != nil {
		return "", err
	}
	line, err := b.adapterRun(ctx, cfg, idle, "centrifugo", "ws://"+addr+"/connection/websocket", "http://"+addr+"/api")
	if err != nil {
		return "", err
	}
	err = cf.Stop(15 * time.Second)
	return line + serverCPU(cf), err
}

// serverCPU is the CPU time a stopped server spent in the whole phase.
func serverCPU(p *launch.Proc) string {
	return fmt.Sprintf(" server-cpu=%.1fs", p.CPU().Seconds())
}

func (b *bench) socketIOPhase(ctx context.Context, cfg adaptersConfig, idle int64) (string, error) {
	sio, err := b.startPeer(ctx, launch.Spec{Name: "socket.io server", Log: b.path("sio.out"), Bin: "node",
		Args: []string{filepath.Join(cfg.peers, "server.js"), "socketio", "0"},
		Env:  []string{"PEER_KEEP_RUNNING=1", "SIO_PING_INTERVAL=25000", "SIO_PING_TIMEOUT=20000"}}, false)
	if err != nil {
		return "", err
	}
	line, err := b.adapterRun(ctx, cfg, idle, "socketio", "ws://127.0.0.1:"+sio.wsPort+"/socket.io/", "http://127.0.0.1:"+sio.wsPort)
	err = errors.Join(err, sio.proc.Stop(15*time.Second))
	return line + serverCPU(sio.proc), err
}

// mqttPhase runs the MQTT adapter against Mosquitto with its default
// keep-alive (60 s).
func (b *bench) mqttPhase(ctx context.Context, cfg adaptersConfig, idle int64) (string, error) {
	m, err := b.startMosquitto(ctx)
	if err != nil {
		return "", err
	}
	line, err := b.adapterRun(ctx, cfg, idle, "mqtt", m.ws, m.bridge)
	err = errors.Join(err, m.stop())
	return line + serverCPU(m.proc), err
}

// rawPhase holds as many raw ws:// connections (no adapter, no messages)
// to the gws echo server, for the RSS they cost.
func (b *bench) rawPhase(ctx context.Context, cfg adaptersConfig, idle int64) (string, error) {
	echo, err := b.startEcho(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = echo.proc.Stop(15 * time.Second) }()
	rss, sample := heldRSS(b.path("raw.log"))
	res, err := b.run(ctx, k6Run{name: "raw", bin: cfg.k6, sample: sample, args: []string{"run", "--no-color", "--quiet",
		"-e", "WS_URL=ws://127.0.0.1:" + echo.wsPort + "/", "-e", "CONNS=" + strconv.Itoa(cfg.conns), "-e", "STEPS=none",
		"-e", "HOLD_MS=5000", "k6scripts/bench/steps-hold.js"}})
	if err != nil {
		return "", err
	}
	held, err := logInts(res.log, "held open=", "open")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%-11s connections=%d held=%d %s", "raw ws://", cfg.conns, held["open"], rssText(*rss, idle, cfg.conns)), nil
}

// heldRSS returns a sampler of k6's RSS that keeps the highest of the first
// ten samples taken once the k6 log at log says every connection is held.
func heldRSS(log string) (*int64, func(pid int)) {
	var peak int64
	samples := 0
	return &peak, func(pid int) {
		if samples >= 10 {
			return
		}
		if out, _ := os.ReadFile(log); strings.Contains(string(out), "held open=") {
			peak = max(peak, rssKB(pid))
			samples++
		}
	}
}

// rssText is k6's RSS held and per connection over the idle baseline.
func rssText(rss, idle int64, conns int) string {
	return fmt.Sprintf("rss=%.1fMB (%.0f B/conn)", float64(rss)/1024, float64(rss-idle)*1024/float64(conns))
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
func (b *bench) adapterRun(ctx context.Context, cfg adaptersConfig, idle int64, protocol, wsURL, publish string) (string, error) {
	rss, sample := heldRSS(b.path(protocol + ".log"))
	res, err := b.run(ctx, k6Run{name: protocol, bin: cfg.k6, sample: sample, args: []string{"run", "--no-color", "--quiet",
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
	return fmt.Sprintf("%-11s connections=%d held=%d drops=%d failed=%d received=%d/%d latency p50=%sms p99=%sms max=%sms %s k6-cpu=%.1fs",
		protocol, r.Connections, r.Held, r.Dropped, r.Failed, r.Received, r.Expected, lat("p(50)"), lat("p(99)"), lat("max"),
		rssText(*rss, idle, cfg.conns), res.cpu.Seconds()), nil
}
