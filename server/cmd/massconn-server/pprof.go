package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// servePprof serves Go's profiles (/debug/pprof/...) on addr, a listener
// of its own: the profiles show the process's insides, so they are not on
// the public address, and only when asked for (--pprof). It returns once
// listening; stop closes it.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	if !strings.Contains(addr, ":") {
		return nil, fmt.Errorf("--pprof %q needs host:port, e.g. 127.0.0.1:6060", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof listener stopped", "addr", addr, "err", err)
		}
	}()
	log.Info("serving Go profiles", "pprof", "http://"+l.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}
