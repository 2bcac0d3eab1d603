package app_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/hub"
)

func TestDefaultsUseTheHubDefaults(t *testing.T) {
	c := app.Defaults()
	if c.Shards != hub.DefaultShards || c.QueueLimit != hub.DefaultQueueLimit || c.SlowAfter != hub.DefaultSlowAfter {
		t.Fatalf("defaults %d/%d/%v differ from the hub's %d/%d/%v",
			c.Shards, c.QueueLimit, c.SlowAfter, hub.DefaultShards, hub.DefaultQueueLimit, hub.DefaultSlowAfter)
	}
}

func TestConfigValidateNamesTheFlag(t *testing.T) {
	ok := app.Defaults()
	ok.DatabaseURL = "postgres://x"
	if err := ok.Validate(); err != nil {
		t.Fatalf("the defaults with a database URL are rejected: %v", err)
	}
	for _, tc := range []struct {
		flag, want string
		mutate     func(*app.Config)
	}{
		{"database-url", "missing --database-url", func(c *app.Config) { c.DatabaseURL = "" }},
		{"database-url", "is not a PostgreSQL URL", func(c *app.Config) { c.DatabaseURL = "mysql:x" }},
		{"listen", "needs host:port", func(c *app.Config) { c.Listen = "8080" }},
		{"max-conns", "must be at least 1", func(c *app.Config) { c.MaxConns = 0 }},
		{"read-limit", "at least 1 byte", func(c *app.Config) { c.ReadLimit = 0 }},
		{"handshake-timeout", "must be positive", func(c *app.Config) { c.HandshakeTimeout = 0 }},
		{"ping-interval", "must be positive", func(c *app.Config) { c.PingInterval = 0 }},
		{"sse-heartbeat", "must be positive", func(c *app.Config) { c.SSEHeartbeat = 0 }},
		{"sse-heartbeat", "must be positive", func(c *app.Config) { c.SSEHeartbeat = -time.Second }},
		{"ping-timeout", "must be positive", func(c *app.Config) { c.PingTimeout = -time.Second }},
		{"ping-timeout", "longer than --ping-interval", func(c *app.Config) { c.PingTimeout = c.PingInterval }},
		{"shutdown-timeout", "must be positive", func(c *app.Config) { c.ShutdownTimeout = 0 }},
		{"shards", "between 1 and 65536", func(c *app.Config) { c.Shards = app.MaxShards + 1 }},
		{"queue-limit", "at least 1", func(c *app.Config) { c.QueueLimit = 0 }},
		{"slow-after", "must be positive", func(c *app.Config) { c.SlowAfter = 0 }},
		{"history", "0 (keep forever) or positive", func(c *app.Config) { c.History = -time.Hour }},
		{"history", "shorter than a second", func(c *app.Config) { c.History = time.Millisecond }},
		{"allowed-origins", "is not an origin", func(c *app.Config) { c.AllowedOrigins = []string{"example.com"} }},
	} {
		c := ok
		tc.mutate(&c)
		err := c.Validate()
		var ce *app.ConfigError
		if !errors.As(err, &ce) || ce.Flag != tc.flag {
			t.Errorf("%s: got %v, want a ConfigError for --%s", tc.want, err, tc.flag)
			continue
		}
		if !strings.Contains(err.Error(), "--"+tc.flag) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--%s: message %q lacks the flag or %q", tc.flag, err, tc.want)
		}
	}
}
