package massconn

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

// jsOptions maps the Go path of an engine.Config field (indices written
// "[]") to the JS option that sets it: the one table between the engine's
// field errors and the names a script author wrote.
var jsOptions = map[string]string{
	"URLs":               "urls",
	"URLs[]":             "urls[]",
	"Connections":        "connections",
	"Rate":               "rate",
	"MaxInFlight":        "maxInFlight",
	"LocalAddrs":         "localAddrs",
	"LocalAddrs[]":       "localAddrs[]",
	"ConnectTimeout":     "connectTimeout",
	"Header":             "headers",
	"Subprotocols":       "subprotocols",
	"OnOpenSend":         "onOpenSend",
	"Heartbeat":          "heartbeat",
	"Heartbeat.Every":    "heartbeat.every",
	"Heartbeat.Ping":     "heartbeat.ping",
	"Heartbeat.Text":     "heartbeat.text",
	"Replies":            "replies",
	"Replies[]":          "replies[]",
	"Replies[].Match":    "replies[].match",
	"Replies[].Send":     "replies[].send",
	"Replies[].Prefix":   "replies[].prefix",
	"Latency":            "latency",
	"Latency.Path":       "latency.path",
	"Latency.Field":      "latency.field",
	"Latency.Unit":       "latency.unit",
	"Sequence":           "sequence",
	"Sequence.Path":      "sequence.path",
	"Sequence.Per":       "sequence.per",
	"Protocol":           "protocol",
	"Protocol.Heartbeat": "protocol.heartbeat",
	"Protocol.KeepAlive": "protocol.keepAlive",
	"Batched":            "batched",
	"Reconnect":          "reconnect",
	"MaxMessageSize":     "maxMessageSize",
	"SendQueueLimit":     "sendQueueLimit",
	"Compression":        "compression",
	"SampleLimit":        "sampleLimit",
	"Lifetime":           "lifetime",
	"Lifetime.Min":       "lifetime.min",
	"Lifetime.Max":       "lifetime.max",
	"Steps":              "steps",
	"Steps[]":            "steps[]",
	"Steps[].Kind":       "steps[]",
	"Steps[].Text":       "steps[].send",
	"Steps[].Binary":     "steps[].binary",
	"Steps[].QoS":        "steps[].qos",
	"Steps[].Match":      "steps[].expect",
	"Steps[].Prefix":     "steps[].prefix",
	"Steps[].Path":       "steps[].expect.path",
	"Steps[].Equals":     "steps[].expect.equals",
	"Steps[].Timeout":    "steps[].timeout",
	"Steps[].OnTimeout":  "steps[].onTimeout",
	"Steps[].Min":        "steps[].sleep",
	"Steps[].Max":        "steps[].sleep",
	"Steps[].Target":     "steps[].goto",
	"Steps[].Times":      "steps[].times",
	"Steps[].Code":       "steps[].close",
	"Data":               "data",
	"SSE":                "sse",
	"SSE.Events":         "sse.events",
	"SSE.Events[]":       "sse.events[]",
	"IdleTimeout":        "idleTimeout",
}

var pathIndex = regexp.MustCompile(`\[\d+\]`)

// jsOption names the engine field at goPath ("Steps[3].Target") as the JS
// option a script sets ("steps[3].goto"); a field missing from jsOptions
// keeps its Go path, which TestJSOptionsNameEveryField prevents.
func jsOption(goPath string) string {
	indices := pathIndex.FindAllString(goPath, -1)
	js, ok := jsOptions[pathIndex.ReplaceAllString(goPath, "[]")]
	if adapterOption, isAdapter := strings.CutPrefix(goPath, "Protocol."); !ok && isAdapter {
		// An adapter's own option, named by the adapter as the script
		// wrote it (protocol.token, protocol.joinPayload).
		return "protocol." + adapterOption
	}
	if !ok {
		return goPath
	}
	for _, idx := range indices {
		js = strings.Replace(js, "[]", idx, 1)
	}
	return js
}

// connectError is what connect throws for an error of engine.Dial: the
// engine's field errors, one line each, under their JS option names, or
// the error itself.
func connectError(err error) error {
	fields := engine.FieldErrors(err)
	if len(fields) == 0 {
		return fmt.Errorf("massconn.connect: %w", err)
	}
	errs := make([]error, len(fields))
	for i, fe := range fields {
		errs[i] = &optionError{option: jsOption(fe.Field), msg: fe.Message(jsOption)}
	}
	return errors.Join(errs...)
}
