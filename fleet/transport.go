package fleet

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/massconn/massconn/server/hub"
)

// Transport is how the k6 parts reach the server: WebSocket (ws:// to our
// servers' /ws) or Server-Sent Events (an EventSource, http:// to /sse).
// The extension picks the transport from the URL scheme; the fleet picks
// the URLs, so this is the one place that says which schemes and paths
// belong to which transport.
type Transport string

// The transports a fleet run knows.
const (
	TransportWS  Transport = "ws"
	TransportSSE Transport = "sse"
)

// Transports are the values --transport takes.
var Transports = []Transport{TransportWS, TransportSSE}

// ParseTransport reads --transport: "" is "unset" (the scenario's or the
// target's transport), anything else must be one of Transports.
func ParseTransport(s string) (Transport, error) {
	switch t := Transport(strings.ToLower(strings.TrimSpace(s))); t {
	case "", TransportWS, TransportSSE:
		return t, nil
	}
	return "", fmt.Errorf("--transport %q: must be ws (WebSocket, ws:// to the server's /ws) or sse (Server-Sent Events, http:// to its /sse), e.g. --transport sse", s)
}

// scheme is the URL scheme of the transport's connections to our servers.
func (t Transport) scheme() string {
	if t == TransportSSE {
		return "http"
	}
	return "ws"
}

// path is our server's endpoint of the transport, with the topic.
func (t Transport) path() string {
	if t == TransportSSE {
		return "/sse?topic=Track"
	}
	return "/ws?topic=Track"
}

// hub is the server's name for the transport: whose bytes it writes.
func (t Transport) hub() hub.Transport {
	if t == TransportSSE {
		return hub.SSE
	}
	return hub.WebSocket
}

// messageName is what one delivered message is on the wire, for the
// report's floor line.
func (t Transport) messageName() string {
	if t == TransportSSE {
		return "SSE event"
	}
	return "WebSocket frame"
}

// transportOfURL is the transport a target URL's scheme means; ok is
// false for a scheme of neither.
func transportOfURL(raw string) (Transport, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss":
		return TransportWS, true
	case "http", "https":
		return TransportSSE, true
	}
	return "", false
}

// resolveTransport is the run's transport from --transport (given, maybe
// ""), the scenario and the --target URLs: the heartbeat scenario is
// SSE's, targets bring their own, and a --transport that disagrees with
// either is refused naming both.
func resolveTransport(given Transport, scenario string, targets []string) (Transport, error) {
	t := given
	if scenario == HeartbeatScenario {
		if t == TransportWS {
			return "", fmt.Errorf("--transport ws: the %s scenario counts the server's SSE heartbeat comments, which a WebSocket has not: "+
				"leave --transport out or use --transport sse", HeartbeatScenario)
		}
		t = TransportSSE
	}
	for _, raw := range targets {
		tt, ok := transportOfURL(raw)
		if !ok {
			continue // CheckTargets names the URL
		}
		if t != "" && tt != t {
			return "", fmt.Errorf("--target %q is %s, but the run is %s (--transport or the scenario): "+
				"give ws:// or wss:// URLs for WebSocket, http:// or https:// ones for SSE, not both", raw, tt, t)
		}
		t = tt
	}
	if t == "" {
		t = TransportWS
	}
	return t, nil
}
