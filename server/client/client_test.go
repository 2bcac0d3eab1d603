package client

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/pgtest"
	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/internal/wstest"
	"github.com/massconn/massconn/server/metrics"
	"github.com/massconn/massconn/server/pgsource"
	"github.com/massconn/massconn/server/wsapi"
)

// listenerState is a wsapi.Health whose listener state the test sets.
type listenerState struct{ state atomic.Value }

func (l *listenerState) State() string               { return l.state.Load().(string) }
func (l *listenerState) LastNotification() time.Time { return time.Time{} }
func (l *listenerState) LastPos() int64              { return 0 }

// startAPI serves the real wsapi handler on a free loopback port with a
// listener state the test sets (/healthz only: /metrics needs a source).
func startAPI(t *testing.T) (addr string, listener *listenerState) {
	t.Helper()
	h, err := hub.New(hub.Options{Topics: []string{"Track"}})
	if err != nil {
		t.Fatal(err)
	}
	listener = &listenerState{}
	listener.state.Store(pgsource.StateStarting)
	api := wsapi.New(wsapi.Config{HandshakeTimeout: 5 * time.Second, ReadLimit: 1 << 16}, h, metrics.New(h, nil), listener)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(api.StartShutdown)
	t.Cleanup(api.Close)
	return strings.TrimPrefix(srv.URL, "http://"), listener
}

// A server answers /healthz before its listener connects: it is not ready
// until the listener is.
func TestReadyFollowsTheListener(t *testing.T) {
	addr, listener := startAPI(t)
	c := New(addr, 0)
	ctx := context.Background()
	h, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Ready() || h.Listener != pgsource.StateStarting || h.Status != "degraded" {
		t.Fatalf("before the listener connects: %+v, ready %v", h, h.Ready())
	}
	if ready, err := c.Ready(ctx); err != nil || ready {
		t.Fatalf("Ready before the listener connects = %v, %v", ready, err)
	}
	listener.state.Store(pgsource.StateDisconnected)
	if ready, err := c.Ready(ctx); err != nil || ready {
		t.Fatalf("Ready with the listener disconnected = %v, %v", ready, err)
	}
	listener.state.Store(pgsource.StateConnected)
	if err := c.WaitReady(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if h, err := c.Health(ctx); err != nil || !h.Ready() || h.Status != "ok" {
		t.Fatalf("listener connected: %+v, %v", h, err)
	}
}

// Against a real server (real PostgreSQL): once ready, /healthz and
// /metrics both count the one open WebSocket connection.
func TestHealthAndMetricsOfARealServer(t *testing.T) {
	pg := pgtest.Start(t)
	cfg := app.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DatabaseURL = pg.URL()
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Logger = slog.New(slog.DiscardHandler)
	a, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	c := New(a.Addr(), 0)
	if err := c.WaitReady(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	conn := wstest.RawHandshake(t, a.Addr(), "/ws?topic="+pgsource.Tables[0], nil)
	defer conn.Close()
	// The hub counts the connection once its read loop has joined it,
	// just after the handshake's reply.
	h, err := c.Health(ctx)
	for err == nil && h.Connections == 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		h, err = c.Health(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !h.Ready() || h.Status != "ok" || h.Connections != 1 {
		t.Fatalf("with one connection and the listener connected: %+v", h)
	}
	m, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := m.Value("massconn_connections"); err != nil || v != 1 {
		t.Fatalf("massconn_connections = %v, %v; want 1", v, err)
	}
	if v, err := m.Value("massconn_connections_accepted_total"); err != nil || v != 1 {
		t.Fatalf("massconn_connections_accepted_total = %v, %v; want 1", v, err)
	}
	if v, err := m.Value("process_resident_memory_bytes"); err != nil || v <= 0 {
		t.Fatalf("process_resident_memory_bytes = %v, %v", v, err)
	}
	if _, err := m.Value("no_such_metric"); !errors.Is(err, ErrNoSample) {
		t.Fatalf("absent metric: %v, want ErrNoSample", err)
	}
	text, err := c.MetricsText(ctx)
	if err != nil || !strings.Contains(string(text), "# TYPE massconn_connections gauge") {
		t.Fatalf("metrics text: %v\n%.300s", err, text)
	}
}

// WaitReady gives up when its context ends and says what the server last
// reported.
func TestWaitReadyNamesTheListenerState(t *testing.T) {
	addr, _ := startAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := New(addr, 0).WaitReady(ctx, 10*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "listener is starting") {
		t.Fatalf("WaitReady on a server whose listener stays down: %v", err)
	}
}

// Something else on the port (no massconn server, or an error page) is an
// error naming the address and the HTTP status, not a zero report.
func TestHealthOfSomethingElse(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, err := New(addr, 0).Health(context.Background())
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("health of a 404: %v", err)
	}
	if ready, err := New(addr, 0).Ready(context.Background()); ready || err == nil {
		t.Fatalf("Ready of a 404 = %v, %v", ready, err)
	}
}

func TestMetricsValueAndSum(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(`# TYPE massconn_connections_rejected_total counter
massconn_connections_rejected_total{reason="max_conns",transport="sse"} 1
massconn_connections_rejected_total{reason="max_conns",transport="ws"} 2
massconn_connections_rejected_total{reason="unknown_topic",transport="ws"} 4
# TYPE go_goroutines gauge
go_goroutines 12
# TYPE plain untyped
plain 5 1700000000000
`))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := m.Value("go_goroutines"); err != nil || v != 12 {
		t.Errorf("gauge = %v, %v", v, err)
	}
	if v, err := m.Value("plain"); err != nil || v != 5 {
		t.Errorf("untyped with a timestamp = %v, %v", v, err)
	}
	if _, err := m.Value("massconn_connections_rejected_total"); !errors.Is(err, ErrNoSample) {
		t.Errorf("labelled only: %v, want ErrNoSample", err)
	}
	if s := m.Sum("massconn_connections_rejected_total"); s != 7 {
		t.Errorf("sum over labels = %v, want 7", s)
	}
	if by := m.SumByLabel("massconn_connections_rejected_total", "reason"); len(by) != 2 || by["max_conns"] != 3 || by["unknown_topic"] != 4 {
		t.Errorf("by reason (over both transports) = %v, want max_conns 3, unknown_topic 4", by)
	}
	if by := m.SumByLabel("massconn_connections_rejected_total", "transport"); len(by) != 2 || by["ws"] != 6 || by["sse"] != 1 {
		t.Errorf("by transport = %v, want ws 6, sse 1", by)
	}
	if by := m.SumByLabel("go_goroutines", "reason"); len(by) != 0 {
		t.Errorf("by a label the metric lacks = %v, want none", by)
	}
	if s := m.Sum("absent"); s != 0 {
		t.Errorf("sum of an absent metric = %v", s)
	}
	if _, err := ParseMetrics(strings.NewReader("go_goroutines twelve\n")); err == nil {
		t.Error("a value that is not a number parsed")
	}
}

// FuzzParseMetrics: whatever a server (or something else on its port)
// sends, parsing returns families or an error, and reading them never
// panics.
func FuzzParseMetrics(f *testing.F) {
	f.Add("# TYPE go_goroutines gauge\ngo_goroutines 12\n")
	f.Add("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 3\n")
	f.Add("x{a=\"b\"} 1 2\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseMetrics(strings.NewReader(text))
		if err != nil {
			return
		}
		for name := range m {
			_ = m.Sum(name)
			_, _ = m.Value(name)
			_ = m.SumByLabel(name, "reason")
		}
	})
}
