// Package app wires the server together: PostgreSQL source -> message
// encoding -> hub, and the HTTP API in front of the hub.
package app

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/metrics"
	"github.com/massconn/massconn/server/pgsource"
	"github.com/massconn/massconn/server/wsapi"
	"golang.org/x/sys/unix"
)

// App is a running server.
type App struct {
	cfg     Config
	log     *slog.Logger
	db      *sql.DB
	hub     *hub.Hub
	source  *pgsource.Source
	api     *wsapi.API
	metrics *metrics.Metrics
	http    *http.Server
	ln      net.Listener
	tls     bool

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	serveErr chan error
	stopOnce sync.Once
}

// Start migrates the schema, listens on cfg.Listen and starts delivering.
func Start(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 2 * cfg.PingInterval
	}
	if cfg.SlowAfter <= 0 {
		cfg.SlowAfter = hub.DefaultSlowAfter
	}
	tlsConfig, err := loadTLS(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	dsn, err := pgsource.WithConnectTimeout(cfg.DatabaseURL, pgsource.DefaultConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	db, err := pgsource.OpenDB(dsn, pgsource.NewDialer())
	if err != nil {
		return nil, fmt.Errorf("open --database-url: %w", err)
	}
	db.SetMaxOpenConns(8)
	migrateCtx, cancelMigrate := context.WithTimeout(ctx, 30*time.Second)
	err = pgsource.Migrate(migrateCtx, db)
	cancelMigrate()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database at --database-url: %w", err)
	}
	var m *metrics.Metrics
	broadcastError := func(reason string, err error) {
		m.BroadcastErrors.WithLabelValues(reason).Inc()
		cfg.Logger.Warn("row not sent", "reason", reason, "err", err)
	}
	h, err := hub.New(hub.Options{
		Shards: cfg.Shards, Topics: pgsource.Tables, QueueLimit: cfg.QueueLimit, SlowAfter: cfg.SlowAfter,
		OnError: func(err error) { broadcastError(broadcastErrorReason(err), err) },
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	src := pgsource.New(dsn, db, cfg.Logger)
	m = metrics.New(h, src)
	api := wsapi.New(wsapi.Config{
		MaxConns:         cfg.MaxConns,
		ReadLimit:        cfg.ReadLimit,
		HandshakeTimeout: cfg.HandshakeTimeout,
		Log:              src,
		Encode:           Encode,
		Logger:           cfg.Logger,
		AllowedOrigins:   cfg.AllowedOrigins,
		AuthToken:        cfg.AuthToken,
		PingInterval:     cfg.PingInterval,
		SSEHeartbeat:     cfg.SSEHeartbeat,
	}, h, m, src)
	// No TCP keepalive: pings (--ping-interval) find dead peers, and the
	// keepalive options cost three setsockopt calls per accepted
	// connection.
	ln, err := (&net.ListenConfig{KeepAlive: -1, Control: deferAccept}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		api.Close()
		db.Close()
		return nil, fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	if limit := OpenFileLimit(); limit > 0 {
		if cfg.MaxConns > limit-fdHeadroom(limit) {
			cfg.Logger.Warn("--max-conns is above what the open-file limit allows; past it accepts fail instead of answering 503",
				"max_conns", cfg.MaxConns, "open_file_limit", limit, "headroom", fdHeadroom(limit))
		} else {
			cfg.Logger.Info("connection limit", "max_conns", cfg.MaxConns, "open_file_limit", limit, "headroom", fdHeadroom(limit))
		}
	}
	if tlsConfig != nil {
		// The TLS handshake runs in the goroutine that reads the first
		// request (wsapi.Listen), bounded by --handshake-timeout like it.
		ln = tls.NewListener(ln, tlsConfig)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &App{
		cfg: cfg, log: cfg.Logger, db: db, hub: h, source: src, api: api, metrics: m,
		ln:       &acceptCounter{Listener: ln, log: cfg.Logger, errors: m.AcceptErrors.Inc},
		tls:      tlsConfig != nil,
		cancel:   cancel,
		serveErr: make(chan error, 1),
		http: &http.Server{
			Handler: api.Handler(),
			// Bounds the whole handshake request; gws bounds the response.
			ReadHeaderTimeout: cfg.HandshakeTimeout,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		},
	}
	pub := &publisher{hub: h, lag: m.Lag, errored: broadcastError, closeAll: func(code uint16, reason string) {
		now := time.Now()
		h.CloseAll(code, reason, now.Add(time.Second), now.Add(5*time.Second), time.Second)
	}}
	a.wg.Go(func() {
		if err := src.Run(runCtx, pub); err != nil {
			a.log.Error("postgres source stopped", "err", err)
		}
	})
	a.wg.Go(func() { a.pingLoop(runCtx) })
	a.wg.Go(func() { a.slowLoop(runCtx) })
	a.wg.Go(func() { a.memoryLoop(runCtx) })
	if cfg.History > 0 {
		a.wg.Go(func() { a.pruneLoop(runCtx) })
	}
	go func() {
		// /ws requests skip net/http (wsapi.Listen); the rest it serves.
		if err := a.http.Serve(a.api.Listen(a.ln)); !errors.Is(err, http.ErrServerClosed) {
			a.serveErr <- err
		}
		close(a.serveErr)
	}()
	return a, nil
}

// loadTLS reads the certificate and key; neither set means plain HTTP.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key go together: give both PEM files, or neither for plain ws://")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", certFile, keyFile, err)
	}
	// HTTP/1.1 only: a WebSocket upgrade needs it (no HTTP/2 extended CONNECT here).
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}, nil
}

// deferAccept asks the kernel to hand over a connection only once its
// first bytes (the request) have arrived: the accept loop then finds the
// request whole and answers it without a goroutine (wsapi.serveArrived),
// and no accepted connection waits idle for its client. A client that
// sends nothing is accepted anyway after about a second.
func deferAccept(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("TCP_DEFER_ACCEPT: %w", serr)
	}
	return nil
}

// acceptCounter reports failed accepts, which http.Server only retries:
// at the open-file limit they are the only sign that clients are waiting.
type acceptCounter struct {
	net.Listener
	log    *slog.Logger
	errors func()
}

func (l *acceptCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		l.errors()
		l.log.Warn("accept failed; lower --max-conns or raise the open-file limit (ulimit -n) if this repeats", "err", err)
	}
	return c, err
}

// Addr is the address the server listens on.
func (a *App) Addr() string { return a.ln.Addr().String() }

// TLS reports whether the server speaks wss:// (--tls-cert/--tls-key).
func (a *App) TLS() bool { return a.tls }

// Source exposes the PostgreSQL source (for tests and health).
func (a *App) Source() *pgsource.Source { return a.source }

// Hub exposes the hub (for tests).
func (a *App) Hub() *hub.Hub { return a.hub }

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config, ready func(*App)) error {
	a, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(a)
	}
	select {
	case <-ctx.Done():
	case err := <-a.serveErr:
		if err != nil {
			_ = a.Shutdown()
			return fmt.Errorf("http server: %w", err)
		}
	}
	return a.Shutdown()
}

// Shutdown refuses new connections, stops the source, gives the frames
// already queued part of ShutdownTimeout to be written, sends every client
// close 1001 and waits (up to ShutdownTimeout in all) for them to go.
func (a *App) Shutdown() error {
	var err error
	a.stopOnce.Do(func() {
		start := time.Now()
		deadline := start.Add(a.cfg.ShutdownTimeout)
		a.api.StartShutdown()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		// Stops accepting; hijacked WebSocket connections are ours to close.
		if e := a.http.Shutdown(ctx); e != nil {
			err = fmt.Errorf("http shutdown: %w", e)
		}
		// No new rows: the source stops (it cannot hang on its listener),
		// and the background loops with it.
		a.cancel()
		stopped := make(chan struct{})
		go func() { a.wg.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			a.log.Warn("postgres source did not stop in time")
		}
		n := a.hub.Len()
		backlog := a.hub.Stats().Backlog
		flushBy := time.Now().Add(time.Until(deadline) / 2)
		a.hub.CloseAll(1001, "server shutting down; reconnect with ?after=POS", flushBy, deadline, time.Second)
		for a.api.Conns() > 0 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		a.log.Info("closed client connections", "clients", n, "queued_messages", backlog, "left", a.api.Conns(), "took", time.Since(start).Round(time.Millisecond))
		// Connections still open (past the deadline) read in goroutines
		// of their own from here on.
		a.api.Close()
		a.db.Close()
	})
	return err
}

// every runs tick each period until ctx ends: the shape of the server's
// background loops (pings, slow clients, history pruning).
func every(ctx context.Context, period time.Duration, tick func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tick()
		}
	}
}

func (a *App) pingLoop(ctx context.Context) {
	if a.cfg.PingInterval <= 0 {
		return
	}
	// Each client is pinged at a phase of its own (hub.Pinger): pinging
	// everyone at once made a burst of pongs to read every interval. SSE
	// clients get their keep-alive comment from the same slots at their
	// own interval; one loop ticks both, at the shorter period (a Pinger
	// ticked early does nothing, one ticked late catches up).
	pinger := a.hub.NewPinger(a.cfg.PingInterval, a.cfg.PingTimeout, time.Now())
	period := pinger.Period()
	var heartbeat *hub.Pinger
	if a.cfg.SSEHeartbeat > 0 {
		heartbeat = a.hub.NewHeartbeat(a.cfg.SSEHeartbeat, time.Now())
		// Not faster than a millisecond: a late Tick catches up.
		period = max(min(period, heartbeat.Period()), min(pinger.Period(), time.Millisecond))
	}
	every(ctx, period, func() {
		now := time.Now()
		if _, reaped := pinger.Tick(now); reaped > 0 {
			a.log.Info("dropped clients that stopped answering pings", "clients", reaped)
		}
		if heartbeat != nil {
			heartbeat.Tick(now)
		}
	})
}

// slowLoop closes clients that fell behind by SlowAfter even when nothing
// is being published to them.
func (a *App) slowLoop(ctx context.Context) {
	every(ctx, min(a.cfg.SlowAfter/4, time.Second), func() {
		if n := a.hub.SweepSlow(); n > 0 {
			a.log.Info("closed slow clients (1008)", "clients", n, "slow_after", a.cfg.SlowAfter)
		}
	})
}

// pruneLoop deletes history older than cfg.History about ten times per
// History (at most once a minute).
func (a *App) pruneLoop(ctx context.Context) {
	every(ctx, min(max(a.cfg.History/10, time.Second), time.Minute), func() {
		if _, err := a.source.PruneHistory(ctx, a.cfg.History); err != nil && ctx.Err() == nil {
			a.log.Warn("pruning history failed, will retry", "err", err)
		}
	})
}
