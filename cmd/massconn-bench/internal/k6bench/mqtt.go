package k6bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/launch"
)

// mosquitto is the MQTT phase's broker: Mosquitto from Debian with a
// WebSocket listener for k6 and a plain TCP one for its own clients, and,
// in this process, an HTTP bridge that adapter-fanout.js calls the way it
// calls the Socket.IO peer: GET /count is the broker's subscription count
// ($SYS/broker/subscriptions/count, updated every second), POST /publish
// publishes one {"ts":<ms>} to the topic "bench" through mosquitto_pub.
type mosquitto struct {
	ws, bridge string // ws:// URL of the broker, http:// base of the bridge
	tcp        int
	proc       *launch.Proc
	pub        *exec.Cmd
	pubIn      io.WriteCloser
	pubMu      sync.Mutex
	srv        *http.Server
}

func (b *bench) startMosquitto(ctx context.Context) (*mosquitto, error) {
	ws, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	m := &mosquitto{ws: fmt.Sprintf("ws://127.0.0.1:%d/", ws)}
	if m.tcp, err = freeport.Loopback(); err != nil {
		return nil, err
	}
	// The WebSocket listener names the loopback interface, not 127.0.0.1,
	// which Debian's mosquitto 2.0.11 refuses on a host with IPv6 (see
	// xk6-massconn/internal/mosquittotest).
	conf := fmt.Sprintf("per_listener_settings false\npersistence false\nlog_type error\nallow_anonymous true\n"+
		"max_connections -1\nsys_interval 1\nlistener %d lo\nprotocol websockets\nsocket_domain ipv4\nlistener %d 127.0.0.1\nprotocol mqtt\n", ws, m.tcp)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	if err := os.WriteFile(b.path("mosquitto.conf"), []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("mosquitto config: %w", err)
	}
	if m.proc, err = launch.Start(launch.Spec{Name: "mosquitto", Log: b.path("mosquitto.log"), Bin: "mosquitto",
		Args: []string{"-c", b.path("mosquitto.conf")}}); err != nil {
		return nil, err
	}
	if err := m.proc.WaitHealthy(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.tcp))
		if err != nil {
			return false, nil //nolint:nilerr // not listening yet
		}
		c.Close()
		return true, nil
	}); err != nil {
		_ = m.stop()
		return nil, err
	}
	if err := m.startBridge(); err != nil {
		_ = m.stop()
		return nil, err
	}
	return m, nil
}

// startBridge starts mosquitto_pub -l (a line on its stdin is one
// publication) and the HTTP bridge.
func (m *mosquitto) startBridge() error {
	m.pub = exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(m.tcp), "-t", "bench", "-l")
	var err error
	if m.pubIn, err = m.pub.StdinPipe(); err != nil {
		return err
	}
	if err := m.pub.Start(); err != nil {
		return fmt.Errorf("mosquitto_pub: %w", err)
	}
	port, err := freeport.Loopback()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		out, err := exec.CommandContext(r.Context(), "mosquitto_sub", "-h", "127.0.0.1", "-p", strconv.Itoa(m.tcp),
			"-t", "$SYS/broker/subscriptions/count", "-C", "1", "-W", "5").Output()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, strings.TrimSpace(string(out)))
	})
	mux.HandleFunc("/publish", func(w http.ResponseWriter, _ *http.Request) {
		m.pubMu.Lock()
		_, err := fmt.Fprintf(m.pubIn, "{\"ts\":%d}\n", time.Now().UnixMilli())
		m.pubMu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	})
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.srv.Serve(l) }()
	m.bridge = fmt.Sprintf("http://127.0.0.1:%d", port)
	return nil
}

// stop ends the bridge, mosquitto_pub and the broker.
func (m *mosquitto) stop() error {
	var errs []error
	if m.srv != nil {
		errs = append(errs, m.srv.Close())
	}
	if m.pub != nil {
		_ = m.pubIn.Close() // mosquitto_pub -l exits at the end of its input
		errs = append(errs, m.pub.Wait())
	}
	errs = append(errs, m.proc.Stop(15*time.Second))
	return errors.Join(errs...)
}
