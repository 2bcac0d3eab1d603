// Package protocol holds the adapters that speak a realtime protocol on top
// of WebSocket text messages: they do the protocol's handshake, keep-alive
// and subscriptions, and unwrap its envelope so that the engine counts and
// measures application messages only (not pings, acks or join replies).
//
// An Adapter is shared by every connection of a pool and by several event
// loops at once, so it holds only configuration; what a connection needs to
// remember lives in its State, a few bytes inside the engine's connection.
// Adapters parse with package jsonfield, which does not allocate, because
// Message runs for every message the engine receives.
package protocol

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Conn is what an adapter can do on one connection; the engine implements
// it for its event loops and for its portable goroutine-per-connection path.
type Conn interface {
	// Send sends a text message to the server.
	Send(text []byte)
	// Deliver counts one application message; payload is what the latency
	// path is read from.
	Deliver(payload []byte)
	// Reject ends the connection as refused by the server at the protocol
	// level: a failure with reason "rejected" and code naming the
	// protocol's own code, such as "centrifugo_101". The adapter must not
	// use the Conn after Reject.
	Reject(code string)
}

// State is one connection's adapter state. The engine zeroes it when a
// connection (re)opens and never reads it.
//
// It is 4 bytes so that it fits the engine's 128-byte connection without
// growing it to the next allocation size class.
type State struct {
	Phase uint8  // adapter-defined stage of the protocol's handshake
	Ref   uint16 // last message reference used, for protocols that number requests
}

// Adapter speaks one protocol.
type Adapter interface {
	// Name is the protocol's name as given in the options, e.g. "centrifugo".
	Name() string
	// PrepareURL adds what the protocol needs in the URL (Socket.IO's EIO
	// and transport parameters, Phoenix's vsn).
	PrepareURL(raw string) (string, error)
	// Subprotocols are offered in Sec-WebSocket-Protocol when the user
	// gives none.
	Subprotocols() []string
	// Heartbeat is how often the client must send a keep-alive of its own
	// (Beat); 0 when the server pings and the adapter answers.
	Heartbeat() time.Duration
	// Open runs once the WebSocket handshake is done.
	Open(st *State, c Conn)
	// Message handles one received text message (which may hold a
	// newline-delimited batch of protocol messages).
	Message(st *State, msg []byte, c Conn)
	// Beat sends the client's keep-alive, every Heartbeat().
	Beat(st *State, c Conn)
	// Closed tells whether a close code from the server is the protocol's
	// refusal, and the code to report it under.
	Closed(st *State, code int) (rejectCode string, rejected bool)
}

// addQuery adds key=value to raw unless raw already sets key. It appends
// to the query as written rather than re-encoding the URL, so that the
// rest of it, per-connection variables such as {{conn}} included, stays
// as the script wrote it.
func addQuery(raw string, kv ...string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	q := u.Query()
	out := raw
	for i := 0; i+1 < len(kv); i += 2 {
		if q.Has(kv[i]) {
			continue
		}
		sep := "&"
		switch {
		case !strings.Contains(out, "?"):
			sep = "?"
		case strings.HasSuffix(out, "?") || strings.HasSuffix(out, "&"):
			sep = ""
		}
		out += sep + url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1])
	}
	return out, nil
}

// quote renders s as a JSON string.
func quote(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// codeName is the rejection code "<protocol>_<code>".
func codeName(protocol string, code int64) string {
	return protocol + "_" + strconv.FormatInt(code, 10)
}
