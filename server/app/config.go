package app

import (
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/massconn/massconn/server/hub"
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
	// SSEHeartbeat is how often each /sse client gets a comment line as
	// keep-alive (at a phase of its own).
	SSEHeartbeat    time.Duration
	ShutdownTimeout time.Duration
	Shards          int
	QueueLimit      int
	// SlowAfter: a client whose socket refuses more and whose oldest unsent
	// message waited this long since is closed as slow (1008).
	SlowAfter time.Duration
	// History is how long rows are kept in massconn_log for clients that
	// resume with ?after=POS; 0 keeps them forever.
	History time.Duration
	// AllowedOrigins and AuthToken guard /ws; both off by default (for
	// benchmarks).
	AllowedOrigins []string
	AuthToken      string
	// TLSCert and TLSKey (PEM files), if both set, make the server speak
	// HTTPS and wss:// only.
	TLSCert, TLSKey string
	Logger          *slog.Logger
}

// fdHeadroom is how many file descriptors the default --max-conns leaves
// for everything but client sockets (database connections, the listening
// socket, accepts in flight).
func fdHeadroom(limit int) int { return 256 + limit/100 }

// OpenFileLimit is the process's soft RLIMIT_NOFILE (0 if unknown).
func OpenFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(min(rl.Cur, 1<<30))
}

// DefaultMaxConns is 100,000 clamped to the open-file limit minus headroom:
// past the limit accept fails and clients would wait in the kernel's
// backlog instead of getting the documented 503.
func DefaultMaxConns() int {
	limit := OpenFileLimit()
	if limit <= 0 {
		return 100000
	}
	return max(1, min(100000, limit-fdHeadroom(limit)))
}

// Defaults are the flag defaults.
func Defaults() Config {
	return Config{
		Listen:           "127.0.0.1:8080",
		MaxConns:         DefaultMaxConns(),
		ReadLimit:        64 << 10,
		HandshakeTimeout: 5 * time.Second,
		PingInterval:     30 * time.Second,
		SSEHeartbeat:     15 * time.Second,
		ShutdownTimeout:  10 * time.Second,
		Shards:           hub.DefaultShards,
		QueueLimit:       hub.DefaultQueueLimit,
		SlowAfter:        hub.DefaultSlowAfter,
		History:          time.Hour,
	}
}

// MaxShards bounds Config.Shards: more locks than this buy nothing and
// cost memory per hub.
const MaxShards = 65536

// ConfigError is one bad setting of Config, named by its flag.
type ConfigError struct {
	Flag string // the serve flag without dashes, e.g. "max-conns"
	Msg  string // the whole message: the flag, what is wrong and the fix
}

func (e *ConfigError) Error() string { return e.Msg }

func configError(flag, problem string) *ConfigError {
	return &ConfigError{Flag: flag, Msg: "--" + flag + " " + problem}
}

// DatabaseURLHelp describes the value --database-url takes.
const DatabaseURLHelp = "PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// CheckDatabaseURL rejects an empty URL or one that is neither a
// postgres:// URL nor a key=value connection string.
func CheckDatabaseURL(url string) error {
	if url == "" {
		return &ConfigError{Flag: "database-url", Msg: "missing --database-url (or DATABASE_URL); pass a " + DatabaseURLHelp}
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") && !strings.Contains(url, "=") {
		return configError("database-url", fmt.Sprintf("%q is not a PostgreSQL URL; pass a %s", url, DatabaseURLHelp))
	}
	return nil
}

// Validate reports the first setting Start cannot serve with, as a
// *ConfigError naming its flag and the fix. PingTimeout 0 means the
// default (2 x PingInterval).
func (c Config) Validate() error {
	if err := CheckDatabaseURL(c.DatabaseURL); err != nil {
		return err
	}
	checks := []struct {
		bad     bool
		flag    string
		problem string
	}{
		{c.Listen == "" || !strings.Contains(c.Listen, ":"), "listen", fmt.Sprintf("%q needs host:port, e.g. 127.0.0.1:8080 (or :8080 for all interfaces)", c.Listen)},
		{c.MaxConns < 1, "max-conns", fmt.Sprintf("must be at least 1, got %d", c.MaxConns)},
		{c.ReadLimit < 1, "read-limit", fmt.Sprintf("must be at least 1 byte, got %d", c.ReadLimit)},
		{c.HandshakeTimeout <= 0, "handshake-timeout", "must be positive, e.g. 5s"},
		{c.PingInterval <= 0, "ping-interval", "must be positive, e.g. 30s"},
		{c.SSEHeartbeat <= 0, "sse-heartbeat", "must be positive, e.g. 15s"},
		{c.PingTimeout < 0, "ping-timeout", "must be positive, e.g. 60s (or leave it unset)"},
		{c.PingTimeout > 0 && c.PingTimeout <= c.PingInterval, "ping-timeout", "must be longer than --ping-interval, or clients are dropped between two pings"},
		{c.ShutdownTimeout <= 0, "shutdown-timeout", "must be positive, e.g. 10s"},
		{c.Shards < 1 || c.Shards > MaxShards, "shards", fmt.Sprintf("must be between 1 and %d, got %d", MaxShards, c.Shards)},
		{c.QueueLimit < 1, "queue-limit", fmt.Sprintf("must be at least 1, got %d", c.QueueLimit)},
		{c.SlowAfter <= 0, "slow-after", "must be positive, e.g. 10s"},
		{c.History < 0, "history", "must be 0 (keep forever) or positive, e.g. 1h"},
		{c.History > 0 && c.History < time.Second, "history", fmt.Sprintf("%v is shorter than a second: clients could not resume; use e.g. 1h, or 0 to keep forever", c.History)},
	}
	for _, ch := range checks {
		if ch.bad {
			return configError(ch.flag, ch.problem)
		}
	}
	for _, o := range c.AllowedOrigins {
		if !strings.Contains(o, "://") {
			return configError("allowed-origins", fmt.Sprintf("entry %q is not an origin; write scheme://host[:port], e.g. https://app.example.com", o))
		}
	}
	return nil
}
