package k6bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/internal/procfs"
)

const tlsDoc = `Environment: STOCK_CONNS (2000), MASSCONN_CONNS (12000), MASSCONN_LOCAL_ADDRS (127.0.0.1,127.0.0.2),
HOLD_MS (15000), TLS_CURVES (Go's default; e.g. X25519), SCHEMES ("ws wss"), STOCK_K6 (bin/k6-stock), K6 (bin/k6),
K6_TIMEOUT (240), K6_VERSION, XK6.
`

// RunTLS is massconn-bench k6-tls (make bench-k6-tls): ws:// against
// wss://, stock k6 against k6 with xk6-massconn, in one run against the gws
// echo server of massconn-engine-bench (-serve; ws:// on one port, wss://
// on another, TLS 1.3, a fresh self-signed ECDSA P-256 certificate that
// both k6 binaries trust through SSL_CERT_FILE). Per phase: k6 RSS per held
// connection, net of the binary's idle baseline ("peak" right after the
// connections opened, "end" after HOLD_MS of holding) and connections
// (handshakes) established per second, with k6's and the server's CPU.
func RunTLS(args []string, stdout, stderr io.Writer) int {
	if done, code := usageOnly("k6-tls", tlsDoc, args, stderr); done {
		return code
	}
	cfg := tlsConfig{k6: env("K6", "bin/k6"), stockConns: 2000, massconnConns: 12000, holdMS: 15000,
		localAddrs: envSet("MASSCONN_LOCAL_ADDRS", "127.0.0.1,127.0.0.2"), curves: os.Getenv("TLS_CURVES"),
		schemes: strings.Fields(env("SCHEMES", "ws wss"))}
	err := envInts(map[string]*int{"STOCK_CONNS": &cfg.stockConns, "MASSCONN_CONNS": &cfg.massconnConns, "HOLD_MS": &cfg.holdMS})
	for _, s := range cfg.schemes {
		if err == nil && s != "ws" && s != "wss" {
			err = fmt.Errorf("SCHEMES=%q: use ws, wss or both", strings.Join(cfg.schemes, " "))
		}
	}
	if err == nil && (cfg.stockConns == 0 || cfg.massconnConns == 0) {
		err = errors.New("STOCK_CONNS and MASSCONN_CONNS must be at least 1")
	}
	if err == nil {
		err = checkBinaries(cfg.k6)
	}
	return runBench("bench-k6-tls", 240, err, stderr, func(ctx context.Context, b *bench) error { return b.tls(ctx, cfg, stdout) })
}

type tlsConfig struct {
	k6                        string
	stockConns, massconnConns int
	holdMS                    int
	localAddrs, curves        string
	schemes                   []string
}

// tlsRow is one phase of the TLS benchmark: a client on a scheme.
type tlsRow struct {
	scheme string
	holdResult
}

func (b *bench) tls(ctx context.Context, cfg tlsConfig, stdout io.Writer) error {
	stock, err := b.stockK6(ctx)
	if err != nil {
		return err
	}
	tlsDir := b.path("tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		return fmt.Errorf("certificate directory: %w", err)
	}
	echo, err := b.startEcho(ctx, "-tls-dir", tlsDir, "-tls-curves", cfg.curves)
	if err != nil {
		return err
	}
	defer func() { _ = echo.proc.Stop(15 * time.Second) }()
	nofile, err := procfs.OpenFileLimit(0)
	if err != nil {
		return err
	}
	curves := cfg.curves
	if curves == "" {
		curves = "Go default (X25519MLKEM768 first)"
	}
	fmt.Fprintf(stdout, "== massconn k6 ws/wss benchmark: %s, %d cores, RLIMIT_NOFILE %d\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), runtime.NumCPU(), nofile)
	fmt.Fprintf(stdout, "server: gws echo (massconn-engine-bench -serve), ws:// :%s and wss:// :%s, TLS 1.3, ECDSA P-256, key exchange %s\n",
		echo.wsPort, echo.tlsPort, curves)

	stockIdle, _, err := b.idle(ctx, stock, "k6scripts/bench/idle-stock.js")
	if err != nil {
		return err
	}
	mcIdle, _, err := b.idle(ctx, cfg.k6, "k6scripts/bench/idle-massconn.js")
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + echo.wsPort
	var rows []tlsRow
	for _, scheme := range cfg.schemes {
		port := echo.wsPort
		if scheme == "wss" {
			port = echo.tlsPort
		}
		holdEnv := func(conns int) []string {
			return []string{"CONNS=" + strconv.Itoa(conns), "HOLD_UNTIL_MS=" + strconv.Itoa(cfg.holdMS),
				"WS_URL=" + scheme + "://127.0.0.1:" + port + "/", "SSL_CERT_FILE=" + tlsDir + "/cert.pem"}
		}
		st, stRes, err := b.hold(ctx, "stock-"+scheme, stock, "k6scripts/bench/stock-hold.js", cfg.stockConns, echo.proc.PID(), addr, holdEnv(cfg.stockConns))
		if err != nil {
			return err
		}
		sum, err := readSummary(b.path("stock-" + scheme + "-summary.json"))
		if err != nil {
			return err
		}
		opened, err1 := sum.get("bench_opened_at", "count")
		lastMS, err2 := sum.get("bench_opened_at", "max")
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		st.name, st.idle, st.open, st.ms = "stock", stockIdle, int64(opened), int64(lastMS)
		st.errors = int64(strings.Count(stRes.log, "BENCH error"))
		rows = append(rows, tlsRow{scheme, st})
		if err := waitConns(ctx, addr, 0, 60*time.Second); err != nil {
			return err
		}

		mc, mcRes, err := b.hold(ctx, "massconn-"+scheme, cfg.k6, "k6scripts/bench/massconn-hold.js", cfg.massconnConns, echo.proc.PID(), addr,
			append(holdEnv(cfg.massconnConns), "LOCAL_ADDRS="+cfg.localAddrs))
		if err != nil {
			return err
		}
		f, err := logInts(mcRes.log, "BENCH open=", "open", "connect_ms", "failed")
		if err != nil {
			return err
		}
		mc.name, mc.idle, mc.open, mc.ms, mc.errors = "massconn", mcIdle, f["open"], f["connect_ms"], f["failed"]
		rows = append(rows, tlsRow{scheme, mc})
		if err := waitConns(ctx, addr, 0, 60*time.Second); err != nil {
			return err
		}
	}
	printTLSReport(stdout, rows)
	return nil
}

func printTLSReport(w io.Writer, rows []tlsRow) {
	netEnd := map[[2]string]float64{}
	rate := map[[2]string]float64{}
	for _, r := range rows {
		n := float64(r.open)
		key := [2]string{r.name, r.scheme}
		netEnd[key] = float64(r.end-r.idle) * 1024 / n
		rate[key] = n * 1000 / float64(r.ms)
		fmt.Fprintf(w, "%-8s %-3s %6d held (%d errors)  RSS net per conn: %6.0f B at the end of the hold, %6.0f B peak  (held %.1f MiB, idle %.1f MiB)\n",
			r.name, r.scheme, r.open, r.errors, netEnd[key], float64(r.peak-r.idle)*1024/n, float64(r.end)/1024, float64(r.idle)/1024)
		fmt.Fprintf(w, "                      %6.0f conns/s established (%d in %d ms); CPU k6 %.2fs (%.0f us/conn), server %.2fs (%.0f us/conn)\n",
			rate[key], r.open, r.ms, secs(r.cpu), perConnUS(r.cpu, r.open), secs(r.serverCPU), perConnUS(r.serverCPU, r.open))
	}
	for _, sc := range []string{"ws", "wss"} {
		if _, ok := rate[[2]string{"stock", sc}]; !ok {
			continue
		}
		fmt.Fprintf(w, "ratios %-3s RSS per conn stock/massconn %.0fx; connect rate massconn/stock %.1fx\n",
			sc, netEnd[[2]string{"stock", sc}]/netEnd[[2]string{"massconn", sc}], rate[[2]string{"massconn", sc}]/rate[[2]string{"stock", sc}])
	}
	if mRate, ok := rate[[2]string{"massconn", "wss"}]; ok {
		mNet := netEnd[[2]string{"massconn", "wss"}]
		fmt.Fprintf(w, "goals wss  RSS per conn <= 4096 B: %s (%.0f B); handshakes >= 4000/s: %s (%.0f/s)\n",
			metOrMissed(mNet <= 4096), mNet, metOrMissed(mRate >= 4000), mRate)
	}
	cores := runtime.NumCPU()
	fmt.Fprintln(w, "notes: RSS is user-space VmRSS of the k6 process, net of its idle baseline (kernel socket memory is not in it).")
	fmt.Fprintln(w, "       stock rate = connections / time from scenario start to the last onopen; massconn rate = open / duration of connect().")
	fmt.Fprintf(w, "       k6 and the server share the same %d cores: a handshake rate is bounded by their CPU per handshake together.\n", cores)
}
