// Package app wires the server together: PostgreSQL source -> message
// encoding -> hub, and the HTTP API in front of the hub.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	_ "github.com/lib/pq" // database/sql driver "postgres"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/metrics"
	"github.com/massconn/massconn/server/pgsource"
	"github.com/massconn/massconn/server/wsapi"
)

// Config is everything `massconn-server serve` takes.
type Config struct {
	Listen           string
	DatabaseURL      string
	MaxConns         int
	ReadLimit        int
	HandshakeTimeout time.Duration
	PingInterval     time.Duration
	PingTimeout      time.Duration // no frame from a peer for this long: dropped
	ShutdownTimeout  time.Duration
	Shards           int
	QueueLimit       int
	Logger           *slog.Logger
}

// Defaults are the flag defaults.
func Defaults() Config {
	return Config{
		Listen:           "127.0.0.1:8080",
		MaxConns:         100000,
		ReadLimit:        64 << 10,
		HandshakeTimeout: 5 * time.Second,
		PingInterval:     30 * time.Second,
		ShutdownTimeout:  10 * time.Second,
		Shards:           256,
		QueueLimit:       1024,
	}
}

// App is a running server.
type App struct {
	cfg    Config
	log    *slog.Logger
	db     *sql.DB
	hub    *hub.Hub
	source *pgsource.Source
	api    *wsapi.API
	http   *http.Server
	ln     net.Listener

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
	db, err := sql.Open("postgres", cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open --database-url: %w", err)
	}
	db.SetMaxOpenConns(4)
	migrateCtx, cancelMigrate := context.WithTimeout(ctx, 30*time.Second)
	err = pgsource.Migrate(migrateCtx, db)
	cancelMigrate()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database at --database-url: %w", err)
	}
	h, err := hub.New(hub.Options{Shards: cfg.Shards, Topics: pgsource.Tables, QueueLimit: cfg.QueueLimit})
	if err != nil {
		db.Close()
		return nil, err
	}
	src := pgsource.New(cfg.DatabaseURL, db, cfg.Logger)
	m := metrics.New(h, src)
	api := wsapi.New(wsapi.Config{
		MaxConns:         cfg.MaxConns,
		ReadLimit:        cfg.ReadLimit,
		HandshakeTimeout: cfg.HandshakeTimeout,
	}, h, m, src)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &App{
		cfg: cfg, log: cfg.Logger, db: db, hub: h, source: src, api: api, ln: ln,
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
	pub := &publisher{hub: h, lag: m.Lag}
	a.wg.Go(func() {
		if err := src.Run(runCtx, pub); err != nil {
			a.log.Error("postgres source stopped", "err", err)
		}
	})
	a.wg.Go(func() { a.pingLoop(runCtx) })
	go func() {
		if err := a.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			a.serveErr <- err
		}
		close(a.serveErr)
	}()
	return a, nil
}

// Addr is the address the server listens on.
func (a *App) Addr() string { return a.ln.Addr().String() }

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

// Shutdown refuses new connections, sends every client close 1001 and
// waits (up to ShutdownTimeout) for them to go, then stops the source.
func (a *App) Shutdown() error {
	var err error
	a.stopOnce.Do(func() {
		a.api.StartShutdown()
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		// Stops accepting; hijacked WebSocket connections are ours to close.
		if e := a.http.Shutdown(ctx); e != nil {
			err = fmt.Errorf("http shutdown: %w", e)
		}
		n := a.hub.Len()
		a.hub.CloseAll(1001, "server shutting down", a.cfg.ShutdownTimeout)
		for a.api.Conns() > 0 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		a.log.Info("closed client connections", "clients", n, "left", a.api.Conns())
		a.cancel()
		a.wg.Wait()
		a.db.Close()
	})
	return err
}

func (a *App) pingLoop(ctx context.Context) {
	if a.cfg.PingInterval <= 0 {
		return
	}
	t := time.NewTicker(a.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, reaped := a.hub.PingAll(a.cfg.PingTimeout); reaped > 0 {
				a.log.Info("dropped clients that stopped answering pings", "clients", reaped)
			}
		}
	}
}
