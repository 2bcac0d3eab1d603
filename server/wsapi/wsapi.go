// Package wsapi is the HTTP face of the server: the WebSocket endpoint
// /ws, /healthz, /metrics and the live status page at /.
package wsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/metrics"
)

// Config are the connection limits.
type Config struct {
	MaxConns         int           // over it: HTTP 503 before the upgrade
	ReadLimit        int           // largest frame a client may send; bigger: close 1009
	HandshakeTimeout time.Duration // bounds writing the upgrade response
}

// Health is what /healthz reports about the database side.
type Health interface {
	State() string
	LastNotification() time.Time
}

// API serves the HTTP endpoints.
type API struct {
	cfg      Config
	hub      *hub.Hub
	metrics  *metrics.Metrics
	health   Health
	upgrader *gws.Upgrader
	conns    atomic.Int64 // upgraded plus in-progress upgrades
	closing  atomic.Bool
	started  time.Time
	history  *statusHistory // the status page's chart (history.go)
}

// New builds the API.
func New(cfg Config, h *hub.Hub, m *metrics.Metrics, health Health) *API {
	a := &API{cfg: cfg, hub: h, metrics: m, health: health, started: time.Now()}
	a.upgrader = gws.NewUpgrader(events{a}, &gws.ServerOption{
		ReadMaxPayloadSize: cfg.ReadLimit,
		// Every connection holds its read buffer for life, and clients send
		// only control frames and the odd small message. A frame header
		// (at most 14 bytes) fits in bufio's 16-byte minimum, and payloads
		// at least that long bypass the buffer, so a bigger one would only
		// cost memory. (WriteBufferSize is unused by gws servers: frames
		// are built in pooled buffers.)
		ReadBufferSize:   16,
		CheckUtf8Enabled: true,
		HandshakeTimeout: cfg.HandshakeTimeout,
		NewSession:       func() gws.SessionStorage { return &session{} },
	})
	a.history = startHistory(a)
	return a
}

// Handler routes the endpoints.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", a.serveWS)
	mux.HandleFunc("GET /healthz", a.serveHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", serveStatusPage)
	mux.HandleFunc("GET /status/history", a.history.serve)
	return mux
}

// Conns is the number of open (and opening) WebSocket connections.
func (a *API) Conns() int64 { return a.conns.Load() }

// StartShutdown makes /ws refuse new connections.
func (a *API) StartShutdown() { a.closing.Store(true) }

func (a *API) reject(w http.ResponseWriter, status int, reason, msg string) {
	a.metrics.Rejected.WithLabelValues(reason).Inc()
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}

func (a *API) serveWS(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		a.reject(w, http.StatusUpgradeRequired, metrics.RejectNotWebSocket,
			"/ws is a WebSocket endpoint: send GET with 'Connection: Upgrade' and 'Upgrade: websocket' headers")
		return
	}
	mask, err := a.hub.Mask(r.URL.Query()["topic"])
	if err != nil {
		a.reject(w, http.StatusBadRequest, metrics.RejectUnknownTopic, err.Error())
		return
	}
	if a.closing.Load() {
		a.reject(w, http.StatusServiceUnavailable, metrics.RejectShutdown, "server is shutting down; connect to another node")
		return
	}
	if n := a.conns.Add(1); a.cfg.MaxConns > 0 && n > int64(a.cfg.MaxConns) {
		a.conns.Add(-1)
		w.Header().Set("Retry-After", "1")
		a.reject(w, http.StatusServiceUnavailable, metrics.RejectMaxConns,
			fmt.Sprintf("server is full (--max-conns=%d); try again later or connect to another node", a.cfg.MaxConns))
		return
	}
	// On failure gws answers 400 with its one-line reason and closes.
	socket, err := a.upgrader.Upgrade(w, r)
	if err != nil {
		a.conns.Add(-1)
		a.metrics.Rejected.WithLabelValues(metrics.RejectHandshake).Inc()
		return
	}
	// net/http may leave a deadline from reading the request headers.
	_ = socket.SetDeadline(time.Time{})
	sub := a.hub.Join(socket, mask)
	socket.Session().(*session).sub = sub
	a.metrics.Accepted.Inc()
	// The client has its 101 already; a shutdown that began meanwhile may
	// have sent its close frames before this Join. Checking after the Join
	// means either that sweep or this check sees the connection.
	if a.closing.Load() {
		go sub.Close(1001, "server shutting down", a.cfg.HandshakeTimeout)
	}
	// A fresh goroutine, so the HTTP handler's grown stack is released
	// while the connection idles.
	go socket.ReadLoop()
}

func isUpgrade(r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range strings.Split(r.Header.Get("Connection"), ",") {
		if strings.EqualFold(strings.TrimSpace(v), "upgrade") {
			return true
		}
	}
	return false
}

// healthReport is the /healthz body.
type healthReport struct {
	Status               string   `json:"status"` // "ok", or "degraded" while the listener is down
	Connections          int64    `json:"connections"`
	Listener             string   `json:"listener"`
	LastNotificationAgeS *float64 `json:"last_notification_age_seconds"` // null before the first
	MessagesSent         uint64   `json:"messages_sent"`
	SlowClientDrops      uint64   `json:"slow_client_drops"`
	PingTimeouts         uint64   `json:"ping_timeouts"`
	UptimeSeconds        float64  `json:"uptime_seconds"`
	ShuttingDown         bool     `json:"shutting_down"`
	MaxConns             int      `json:"max_conns"`
}

func (a *API) serveHealth(w http.ResponseWriter, _ *http.Request) {
	st := a.hub.Stats()
	rep := healthReport{
		Status:          "ok",
		Connections:     st.Subscribers,
		Listener:        a.health.State(),
		MessagesSent:    st.Messages,
		SlowClientDrops: st.SlowDrops,
		PingTimeouts:    st.PingTimeouts,
		UptimeSeconds:   time.Since(a.started).Seconds(),
		ShuttingDown:    a.closing.Load(),
		MaxConns:        a.cfg.MaxConns,
	}
	if rep.Listener != "connected" {
		rep.Status = "degraded"
	}
	if t := a.health.LastNotification(); !t.IsZero() {
		age := time.Since(t).Seconds()
		rep.LastNotificationAgeS = &age
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(rep)
}

// events are the gws callbacks for every connection.
type events struct{ a *API }

func (events) OnOpen(*gws.Conn) {}

func (e events) OnClose(socket *gws.Conn, _ error) {
	if sub := socket.Session().(*session).sub; sub != nil {
		e.a.hub.Leave(sub)
	}
	e.a.conns.Add(-1)
}

func (events) OnPing(socket *gws.Conn, payload []byte) {
	touch(socket)
	_ = socket.WritePong(payload)
}

func (events) OnPong(socket *gws.Conn, _ []byte) { touch(socket) }

// OnMessage: the protocol is server-to-client; what clients send only
// proves they are alive.
func (events) OnMessage(socket *gws.Conn, msg *gws.Message) {
	touch(socket)
	_ = msg.Close()
}

func touch(socket *gws.Conn) {
	if sub := socket.Session().(*session).sub; sub != nil {
		sub.Touch()
	}
}

// session replaces gws's default map-backed session storage: each
// connection only needs to find its subscriber.
type session struct{ sub *hub.Subscriber }

var errNoSessionKeys = errors.New("session stores no keys")

func (*session) Len() int                     { return 0 }
func (*session) Load(string) (any, bool)      { return nil, false }
func (*session) Delete(string)                {}
func (*session) Store(string, any)            { panic(errNoSessionKeys) }
func (*session) Range(func(string, any) bool) {}
