package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// SocketIOOptions configure the Socket.IO adapter.
type SocketIOOptions struct {
	Namespace string          // "" = "/"
	Auth      json.RawMessage // sent with the namespace connect packet; nil = none
	Events    []string        // event names counted; empty = every event
}

// SocketIO speaks Socket.IO v4 over the Engine.IO v4 WebSocket transport:
// it waits for the Engine.IO open packet, connects to the namespace (with
// auth), answers every ping "2" with the pong "3", and counts events
// `42["name",arg,...]`; their payload is the first argument. A
// connect_error packet ("44") is a rejection.
type SocketIO struct {
	connect message            // "40" + namespace prefix + auth
	auth    *template.Template // nil without auth
	nsWire  []byte             // namespace as it prefixes packets: "" for "/", "/chat," otherwise
	events  [][]byte
}

// socket.io phases
const (
	sioWaitOpen uint8 = iota
	sioConnecting
	sioConnected
)

// NewSocketIO validates o and prepares the namespace connect packet.
func NewSocketIO(o SocketIOOptions) (*SocketIO, error) {
	ns := o.Namespace
	if ns == "" {
		ns = "/"
	}
	if err := noVariables("namespace", ns); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(ns, "/") || strings.ContainsAny(ns, ",?#") {
		return nil, fmt.Errorf("namespace: %q must start with '/' and hold no ',', '?' or '#', e.g. '/chat'", ns)
	}
	if o.Auth != nil && (!json.Valid(o.Auth) || bytes.TrimSpace(o.Auth)[0] != '{') {
		return nil, fmt.Errorf("auth: must be a JSON object")
	}
	a := &SocketIO{}
	if ns != "/" {
		a.nsWire = []byte(ns + ",")
	}
	parts := []*template.Template{lit("40" + string(a.nsWire))}
	if o.Auth != nil {
		var err error
		if a.auth, err = jsonOption("auth", o.Auth); err != nil {
			return nil, err
		}
		parts = append(parts, a.auth)
	}
	a.connect = newMessage(parts...)
	for _, e := range o.Events {
		a.events = append(a.events, []byte(e))
	}
	return a, nil
}

func (a *SocketIO) Name() string { return "socketio" }

// Templates is the auth option, checked by the engine.
func (a *SocketIO) Templates() map[string]*template.Template {
	if a.auth == nil {
		return nil
	}
	return map[string]*template.Template{"auth": a.auth}
}

// PrepareURL adds EIO=4&transport=websocket when the URL does not say.
func (a *SocketIO) PrepareURL(raw string) (string, error) {
	return addQuery(raw, "EIO", "4", "transport", "websocket")
}

func (a *SocketIO) Subprotocols() []string   { return nil }
func (a *SocketIO) Heartbeat() time.Duration { return 0 }
func (a *SocketIO) Beat(*State, Conn)        {}
func (a *SocketIO) Open(*State, Conn)        {}

func (a *SocketIO) Closed(*State, int) (string, bool) { return "", false }

var sioPong = []byte("3")

func (a *SocketIO) Message(st *State, msg []byte, c Conn) {
	if len(msg) == 0 {
		return
	}
	switch msg[0] {
	case '0': // Engine.IO open
		if st.Phase == sioWaitOpen {
			st.Phase = sioConnecting
			c.Send(a.connect.bytes(c))
		}
	case '2': // Engine.IO ping
		if len(msg) == 1 {
			c.Send(sioPong)
		}
	case '4': // Engine.IO message: a Socket.IO packet follows
		if len(msg) < 2 {
			return
		}
		kind, rest := msg[1], msg[2:]
		rest, ok := a.inNamespace(rest)
		if !ok {
			return
		}
		switch kind {
		case '0':
			st.Phase = sioConnected
		case '4':
			c.Reject("socketio_connect_error")
		case '2':
			a.event(rest, c)
		case '3':
			a.ackPacket(rest, c)
		}
	}
}

// inNamespace strips the namespace prefix and reports whether the packet is
// for the adapter's namespace.
func (a *SocketIO) inNamespace(p []byte) ([]byte, bool) {
	if len(a.nsWire) == 0 {
		return p, len(p) == 0 || p[0] != '/'
	}
	if !bytes.HasPrefix(p, a.nsWire) {
		return nil, false
	}
	return p[len(a.nsWire):], true
}

// event counts `[ackId]["name",arg,...]`.
func (a *SocketIO) event(p []byte, c Conn) {
	for len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
		p = p[1:] // an acknowledgement id
	}
	it := jsonfield.Elements(p)
	if !it.Next() {
		return
	}
	name, ok := jsonfield.String(it.Value())
	if !ok {
		return
	}
	if len(a.events) > 0 && !contains(a.events, name) {
		return
	}
	var arg []byte
	if it.Next() {
		arg = it.Value()
	}
	c.Deliver(arg)
}

// ackPacket hands `<ackId>[arg,...]`, the server's answer to a program's
// event, to the Conn: its payload is the first argument.
func (a *SocketIO) ackPacket(p []byte, c Conn) {
	for len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
		p = p[1:]
	}
	it := jsonfield.Elements(p)
	var arg []byte
	if it.Next() {
		arg = it.Value()
	}
	ack(c, arg)
}
