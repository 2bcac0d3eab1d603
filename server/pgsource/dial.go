package pgsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
	"golang.org/x/sys/unix"
)

// Database connections must notice a dead peer by themselves: TCP keepalive
// probes an idle connection (the listener's is idle between rows), and
// TCP_USER_TIMEOUT bounds how long sent data may go unacknowledged, so a
// half-open connection fails in about deadPeerTimeout instead of the
// kernel's ~15 minutes.
const (
	keepAliveIdle     = 10 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	deadPeerTimeout   = 30 * time.Second
	// DefaultConnectTimeout is applied when the URL sets no connect_timeout.
	DefaultConnectTimeout = 10 * time.Second
)

var errClosedNet = net.ErrClosed

// Dialer makes lib/pq's TCP connections with keepalive and a user timeout,
// and remembers them so that they can be dropped: a ping that waits on a
// dead connection, or a shutdown, must not wait for the kernel.
type Dialer struct {
	d     net.Dialer
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	shut  bool
}

// NewDialer returns a Dialer.
func NewDialer() *Dialer {
	return &Dialer{
		d: net.Dialer{
			KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
			Control:         setUserTimeout,
		},
		conns: map[net.Conn]struct{}{},
	}
}

func setUserTimeout(network, _ string, c syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(deadPeerTimeout.Milliseconds()))
	}); err != nil {
		return err
	}
	return serr
}

// Dial implements pq.Dialer.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialTimeout implements pq.Dialer.
func (d *Dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return d.DialContext(ctx, network, address)
}

// errShutdown refuses dials after Shutdown, so lib/pq's reconnect loop
// cannot race a closing listener.
var errShutdown = errors.New("shutting down")

// DialContext implements pq.DialerContext.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	shut := d.shut
	d.mu.Unlock()
	if shut {
		return nil, errShutdown
	}
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, d: d}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shut {
		_ = c.Close()
		return nil, errShutdown
	}
	d.conns[tc] = struct{}{}
	return tc, nil
}

// DropConnections closes every connection this dialer made.
func (d *Dialer) DropConnections() {
	d.mu.Lock()
	conns := make([]net.Conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Shutdown refuses new connections and drops the open ones.
func (d *Dialer) Shutdown() {
	d.mu.Lock()
	d.shut = true
	d.mu.Unlock()
	d.DropConnections()
}

type trackedConn struct {
	net.Conn
	d    *Dialer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		delete(c.d.conns, c)
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}

// WithConnectTimeout returns the connection string with connect_timeout
// set, unless it sets one already: without it lib/pq waits for the kernel
// on an unreachable host.
func WithConnectTimeout(dsn string, timeout time.Duration) (string, error) {
	secs := fmt.Sprint(int(timeout.Seconds()))
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse database URL: %w", err)
		}
		q := u.Query()
		if q.Get("connect_timeout") != "" {
			return dsn, nil
		}
		q.Set("connect_timeout", secs)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	if strings.Contains(dsn, "connect_timeout=") {
		return dsn, nil
	}
	return strings.TrimSpace(dsn + " connect_timeout=" + secs), nil
}

// OpenDB opens a database/sql pool whose connections use d.
func OpenDB(dsn string, d *Dialer) (*sql.DB, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	c.Dialer(d)
	return sql.OpenDB(c), nil
}

// Dialer is the dialer of the listener's connection.
func (s *Source) Dialer() *Dialer { return s.dialer }
