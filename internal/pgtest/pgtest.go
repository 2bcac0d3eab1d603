// Package pgtest gives tests a throwaway PostgreSQL cluster (internal/tempdb)
// that stops when the test ends, and a Restart that fails the test instead
// of returning an error.
package pgtest

import (
	"testing"

	"github.com/massconn/massconn/internal/tempdb"
)

// Server is one running throwaway cluster.
type Server struct{ *tempdb.Cluster }

// DefaultMaxConnections is a throwaway cluster's max_connections unless
// NewWithMaxConnections asks for more.
const DefaultMaxConnections = tempdb.DefaultMaxConnections

// Start starts a cluster and stops it when the test ends. It fails the test
// (tb.Fatal) if PostgreSQL cannot be started.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := New()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Logf("pgtest: %v", err)
		}
	})
	return s
}

// New starts a cluster; the caller must call Stop. Meant for TestMain, where
// no testing.TB exists.
func New() (*Server, error) { return NewWithMaxConnections(0) }

// NewWithMaxConnections starts a cluster allowing maxConns client
// connections (0 = DefaultMaxConnections).
func NewWithMaxConnections(maxConns int) (*Server, error) {
	c, err := tempdb.NewWithMaxConnections(maxConns)
	if err != nil {
		return nil, err
	}
	return &Server{c}, nil
}

// Restart stops the cluster (fast shutdown: clients are disconnected) and
// starts it again on the same port with the same data.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.StopKeepData(); err != nil {
		tb.Fatalf("pgtest: restart: %v", err)
	}
	if err := s.StartAgain(); err != nil {
		tb.Fatalf("pgtest: restart: %v", err)
	}
}
