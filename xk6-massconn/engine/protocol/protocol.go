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
	// Send sends a message to the server: a text message, or a binary one
	// for a Binary adapter. msg is not kept after Send returns.
	Send(msg []byte)
	// Deliver counts one application message; payload is what the latency
	// path is read from.
	Deliver(payload []byte)
	// Reject ends the connection as refused by the server at the protocol
	// level: a failure with reason "rejected" and code naming the
	// protocol's own code, such as "centrifugo_101". The adapter must not
	// use the Conn after Reject.
	Reject(code string)
	// Drop ends the session as lost, counted as a drop under close code
	// (the close frame sent carries it), for an adapter that finds the
	// server gone silent. The adapter must not use the Conn after Drop.
	Drop(code int)
	// Kept returns the bytes the adapter kept with Keep: the start of a
	// protocol packet that continues in the next message; nil if none.
	Kept() []byte
	// Keep keeps a copy of partial until the next message, or forgets
	// what was kept when partial is empty. The engine holds it only while
	// it is not empty; past the pool's MaxMessageSize it ends the
	// session instead (1009) and returns false, after which the adapter
	// must not use the Conn.
	Keep(partial []byte) bool
}

// Binary is implemented by adapters whose protocol travels in binary
// WebSocket messages (MQTT): the engine sends their messages as binary and
// hands them binary messages, ignoring text ones.
type Binary interface {
	BinaryMessages()
}

// IsBinary reports whether a speaks in binary messages.
func IsBinary(a Adapter) bool {
	_, ok := a.(Binary)
	return ok
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
	// (Beat); 0 when the server pings and the adapter answers. The engine
	// spreads each connection's first beat over one period.
	Heartbeat() time.Duration
	// Open runs once the WebSocket handshake is done.
	Open(st *State, c Conn)
	// Message handles one received text message (which may hold a
	// newline-delimited batch of protocol messages), or binary message for
	// a Binary adapter.
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
