package engine

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
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

// Validate checks every field of c. Its error joins one *FieldError per
// problem (see FieldErrors), each naming the field by its Go path. Dial runs
// the same checks; call Validate to check a Config without dialing.
func (c Config) Validate() error {
	_, err := c.prepare()
	return err
}

// prepared is a validated Config with its defaults and its protocol
// adapter applied and every URL parsed once.
type prepared struct {
	cfg         Config
	targets     []target         // one per cfg.URLs
	prog        *program.Program // cfg.Steps compiled; nil = none
	tmpl        connTemplates
	adapterBeat bool // the heartbeat period is the adapter's own
}

// prepare validates c and, if it is valid, prepares it for Dial.
func (c Config) prepare() (prepared, error) {
	var errs fieldErrors
	prog := c.validateFields(&errs)
	if len(errs) > 0 {
		return prepared{}, errs.err()
	}
	p := prepared{prog: prog}
	p.cfg, p.adapterBeat = c.withDefaults().withProtocol()
	p.tmpl = p.cfg.parseTemplates(&errs)
	for i, raw := range p.cfg.URLs {
		t, err := parseTarget(raw, p.cfg)
		if err != nil {
			errs.add(fmt.Sprintf("URLs[%d]", i), nil, err.Error(), "")
			continue
		}
		p.targets = append(p.targets, t)
	}
	return p, errs.err()
}

// validateFields checks every rule that does not need a parsed URL and
// returns the compiled Steps (nil without steps).
func (c Config) validateFields(errs *fieldErrors) *program.Program {
	if len(c.URLs) == 0 {
		errs.add("URLs", nil, "is required", "give at least one ws:// or wss:// URL")
	}
	if _, err := wsproto.NewRequestTemplate("host", "/", c.Header, c.Subprotocols); err != nil {
		errs.add("Header", nil, err.Error(), "")
	}
	if c.Connections <= 0 {
		errs.add("Connections", c.Connections, "must be a whole number >= 1", "")
	}
	if c.Rate < 0 {
		errs.add("Rate", c.Rate, "must be a number >= 0", "attempts per second, 0 = as fast as allowed")
	}
	if c.MaxInFlight < 0 {
		errs.add("MaxInFlight", c.MaxInFlight, "must be a whole number >= 0", fmt.Sprintf("0 = default %d", DefaultMaxInFlight))
	}
	for i, a := range c.LocalAddrs {
		if !a.IsValid() {
			errs.add(fmt.Sprintf("LocalAddrs[%d]", i), nil, "not an IP address", "")
		}
	}
	if c.ConnectTimeout < 0 {
		errs.add("ConnectTimeout", c.ConnectTimeout, "must be a positive duration", "e.g. 10s")
	}
	c.validateHeartbeat(errs)
	for i, r := range c.Replies {
		if r.Match == "" && !r.Prefix {
			at := fmt.Sprintf("Replies[%d]", i)
			errs.add(at+".Match", nil, "must not be empty",
				"give the message to answer, or turn on %s to answer every message", at+".Prefix")
		}
	}
	c.validateMessages(errs)
	prog := c.validateProgram(errs)
	c.validateSequence(errs)
	c.validateSSE(errs) // sse_config.go
	if c.SampleLimit < 0 {
		errs.add("SampleLimit", c.SampleLimit, "must be a whole number >= 0", fmt.Sprintf("0 = default %d", DefaultSampleLimit))
	}
	if c.MaxMessageSize < 0 {
		errs.add("MaxMessageSize", c.MaxMessageSize, "must be a whole number >= 0", fmt.Sprintf("bytes, 0 = default %d", DefaultMaxMessageSize))
	}
	if c.SendQueueLimit < 0 {
		errs.add("SendQueueLimit", c.SendQueueLimit, "must be a whole number >= 0", fmt.Sprintf("bytes, 0 = default %d", DefaultSendQueueLimit))
	}
	return prog
}

// validateHeartbeat checks that a heartbeat has a period and exactly one
// thing to send.
func (c Config) validateHeartbeat(errs *fieldErrors) {
	hb := c.Heartbeat
	switch {
	case hb.Every < 0:
		errs.add("Heartbeat.Every", hb.Every, "must be a positive duration", "e.g. 30s")
	case hb.Every == 0 && (hb.Ping || hb.Text != ""):
		errs.add("Heartbeat.Every", nil, "is required", "set the period when %s or %s is set, e.g. 30s",
			"Heartbeat.Ping", "Heartbeat.Text")
	case hb.Every > 0 && !hb.Ping && hb.Text == "":
		errs.add("Heartbeat", nil, fmt.Sprintf("has nothing to send every %v", hb.Every),
			"turn on %s or give a non-empty %s", "Heartbeat.Ping", "Heartbeat.Text")
	}
	if hb.Ping && hb.Text != "" {
		errs.add("Heartbeat", nil, "sends a ping or a text, not both", "choose %s or %s",
			"Heartbeat.Ping", "Heartbeat.Text")
	}
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
	urlT    *template.Template // url with variables, for the portable engine; nil = none
	dynamic *template.Template // the request up to the key when the URL or headers have variables
	tls     bool
	host    string // host:port as dialed
	request wsproto.RequestTemplate
	sse     *sseRequest // http:// and https://: an EventSource request instead of an upgrade
}

func parseTarget(raw string, c Config) (target, error) {
	uri, sample, err := urlTemplate(raw, c)
	if err != nil {
		return target{}, err
	}
	u, err := url.Parse(sample)
	if err != nil {
		return target{}, fmt.Errorf("not a URL: %w", err)
	}
	t := target{url: raw, urlT: wholeURL(raw)}
	port := ""
	switch u.Scheme {
	case "ws":
		port = "80"
	case "wss":
		t.tls, port = true, "443"
	case "http", "https": // EventSource (sse_config.go)
		t.tls, port = u.Scheme == "https", "80"
		if t.tls {
			port = "443"
		}
	default:
		return target{}, fmt.Errorf("scheme %q is not ws, wss, http or https in %q", u.Scheme, raw)
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
	if isSSEURL(raw) {
		t.sse, err = newSSETarget(u.Host, u.RequestURI(), uri, c)
		return t, err
	}
	t.request, err = wsproto.NewRequestTemplate(u.Host, u.RequestURI(), c.Header, c.Subprotocols)
	if err != nil {
		return target{}, fmt.Errorf("headers/subprotocols: %w", err)
	}
	if c.Compression {
		t.request = t.request.WithExtensions(wsproto.DeflateOffer)
	}
	if t.dynamic, err = requestTemplate(u.Host, u.RequestURI(), uri, c); err != nil {
		return target{}, fmt.Errorf("headers/subprotocols: %w", err)
	}
	return t, nil
}
