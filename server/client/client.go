// Package client reads a running massconn server's HTTP endpoints: its
// health (/healthz, decoded into the wsapi type the server encodes) and its
// Prometheus metrics (/metrics). The fleet and the benchmarks watch servers
// through it, so "ready" means the same thing everywhere: the server answers
// and its PostgreSQL listener is connected.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/massconn/massconn/server/wsapi"
)

// DefaultTimeout bounds one request unless New is given another: long enough
// for a server busy with many connections, short enough that a progress loop
// polling several servers stays readable.
const DefaultTimeout = 5 * time.Second

// maxHealthBytes and maxMetricsBytes bound what a reply may hold: /healthz is
// a few hundred bytes, /metrics a few tens of kilobytes.
const (
	maxHealthBytes  = 1 << 16
	maxMetricsBytes = 8 << 20
)

// Client talks to one server.
type Client struct {
	base string // http://host:port
	http *http.Client
}

// New returns a client for the server listening on addr (host:port); a
// request taking longer than timeout fails (0 = DefaultTimeout).
func New(addr string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{base: "http://" + addr, http: &http.Client{Timeout: timeout}}
}

// Addr is the host:port the client talks to.
func (c *Client) Addr() string { return c.base[len("http://"):] }

// Health reads /healthz.
func (c *Client) Health(ctx context.Context) (wsapi.HealthReport, error) {
	var h wsapi.HealthReport
	body, err := c.get(ctx, "/healthz", maxHealthBytes)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return h, fmt.Errorf("health of %s: %w in %.200q", c.Addr(), err, body)
	}
	return h, nil
}

// Ready reports whether the server answers /healthz and its listener is
// connected; the error says why not when it does not answer.
func (c *Client) Ready(ctx context.Context) (bool, error) {
	h, err := c.Health(ctx)
	if err != nil {
		return false, err
	}
	return h.Ready(), nil
}

// WaitReady polls /healthz every interval until the server is ready or ctx
// ends; then it returns ctx's error with what the server last said.
func (c *Client) WaitReady(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		h, err := c.Health(ctx)
		switch {
		case err == nil && h.Ready():
			return nil
		case err == nil:
			last = fmt.Errorf("its PostgreSQL listener is %s", h.Listener)
		case ctx.Err() == nil || last == nil: // keep what the server said over the request cut short
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server on %s not ready: %w (last: %w)", c.Addr(), ctx.Err(), last)
		case <-t.C:
		}
	}
}

// MetricsText is the raw /metrics reply, for saving a snapshot as it came.
func (c *Client) MetricsText(ctx context.Context) ([]byte, error) {
	return c.get(ctx, "/metrics", maxMetricsBytes)
}

// Metrics reads and parses /metrics.
func (c *Client) Metrics(ctx context.Context) (Metrics, error) {
	body, err := c.MetricsText(ctx)
	if err != nil {
		return nil, err
	}
	m, err := ParseMetrics(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", c.Addr(), err)
	}
	return m, nil
}

func (c *Client) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	url := c.base + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: reply longer than %d bytes", url, limit)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %.200s", url, resp.StatusCode, body)
	}
	return body, nil
}

// ErrNoSample is returned by Metrics.Value for a metric the server did not
// report, or reported only with labels.
var ErrNoSample = errors.New("no unlabelled sample")
