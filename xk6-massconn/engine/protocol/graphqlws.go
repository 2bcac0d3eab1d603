package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// GraphQLWSOptions configure the graphql-ws adapter.
type GraphQLWSOptions struct {
	Query         string          // the subscription document
	Variables     json.RawMessage // a JSON object; nil = none
	OperationName string
	InitPayload   json.RawMessage // connection_init payload, a JSON object; nil = none
}

// GraphQLWS speaks the graphql-transport-ws subprotocol (the graphql-ws
// library): connection_init, subscribe once connection_ack arrives, pong to
// every ping. Application messages are "next"; their payload is the
// message's payload ({"data": ...}). An "error" message or a 4xxx close is a
// rejection.
type GraphQLWS struct {
	init      message
	subscribe message
	templates map[string]*template.Template
}

// graphql-ws phases
const (
	gqlWaitAck uint8 = iota
	gqlSubscribed
)

// NewGraphQLWS validates o and prepares the messages every connection sends.
func NewGraphQLWS(o GraphQLWSOptions) (*GraphQLWS, error) {
	if o.Query == "" {
		return nil, errors.New("query: is required: the subscription, e.g. 'subscription { tick { ts } }'")
	}
	for name, v := range map[string]json.RawMessage{"variables": o.Variables, "initPayload": o.InitPayload} {
		if v != nil && (!json.Valid(v) || bytes.TrimSpace(v)[0] != '{') {
			return nil, fmt.Errorf("%s: must be a JSON object", name)
		}
	}
	if err := noVariables("operationName", o.OperationName); err != nil {
		return nil, err
	}
	a := &GraphQLWS{templates: map[string]*template.Template{}}
	init := []*template.Template{lit(`{"type":"connection_init"`)}
	if o.InitPayload != nil {
		t, err := a.keep("initPayload")(jsonOption("initPayload", o.InitPayload))
		if err != nil {
			return nil, err
		}
		init = append(init, lit(`,"payload":`), t)
	}
	a.init = newMessage(append(init, lit("}"))...)
	q, err := a.keep("query")(stringOption("query", o.Query))
	if err != nil {
		return nil, err
	}
	sub := []*template.Template{lit(`{"id":"1","type":"subscribe","payload":{"query":`), q}
	if o.Variables != nil {
		t, err := a.keep("variables")(jsonOption("variables", o.Variables))
		if err != nil {
			return nil, err
		}
		sub = append(sub, lit(`,"variables":`), t)
	}
	if o.OperationName != "" {
		sub = append(sub, lit(`,"operationName":`+string(quote(o.OperationName))))
	}
	a.subscribe = newMessage(append(sub, lit("}}"))...)
	return a, nil
}

func (a *GraphQLWS) Name() string                          { return "graphql-ws" }
func (a *GraphQLWS) PrepareURL(raw string) (string, error) { return raw, nil }
func (a *GraphQLWS) Subprotocols() []string                { return []string{"graphql-transport-ws"} }
func (a *GraphQLWS) Heartbeat() time.Duration              { return 0 }
func (a *GraphQLWS) Beat(*State, Conn)                     {}
func (a *GraphQLWS) Open(st *State, c Conn)                { c.Send(a.init.bytes(c)) }

// keep records a parsed option template under name, for Templates.
func (a *GraphQLWS) keep(name string) func(*template.Template, error) (*template.Template, error) {
	return func(t *template.Template, err error) (*template.Template, error) {
		if err == nil {
			a.templates[name] = t
		}
		return t, err
	}
}

// Templates are the query, variables and initPayload options, checked by
// the engine.
func (a *GraphQLWS) Templates() map[string]*template.Template { return a.templates }

var gqlPong = []byte(`{"type":"pong"}`)

func (a *GraphQLWS) Message(st *State, msg []byte, c Conn) {
	var typ, payload []byte
	for m := jsonfield.Members(msg); m.Next(); {
		switch {
		case m.KeyIs("type"):
			typ = m.Value()
		case m.KeyIs("payload"):
			payload = m.Value()
		}
	}
	t, _ := jsonfield.String(typ)
	switch string(t) {
	case "next":
		c.Deliver(payload)
	case "ping":
		c.Send(gqlPong)
	case "connection_ack":
		if st.Phase == gqlWaitAck {
			st.Phase = gqlSubscribed
			c.Send(a.subscribe.bytes(c))
		}
	case "error":
		c.Reject("graphql-ws_error")
	}
}

// Closed: graphql-ws closes with 4400 (bad request), 4401 (unauthorized),
// 4403 (forbidden), 4408 (init timeout), 4429 (too many init requests) and
// other 4xxx codes when it refuses a client.
func (a *GraphQLWS) Closed(_ *State, code int) (string, bool) {
	if code >= 4000 && code <= 4999 {
		return codeName("graphql-ws", int64(code)), true
	}
	return "", false
}
