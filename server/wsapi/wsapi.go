// Package wsapi is the HTTP face of the server: the WebSocket endpoint
// /ws, the server-sent events endpoint /sse (sse.go), /healthz, /metrics
// and the live status page at /.
package wsapi

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/metrics"
	"github.com/massconn/massconn/server/pgsource"
)

// CloseHistoryPruned is the close code for ?after=POS the server cannot
// serve: the history after POS was pruned (or POS is not from this
// database). 4410 echoes HTTP 410 Gone.
const CloseHistoryPruned = 4410

// Config are the connection limits.
type Config struct {
	MaxConns         int           // over it: HTTP 503 before the upgrade
	ReadLimit        int           // largest frame a client may send; bigger: close 1009
	HandshakeTimeout time.Duration // bounds writing the upgrade response
	// Log serves ?after=POS; Encode turns its rows into messages.
	Log    Log
	Encode func(pgsource.Event) ([]byte, error)
	Logger *slog.Logger
	// AllowedOrigins, if not empty, are the only Origin header values a
	// browser may connect from (requests without Origin, i.e. not from a
	// browser, are let through).
	AllowedOrigins []string
	// AuthToken, if set, must come as "Authorization: Bearer TOKEN" or,
	// for browsers that cannot set headers, ?access_token=TOKEN.
	AuthToken string
	// PingInterval and SSEHeartbeat are the keep-alive periods the hub
	// runs with, reported on /healthz so that a benchmark can reckon the
	// keep-alive's share of the machine.
	PingInterval, SSEHeartbeat time.Duration
}

// Log is the durable, commit-ordered history of rows.
type Log interface {
	ReadLog(ctx context.Context, after int64, topics []string, limit int) ([]pgsource.Event, error)
	SequenceHead(ctx context.Context) (int64, error)
}

// Health is what /healthz reports about the database side.
type Health interface {
	State() string
	LastNotification() time.Time
	LastPos() int64
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
	// ctx ends at shutdown: resumes reading the log stop.
	ctx     context.Context
	cancel  context.CancelFunc
	history *statusHistory // the status page's chart (history.go)
	parker  *parker        // idle connections' reads (park.go)
	// accepted counts accepted connections by transport (looked up once,
	// not per accept).
	accepted [len(hub.Transports)]prometheus.Counter
}

// New builds the API.
func New(cfg Config, h *hub.Hub, m *metrics.Metrics, health Health) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &API{cfg: cfg, hub: h, metrics: m, health: health, started: time.Now()}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.upgrader = gws.NewUpgrader(events{a}, &gws.ServerOption{
		ReadMaxPayloadSize: cfg.ReadLimit,
		// Every connection holds its read buffer for life, and clients send
		// only control frames and the odd small message. A frame header
		// (at most 14 bytes) fits in bufio's 16-byte minimum, and payloads
		// at least that long bypass the buffer, so a bigger one would only
		// cost memory. (WriteBufferSize is unused by gws servers: frames
		// are built in pooled buffers.)
		ReadBufferSize:   readBufferSize,
		CheckUtf8Enabled: true,
		HandshakeTimeout: cfg.HandshakeTimeout,
		NewSession:       func() gws.SessionStorage { return &session{} },
	})
	for i, t := range hub.Transports {
		a.accepted[i] = m.TransportAccepted.WithLabelValues(t.String())
	}
	a.parker = newParker(cfg.Logger)
	m.RegisterParked(a.parker.count)
	h.RegisterOnSocketClose(a.socketClosed)
	a.history = startHistory(a)
	return a
}

// Handler routes the endpoints.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", a.serveWS)
	mux.HandleFunc("/sse", a.serveSSE)
	mux.HandleFunc("GET /healthz", a.serveHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", serveStatusPage)
	mux.HandleFunc("GET /status/history", a.history.serve)
	return mux
}

// Conns is the number of open (and opening) connections, WebSocket and
// SSE: --max-conns counts them together.
func (a *API) Conns() int64 { return a.conns.Load() }

// StartShutdown makes /ws and /sse refuse new connections.
func (a *API) StartShutdown() {
	a.closing.Store(true)
	a.cancel()
}

// reject answers a request refused on transport t with status and msg,
// counted by transport and reason.
func (a *API) reject(w http.ResponseWriter, t hub.Transport, status int, reason, msg string) {
	a.metrics.Reject(t, reason)
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}

// admission is what the guards every transport shares found in a request.
type admission struct {
	mask   uint64
	resume bool
	after  int64
}

// admit runs the checks /ws and /sse share, in order: origin, token,
// topics, the resume position (?after=POS, or for SSE a Last-Event-ID
// header, which wins: EventSource sends it when it reconnects to the URL
// it was opened with), shutdown and --max-conns. It answers a refusal
// itself, counted for transport t; on success the connection holds a
// --max-conns slot the caller must give back.
func (a *API) admit(w http.ResponseWriter, r *http.Request, t hub.Transport) (admission, bool) {
	var adm admission
	if origin := r.Header.Get("Origin"); origin != "" && len(a.cfg.AllowedOrigins) > 0 && !slices.Contains(a.cfg.AllowedOrigins, origin) {
		a.reject(w, t, http.StatusForbidden, metrics.RejectOrigin, fmt.Sprintf("origin %q is not in --allowed-origins", origin))
		return adm, false
	}
	query := r.URL.Query()
	if a.cfg.AuthToken != "" && !a.authorized(r, query.Get("access_token")) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		a.reject(w, t, http.StatusUnauthorized, metrics.RejectUnauthorized, "missing or wrong token: send 'Authorization: Bearer TOKEN' or ?access_token=TOKEN")
		return adm, false
	}
	var err error
	if adm.mask, err = a.hub.Mask(query["topic"]); err != nil {
		a.reject(w, t, http.StatusBadRequest, metrics.RejectUnknownTopic, err.Error())
		return adm, false
	}
	if id := r.Header.Get("Last-Event-ID"); t == hub.SSE && id != "" {
		adm.resume = true
		if adm.after, err = pgsource.ParsePos(id); err != nil {
			a.reject(w, t, http.StatusBadRequest, metrics.RejectBadAfter, "Last-Event-ID: "+err.Error()+"; send back the id of the last event you received")
			return adm, false
		}
	} else if query.Has("after") {
		adm.resume = true
		if len(query["after"]) > 1 {
			a.reject(w, t, http.StatusBadRequest, metrics.RejectBadAfter, "give after=POS once: the pos of the last message you received")
			return adm, false
		}
		if adm.after, err = pgsource.ParsePos(query.Get("after")); err != nil {
			a.reject(w, t, http.StatusBadRequest, metrics.RejectBadAfter, "after: "+err.Error()+"; send back the pos field of the last message you received")
			return adm, false
		}
	}
	if a.closing.Load() {
		a.reject(w, t, http.StatusServiceUnavailable, metrics.RejectShutdown, "server is shutting down; connect to another node")
		return adm, false
	}
	if n := a.conns.Add(1); a.cfg.MaxConns > 0 && n > int64(a.cfg.MaxConns) {
		a.conns.Add(-1)
		w.Header().Set("Retry-After", "1")
		a.reject(w, t, http.StatusServiceUnavailable, metrics.RejectMaxConns,
			fmt.Sprintf("server is full (--max-conns=%d); try again later or connect to another node", a.cfg.MaxConns))
		return adm, false
	}
	return adm, true
}

func (a *API) serveWS(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		a.reject(w, hub.WebSocket, http.StatusUpgradeRequired, metrics.RejectNotWebSocket,
			"/ws is a WebSocket endpoint: send GET with 'Connection: Upgrade' and 'Upgrade: websocket' headers")
		return
	}
	adm, ok := a.admit(w, r, hub.WebSocket)
	if !ok {
		return
	}
	mask, resume, after := adm.mask, adm.resume, adm.after
	// On failure gws answers 400 with its one-line reason and closes.
	socket, park, err := a.upgrade(w, r)
	if err != nil {
		a.conns.Add(-1)
		a.metrics.Reject(hub.WebSocket, metrics.RejectHandshake)
		return
	}
	// net/http may leave a deadline from reading the request headers.
	_ = socket.SetDeadline(time.Time{})
	var sub *hub.Subscriber
	if resume {
		// Joined before the log is read, so that live messages from now on
		// are held rather than missed; see resume.
		sub = a.hub.JoinCatchingUp(socket, mask, after)
		go a.resume(sub, after)
	} else {
		sub = a.hub.Join(socket, mask)
	}
	sess := socket.Session().(*session)
	sess.sub, sess.socket = sub, socket
	if park {
		// The hub found the same socket's raw access at the Join.
		sess.raw = sub.RawConn()
	}
	a.metrics.Accepted.Inc()
	a.accepted[hub.WebSocket].Inc()
	// The client has its 101 already; a shutdown that began meanwhile may
	// have sent its close frames before this Join. Checking after the Join
	// means either that sweep or this check sees the connection.
	if a.closing.Load() {
		go sub.Close(1001, "server shutting down", a.cfg.HandshakeTimeout)
	}
	// Parked, or in a fresh goroutine, so that the HTTP handler's grown
	// stack is released while the connection idles.
	a.read(sess)
}

// readBufferSize is each connection's read buffer, held for life (see
// New).
const readBufferSize = 16

// upgrade hands gws the hijacked connection wrapped in hub.QueuedConn for
// its writes, so that the frames gws writes by itself once the connection
// joined the hub (the close frame after a protocol error, the answer to a
// client's close) go through the subscriber's write queue instead of into
// a frame the hub is writing; those close frames are bounded by
// --handshake-timeout, as the server's other closes of one connection
// are. gws reads through its own reader straight from the connection, not
// through the wrapper: an idle connection's read loop waits at the bottom
// of that path on the runtime's smallest stack (2 KB), and one more frame
// on it doubled every idle connection's stack
// (TestReadLoopKeepsTheSmallestStack). It also says whether the
// connection may be parked while idle (park.go).
func (a *API) upgrade(w http.ResponseWriter, r *http.Request) (*gws.Conn, bool, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, false, fmt.Errorf("wsapi: %T cannot hand over its connection for the WebSocket", w)
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, false, err
	}
	br := bufio.NewReaderSize(c, readBufferSize)
	park := parkable(c)
	if rw != nil && rw.Reader.Buffered() > 0 {
		// net/http read past the request: keep its reader, bytes and all.
		br, park = rw.Reader, false
	}
	socket, err := a.upgrader.UpgradeFromConn(hub.NewQueuedConn(c, a.cfg.HandshakeTimeout), br, r)
	return socket, park, err
}

// resumePage is the most rows one log read sends; resumeQueued is how many
// may wait unsent before the next read, so a backlog paces itself to the
// client instead of flooding its queue.
const (
	resumePage   = 500
	resumeQueued = 256
)

// resume sends a subscriber that joined catching up every logged row after
// position after, then the live messages held meanwhile that are newer
// than the last row sent, then switches it to live. Every row committed
// before the Join is in the log when it is read; every row published after
// it is held: no gap, and the hub drops positions already sent.
func (a *API) resume(sub *hub.Subscriber, after int64) {
	ctx := a.ctx
	topics := a.hub.Topics(sub.Mask())
	head, err := a.cfg.Log.SequenceHead(ctx)
	for err != nil {
		if !a.waitRetry(ctx, sub, "reading the log head", err) {
			return
		}
		head, err = a.cfg.Log.SequenceHead(ctx)
	}
	if after > head {
		a.metrics.Resumes.WithLabelValues(metrics.ResumeAhead).Inc()
		sub.Close(CloseHistoryPruned, fmt.Sprintf("position %s is ahead of this database's log (was it reset?); reconnect without after", pgsource.FormatPos(after)), a.cfg.HandshakeTimeout)
		return
	}
	last := after
	for {
		for {
			for (sub.Pending() > resumeQueued || a.hub.Backlogged()) && !sub.Closing() && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			if sub.Closing() || ctx.Err() != nil {
				return
			}
			page, err := a.cfg.Log.ReadLog(ctx, last, topics, resumePage)
			if errors.Is(err, pgsource.ErrPruned) {
				a.metrics.Resumes.WithLabelValues(metrics.ResumePruned).Inc()
				sub.Close(CloseHistoryPruned, fmt.Sprintf("history after position %s was pruned (%v); reload and reconnect without after", pgsource.FormatPos(last), err), a.cfg.HandshakeTimeout)
				return
			}
			if err != nil {
				if !a.waitRetry(ctx, sub, "reading the log", err) {
					return
				}
				continue
			}
			for _, ev := range page {
				payload, err := a.cfg.Encode(ev)
				if err != nil {
					a.metrics.BroadcastErrors.WithLabelValues(metrics.BroadcastErrorEncode).Inc()
					continue
				}
				if !sub.Send(ev.Pos, payload) {
					return
				}
				last = ev.Pos
			}
			if len(page) < resumePage {
				break
			}
		}
		if sub.FinishCatchUp() {
			a.metrics.Resumes.WithLabelValues(metrics.ResumeOK).Inc()
			return
		}
		// Live messages overflowed the hold buffer: read on from the log.
		last = max(last, sub.LastPos())
	}
}

// waitRetry waits a second before retrying a failed log read; false if the
// subscriber or the server is going away meanwhile.
func (a *API) waitRetry(ctx context.Context, sub *hub.Subscriber, what string, err error) bool {
	if ctx.Err() != nil || sub.Closing() {
		return false
	}
	a.cfg.Logger.Warn("resume: "+what+" failed, will retry", "err", err)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Second):
	}
	return !sub.Closing()
}

func (a *API) authorized(r *http.Request, queryToken string) bool {
	token := queryToken
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = h
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(a.cfg.AuthToken)) == 1
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

// HealthReport is the /healthz body; server/client decodes the same type.
type HealthReport struct {
	Status               string   `json:"status"` // "ok", or "degraded" while the listener is down
	Connections          int64    `json:"connections"`
	Listener             string   `json:"listener"`
	LastNotificationAgeS *float64 `json:"last_notification_age_seconds"` // null before the first
	LastPos              string   `json:"last_pos"`                      // position of the last row delivered
	SendBacklog          int64    `json:"send_backlog"`                  // messages queued to clients, not yet written
	MessagesSent         uint64   `json:"messages_sent"`
	SlowClientDrops      uint64   `json:"slow_client_drops"`
	PingTimeouts         uint64   `json:"ping_timeouts"`
	UptimeSeconds        float64  `json:"uptime_seconds"`
	ShuttingDown         bool     `json:"shutting_down"`
	MaxConns             int      `json:"max_conns"`
	// The keep-alive periods: a ping (answered by a pong) per WebSocket
	// client, a comment line per SSE client; 0: off.
	PingIntervalS float64 `json:"ping_interval_seconds"`
	SSEHeartbeatS float64 `json:"sse_heartbeat_seconds"`
	// Transports splits connections and messages_sent by transport
	// ("ws", "sse"); the totals above count both.
	Transports map[string]TransportHealth `json:"transports"`
}

// TransportHealth is one transport's share of /healthz.
type TransportHealth struct {
	Connections  int64  `json:"connections"`
	MessagesSent uint64 `json:"messages_sent"`
}

// Ready reports whether the server's PostgreSQL listener is connected: a
// server answers /healthz from the start, but rows inserted before its
// listener connects are not delivered.
func (h HealthReport) Ready() bool { return h.Listener == pgsource.StateConnected }

func (a *API) serveHealth(w http.ResponseWriter, _ *http.Request) {
	st := a.hub.Stats()
	rep := HealthReport{
		Status:          "ok",
		Connections:     st.Subscribers,
		Listener:        a.health.State(),
		MessagesSent:    st.Messages,
		SlowClientDrops: st.SlowDrops,
		PingTimeouts:    st.PingTimeouts,
		UptimeSeconds:   time.Since(a.started).Seconds(),
		ShuttingDown:    a.closing.Load(),
		MaxConns:        a.cfg.MaxConns,
		PingIntervalS:   a.cfg.PingInterval.Seconds(),
		SSEHeartbeatS:   a.cfg.SSEHeartbeat.Seconds(),
		LastPos:         pgsource.FormatPos(a.health.LastPos()),
		SendBacklog:     st.Backlog,
		Transports:      map[string]TransportHealth{},
	}
	for _, t := range hub.Transports {
		ts := a.hub.StatsOf(t)
		rep.Transports[t.String()] = TransportHealth{Connections: ts.Subscribers, MessagesSent: ts.Messages}
	}
	if !rep.Ready() {
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

// OnClose frees the connection's --max-conns slot before it leaves the
// hub, so that once the hub no longer counts it, a new connection is
// admitted (TestRefusedRequestsGetAReason waits on the hub's count).
func (e events) OnClose(socket *gws.Conn, _ error) {
	e.a.conns.Add(-1)
	if sub := socket.Session().(*session).sub; sub != nil {
		e.a.hub.Leave(sub)
	}
}

// OnPing answers through the subscriber's write queue, so the pong never
// lands inside a data frame being written.
func (events) OnPing(socket *gws.Conn, payload []byte) {
	if sub := socket.Session().(*session).sub; sub != nil {
		sub.Touch()
		sub.Pong(payload)
		return
	}
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

// session (park.go) replaces gws's default map-backed session storage:
// each connection only needs to find its subscriber and its parking.
var errNoSessionKeys = errors.New("session stores no keys")

func (*session) Len() int                     { return 0 }
func (*session) Load(string) (any, bool)      { return nil, false }
func (*session) Delete(string)                {}
func (*session) Store(string, any)            { panic(errNoSessionKeys) }
func (*session) Range(func(string, any) bool) {}
