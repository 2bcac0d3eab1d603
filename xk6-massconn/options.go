package massconn

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"go.k6.io/k6/lib/types"

	"github.com/massconn/massconn/xk6-massconn/engine"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// connectOptions is everything massconn.connect accepts: the engine's
// configuration plus what only the binding uses.
type connectOptions struct {
	cfg        engine.Config
	tags       map[string]string // extra metric tags for this pool's samples
	connOffset int64             // first {{conn}} index; -1 = chosen automatically
}

// optionError names the JS option at fault, so a typo or a wrong type is
// fixed from the message alone.
type optionError struct {
	option string
	msg    string
}

func (e *optionError) Error() string {
	return fmt.Sprintf("massconn.connect: option '%s' %s", e.option, e.msg)
}

func badOption(option, format string, args ...any) error {
	return &optionError{option: option, msg: fmt.Sprintf(format, args...)}
}

var connectKeys = []string{
	"urls", "connections", "rate", "maxInFlight", "localAddrs", "connectTimeout",
	"headers", "subprotocols", "onOpenSend", "heartbeat", "replies", "latency",
	"reconnect", "sampleLimit", "connOffset", "tags", "protocol", "batched",
	"compression", "maxMessageSize", "sendQueueLimit",
	"steps", "lifetime", "sequence", "data",
	"sse", "idleTimeout", // sse_options.go
}

// The keys of the nested option objects (connectKeys, protocolKeys and
// stepKeys are the others): the binding's table of what connect() accepts,
// which index.d.ts must match (TestTypesMatchTheBinding).
var (
	heartbeatKeys  = []string{"every", "ping", "text"}
	replyKeys      = []string{"match", "send", "prefix"}
	latencyKeys    = []string{"path", "field", "unit"}
	sequenceKeys   = []string{"path", "per"}
	rangeKeys      = []string{"min", "max"} // lifetime and sleep as {min, max}
	expectPathKeys = []string{"path", "equals"}
)

// latencyUnits maps the JS names of timestamp units to their length.
var latencyUnits = map[string]time.Duration{
	"ns": time.Nanosecond,
	"us": time.Microsecond,
	"ms": time.Millisecond,
	"s":  time.Second,
}

// parseConnectOptions turns the exported JS options object (maps, slices,
// int64/float64 numbers, strings, bools as sobek exports them) into a
// connectOptions. Every error names the option path, e.g. "replies[1].send".
func parseConnectOptions(raw any) (connectOptions, error) {
	opts := connectOptions{connOffset: -1}
	m, ok := raw.(map[string]any)
	if !ok {
		return opts, fmt.Errorf("massconn.connect: expects an options object such as "+
			"{urls: ['ws://127.0.0.1:8080/ws'], connections: 1000}, got %s", describe(raw))
	}
	if err := checkKeys("", m, connectKeys); err != nil {
		return opts, err
	}
	c := &opts.cfg
	var err error
	if c.URLs, err = stringList("urls", m["urls"], true); err != nil {
		return opts, err
	}
	conns, err := wholeNumber("connections", m["connections"], 1, true)
	if err != nil {
		return opts, err
	}
	c.Connections = int(conns)
	if v, ok := m["rate"]; ok {
		if c.Rate, err = number("rate", v, 0); err != nil {
			return opts, err
		}
	}
	if v, ok := m["maxInFlight"]; ok {
		n, err := wholeNumber("maxInFlight", v, 0, false)
		if err != nil {
			return opts, err
		}
		c.MaxInFlight = int(n)
	}
	addrs, err := stringList("localAddrs", m["localAddrs"], false)
	if err != nil {
		return opts, err
	}
	for i, a := range addrs {
		ip, perr := netip.ParseAddr(a)
		if perr != nil {
			return opts, badOption(fmt.Sprintf("localAddrs[%d]", i), "must be an IP address such as '127.0.0.2', got %q", a)
		}
		c.LocalAddrs = append(c.LocalAddrs, ip)
	}
	if v, ok := m["connectTimeout"]; ok {
		if c.ConnectTimeout, err = duration("connectTimeout", v); err != nil {
			return opts, err
		}
	}
	headers, err := stringMap("headers", m["headers"])
	if err != nil {
		return opts, err
	}
	if len(headers) > 0 {
		c.Header = http.Header{}
		for k, v := range headers {
			c.Header.Set(k, v)
		}
	}
	if c.Subprotocols, err = stringList("subprotocols", m["subprotocols"], false); err != nil {
		return opts, err
	}
	if c.OnOpenSend, err = str("onOpenSend", m["onOpenSend"]); err != nil {
		return opts, err
	}
	if c.Heartbeat, err = parseHeartbeat(m["heartbeat"]); err != nil {
		return opts, err
	}
	if c.Replies, err = parseReplies(m["replies"]); err != nil {
		return opts, err
	}
	if c.Latency, err = parseLatency(m["latency"]); err != nil {
		return opts, err
	}
	if c.Protocol, err = parseProtocol(m["protocol"]); err != nil {
		return opts, err
	}
	if c.Sequence, err = parseSequence(m["sequence"]); err != nil {
		return opts, err
	}
	if c.Batched, err = boolean("batched", m["batched"]); err != nil {
		return opts, err
	}
	if c.Reconnect, err = boolean("reconnect", m["reconnect"]); err != nil {
		return opts, err
	}
	if c.Steps, err = parseSteps(m["steps"]); err != nil {
		return opts, err
	}
	if c.Lifetime, err = parseLifetime(m["lifetime"]); err != nil {
		return opts, err
	}
	if v, ok := m["sampleLimit"]; ok {
		n, err := wholeNumber("sampleLimit", v, 0, false)
		if err != nil {
			return opts, err
		}
		c.SampleLimit = int(n)
	}
	if v, ok := m["connOffset"]; ok {
		if opts.connOffset, err = integer("connOffset", v, 0, false); err != nil {
			return opts, err
		}
	}
	if opts.tags, err = stringMap("tags", m["tags"]); err != nil {
		return opts, err
	}
	if err := parseFrameOptions(m, c); err != nil {
		return opts, err
	}
	if err := parseSSEOptions(m, c); err != nil {
		return opts, err
	}
	if c.Data, err = parseData(m["data"]); err != nil {
		return opts, err
	}
	return opts, nil
}

// parseData reads data: [...], the rows of {{data}} and {{data.FIELD}}:
// an array of strings or of objects, as open() + split or a SharedArray
// give them. Connection i uses row i mod data.length.
func parseData(v any) (*template.Data, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case *template.Data: // read row by row from JavaScript (exportOptions)
		return x, nil
	case error:
		return nil, x
	case []any:
		d, err := template.NewData(x)
		if err != nil {
			return nil, dataError(err)
		}
		return d, nil
	}
	return nil, badOption("data", "must be an array of strings or objects (e.g. a SharedArray of tokens), got %s", describe(v))
}

// dataError names the row at fault in NewData's "[i]: problem".
func dataError(err error) error {
	if at, msg, ok := strings.Cut(err.Error(), ": "); ok && strings.HasPrefix(at, "[") {
		return badOption("data"+at, "%s", msg)
	}
	return badOption("data", "%v", err)
}

// parseFrameOptions reads the frame-layer options: compression and the
// bounds on received messages and queued sends.
func parseFrameOptions(m map[string]any, c *engine.Config) error {
	var err error
	if c.Compression, err = boolean("compression", m["compression"]); err != nil {
		return err
	}
	if v, ok := m["maxMessageSize"]; ok {
		n, err := wholeNumber("maxMessageSize", v, 0, false)
		if err != nil {
			return err
		}
		c.MaxMessageSize = n
	}
	if v, ok := m["sendQueueLimit"]; ok {
		n, err := wholeNumber("sendQueueLimit", v, 0, false)
		if err != nil {
			return err
		}
		c.SendQueueLimit = int(n)
	}
	return nil
}

func parseHeartbeat(v any) (engine.Heartbeat, error) {
	var hb engine.Heartbeat
	if v == nil {
		return hb, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return hb, badOption("heartbeat", "must be an object such as {every: '30s', ping: true}, got %s", describe(v))
	}
	if err := checkKeys("heartbeat.", m, heartbeatKeys); err != nil {
		return hb, err
	}
	var err error
	if every, ok := m["every"]; ok {
		if hb.Every, err = duration("heartbeat.every", every); err != nil {
			return hb, err
		}
	}
	if hb.Ping, err = boolean("heartbeat.ping", m["ping"]); err != nil {
		return hb, err
	}
	hb.Text, err = str("heartbeat.text", m["text"])
	return hb, err // the engine checks the combination
}

func parseReplies(v any) ([]engine.Reply, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, badOption("replies", "must be an array such as [{match: '2', send: '3'}], got %s", describe(v))
	}
	out := make([]engine.Reply, 0, len(list))
	for i, item := range list {
		name := fmt.Sprintf("replies[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			return nil, badOption(name, "must be an object such as {match: '2', send: '3'}, got %s", describe(item))
		}
		if err := checkKeys(name+".", m, replyKeys); err != nil {
			return nil, err
		}
		var r engine.Reply
		var err error
		if _, ok := m["match"]; !ok {
			return nil, badOption(name+".match", "is required: the server message to answer")
		}
		if r.Match, err = str(name+".match", m["match"]); err != nil {
			return nil, err
		}
		if _, ok := m["send"]; !ok {
			return nil, badOption(name+".send", "is required: the text sent back")
		}
		if r.Send, err = str(name+".send", m["send"]); err != nil {
			return nil, err
		}
		if r.Prefix, err = boolean(name+".prefix", m["prefix"]); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parseLatency(v any) (*engine.LatencySpec, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badOption("latency", "must be an object such as {path: 'data.ts', unit: 'ms'}, got %s", describe(v))
	}
	if err := checkKeys("latency.", m, latencyKeys); err != nil {
		return nil, err
	}
	field, err := str("latency.field", m["field"])
	if err != nil {
		return nil, err
	}
	path, err := str("latency.path", m["path"])
	if err != nil {
		return nil, err
	}
	unitName := "ms"
	if u, ok := m["unit"]; ok {
		if unitName, err = str("latency.unit", u); err != nil {
			return nil, err
		}
	}
	unit, ok := latencyUnits[unitName]
	if !ok {
		return nil, badOption("latency.unit", "must be one of 'ns', 'us', 'ms', 's' (Unix epoch timestamp unit), got %q", unitName)
	}
	return &engine.LatencySpec{Field: field, Path: path, Unit: unit}, nil
}

// checkKeys rejects keys the binding does not know, so a typo such as
// "conections" fails loudly instead of silently using a default.
func checkKeys(prefix string, m map[string]any, known []string) error {
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	parts := make([]string, 0, len(unknown))
	for _, k := range unknown {
		part := "'" + prefix + k + "'"
		if s := closest(k, known); s != "" {
			part += " (did you mean '" + prefix + s + "'?)"
		}
		parts = append(parts, part)
	}
	return fmt.Errorf("massconn.connect: unknown option %s; known options%s are: %s",
		strings.Join(parts, ", "), inWhat(prefix), strings.Join(known, ", "))
}

func inWhat(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " of '" + strings.TrimSuffix(prefix, ".") + "'"
}

// closest returns the known key within two edits of k, if any.
func closest(k string, known []string) string {
	best, bestDist := "", 3
	for _, cand := range known {
		if d := editDistance(strings.ToLower(k), strings.ToLower(cand)); d < bestDist {
			best, bestDist = cand, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// number accepts a finite JS number. lowest is only for the message: the
// engine checks the range (Config.Validate).
func number(name string, v any, lowest float64) (float64, error) {
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		return 0, badOption(name, "must be a number >= %v, got %s", lowest, describe(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, badOption(name, "must be a number >= %v, got %v", lowest, f)
	}
	return f, nil
}

// wholeNumber accepts a JS number without a fraction that fits the engine's
// int fields. lowest is only for the message: the engine checks the range
// of its own fields (Config.Validate).
func wholeNumber(name string, v any, lowest int64, required bool) (int64, error) {
	if v == nil {
		if required {
			return 0, badOption(name, "is required: a whole number >= %d", lowest)
		}
		return 0, nil
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
			return 0, badOption(name, "must be a whole number >= %d, got %v", lowest, x)
		}
		n = int64(x)
	default:
		return 0, badOption(name, "must be a whole number >= %d, got %s", lowest, describe(v))
	}
	if n > math.MaxInt32 {
		return 0, badOption(name, "must be at most %d, got %d", math.MaxInt32, n)
	}
	if n < math.MinInt32 {
		return 0, badOption(name, "must be a whole number >= %d, got %d", lowest, n)
	}
	return n, nil
}

// integer is wholeNumber with the range checked here, for the values only
// the binding uses (connOffset, share's total, a step's goto, times and
// close code, which JS writes differently from program.Step).
func integer(name string, v any, lowest int64, required bool) (int64, error) {
	n, err := wholeNumber(name, v, lowest, required)
	if err == nil && n < lowest {
		return 0, badOption(name, "must be a whole number >= %d, got %d", lowest, n)
	}
	return n, err
}

func duration(name string, v any) (time.Duration, error) {
	switch x := v.(type) {
	case string, int64:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > math.MaxInt64/float64(time.Millisecond) {
			return 0, badOption(name, "must be a duration such as '10s' or a number of milliseconds, got %v", x)
		}
	default:
		return 0, badOption(name, "must be a duration such as '10s' or a number of milliseconds, got %s", describe(v))
	}
	d, err := types.GetDurationValue(v)
	if err != nil {
		return 0, badOption(name, "must be a duration such as '10s' or a number of milliseconds: %v", err)
	}
	if d <= 0 {
		return 0, badOption(name, "must be a positive duration such as '10s', got %v", v)
	}
	return d, nil
}

func str(name string, v any) (string, error) {
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", badOption(name, "must be a string, got %s", describe(v))
	}
	return s, nil
}

func boolean(name string, v any) (bool, error) {
	if v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, badOption(name, "must be true or false, got %s", describe(v))
	}
	return b, nil
}

// stringList accepts an array of strings; a lone string counts as a list of
// one when single is set (urls: 'ws://...' is a natural thing to write).
func stringList(name string, v any, single bool) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && single {
		return []string{s}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, badOption(name, "must be an array of strings, got %s", describe(v))
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, badOption(fmt.Sprintf("%s[%d]", name, i), "must be a string, got %s", describe(item))
		}
		out = append(out, s)
	}
	return out, nil
}

func stringMap(name string, v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badOption(name, "must be an object of string values, got %s", describe(v))
	}
	out := make(map[string]string, len(m))
	for k, item := range m {
		s, ok := item.(string)
		if !ok {
			return nil, badOption(name+"."+k, "must be a string, got %s", describe(item))
		}
		out[k] = s
	}
	return out, nil
}

// describe renders a value the way a JS author would recognise it.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "undefined"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case int64, float64:
		return fmt.Sprintf("%v", x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
