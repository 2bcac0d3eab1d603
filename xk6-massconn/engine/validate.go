package engine

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

// ReasonOther counts failures whose cause fits none of the named reasons
// (for example EHOSTUNREACH); the error text is not kept per connection.
const ReasonOther = "error"

// Defaults applied by Validate's callers through withDefaults.
const (
	DefaultMaxInFlight    = 1000
	DefaultConnectTimeout = 10 * time.Second
	DefaultSampleLimit    = 1000

	// DefaultMaxMessageSize bounds a received message: 16 MiB, as gws and
	// most servers use.
	DefaultMaxMessageSize = 16 << 20
	// DefaultSendQueueLimit bounds the bytes one connection queues while
	// its socket takes nothing: 1 MiB.
	DefaultSendQueueLimit = 1 << 20
)

func httpReason(status int) string { return "http_" + strconv.Itoa(status) }

// Validate checks every option and names the JS option at fault.
func (c Config) Validate() error {
	var errs []error
	bad := func(option, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", option, fmt.Sprintf(format, args...)))
	}
	if len(c.URLs) == 0 {
		bad("urls", "at least one ws:// or wss:// URL is required")
	}
	if _, err := wsproto.NewRequestTemplate("host", "/", c.Header, c.Subprotocols); err != nil {
		bad("headers", "%v", err)
	}
	for i, raw := range c.URLs {
		if _, err := parseTarget(raw, Config{}); err != nil {
			bad(fmt.Sprintf("urls[%d]", i), "%v", err)
		}
	}
	if c.Connections <= 0 {
		bad("connections", "must be a positive number, got %d", c.Connections)
	}
	if c.Rate < 0 {
		bad("rate", "must be >= 0 attempts per second (0 = as fast as allowed), got %v", c.Rate)
	}
	if c.MaxInFlight < 0 {
		bad("maxInFlight", "must be >= 0 (0 = default %d), got %d", DefaultMaxInFlight, c.MaxInFlight)
	}
	for i, a := range c.LocalAddrs {
		if !a.IsValid() {
			bad(fmt.Sprintf("localAddrs[%d]", i), "not an IP address")
		}
	}
	if c.ConnectTimeout < 0 {
		bad("connectTimeout", "must be a positive duration such as '10s', got %v", c.ConnectTimeout)
	}
	if c.Heartbeat.Every < 0 {
		bad("heartbeat.every", "must be a positive duration such as '30s', got %v", c.Heartbeat.Every)
	}
	if c.Heartbeat.Every > 0 && !c.Heartbeat.Ping && c.Heartbeat.Text == "" {
		bad("heartbeat", "set ping: true or a text to send every %v", c.Heartbeat.Every)
	}
	if c.Heartbeat.Every == 0 && (c.Heartbeat.Ping || c.Heartbeat.Text != "") {
		bad("heartbeat.every", "is required when heartbeat.ping or heartbeat.text is set")
	}
	if c.Heartbeat.Ping && c.Heartbeat.Text != "" {
		bad("heartbeat", "ping and text are exclusive; choose one")
	}
	for i, r := range c.Replies {
		if r.Match == "" && !r.Prefix {
			bad(fmt.Sprintf("replies[%d].match", i), "must not be empty")
		}
	}
	c.validateMessages(bad)
	c.validateProgram(bad)
	c.validateSequence(bad)
	if c.SampleLimit < 0 {
		bad("sampleLimit", "must be >= 0 (0 = default %d), got %d", DefaultSampleLimit, c.SampleLimit)
	}
	if c.MaxMessageSize < 0 {
		bad("maxMessageSize", "must be >= 0 bytes (0 = default %d), got %d", DefaultMaxMessageSize, c.MaxMessageSize)
	}
	if c.SendQueueLimit < 0 {
		bad("sendQueueLimit", "must be >= 0 bytes (0 = default %d), got %d", DefaultSendQueueLimit, c.SendQueueLimit)
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero values that mean "default".
func (c Config) withDefaults() Config {
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.SampleLimit == 0 {
		c.SampleLimit = DefaultSampleLimit
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.SendQueueLimit == 0 {
		c.SendQueueLimit = DefaultSendQueueLimit
	}
	if c.Lifetime.Max > 0 {
		c.Reconnect = true // a slot stays busy: a failed reopen is retried
	}
	return c
}

// target is one parsed URL, with its upgrade request prepared once.
type target struct {
	url     string
	tls     bool
	host    string // host:port as dialed
	request wsproto.RequestTemplate
}

func parseTarget(raw string, c Config) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("not a URL: %w", err)
	}
	t := target{url: raw}
	port := ""
	switch u.Scheme {
	case "ws":
		port = "80"
	case "wss":
		t.tls, port = true, "443"
	default:
		return target{}, fmt.Errorf("scheme %q is not ws or wss in %q", u.Scheme, raw)
	}
	if u.Hostname() == "" {
		return target{}, fmt.Errorf("no host in %q", raw)
	}
	if u.User != nil || u.Fragment != "" {
		return target{}, fmt.Errorf("user info and #fragment are not allowed in %q", raw)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	t.host = net.JoinHostPort(u.Hostname(), port)
	t.request, err = wsproto.NewRequestTemplate(u.Host, u.RequestURI(), c.Header, c.Subprotocols)
	if err != nil {
		return target{}, fmt.Errorf("headers/subprotocols: %w", err)
	}
	if c.Compression {
		t.request = t.request.WithExtensions(wsproto.DeflateOffer)
	}
	return t, nil
}
