package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// CentrifugoOptions configure the Centrifugo (centrifuge JSON protocol)
// adapter.
type CentrifugoOptions struct {
	Token    string          // connection JWT; empty for insecure or anonymous setups
	Data     json.RawMessage // custom connect data, any JSON value; nil = none
	Name     string          // client name reported to the server; "" = "massconn"
	Channels []string        // subscribed to after the connect reply
}

// Centrifugo speaks the Centrifugo v5/v6 (centrifuge) JSON client protocol:
// a connect command, a subscribe command per channel once connected,
// `{}` pings answered with `{}` wherever they appear in a newline-delimited
// batch. Application messages are publications; their payload is pub.data.
type Centrifugo struct {
	connect    message
	templates  map[string]*template.Template // token and data, for Templates
	subscribes []byte                        // every subscribe command, newline-delimited, sent as one message
	publishTo  []byte                        // the first channel as a JSON string: where a program's send steps publish
}

// centrifugo phases
const (
	cfConnecting uint8 = iota
	cfConnected
)

// NewCentrifugo validates o and prepares the commands every connection sends.
func NewCentrifugo(o CentrifugoOptions) (*Centrifugo, error) {
	if o.Data != nil && !json.Valid(o.Data) {
		return nil, fmt.Errorf("data: not valid JSON")
	}
	name := o.Name
	if name == "" {
		name = "massconn"
	}
	if err := noVariables("channels", o.Channels...); err != nil {
		return nil, err
	}
	if err := noVariables("client", o.Name); err != nil {
		return nil, err
	}
	a := &Centrifugo{templates: map[string]*template.Template{}}
	parts := []*template.Template{lit(`{"id":1,"connect":{"name":` + string(quote(name)))}
	if o.Token != "" {
		t, err := stringOption("token", o.Token)
		if err != nil {
			return nil, err
		}
		a.templates["token"] = t
		parts = append(parts, lit(`,"token":`), t)
	}
	if o.Data != nil {
		t, err := jsonOption("data", o.Data)
		if err != nil {
			return nil, err
		}
		a.templates["data"] = t
		parts = append(parts, lit(`,"data":`), t)
	}
	a.connect = newMessage(append(parts, lit("}}"))...)
	var cmd bytes.Buffer
	for i, ch := range o.Channels {
		if ch == "" {
			return nil, fmt.Errorf("channels[%d]: empty channel name", i)
		}
		if i > 0 {
			cmd.WriteByte('\n')
		}
		if i == 0 {
			a.publishTo = quote(ch)
		}
		cmd.WriteString(`{"id":`)
		cmd.WriteString(strconv.Itoa(i + 2))
		cmd.WriteString(`,"subscribe":{"channel":`)
		cmd.Write(quote(ch))
		cmd.WriteString("}}")
	}
	if cmd.Len() > 0 {
		a.subscribes = bytes.Clone(cmd.Bytes())
	}
	return a, nil
}

func (a *Centrifugo) Name() string                          { return "centrifugo" }
func (a *Centrifugo) PrepareURL(raw string) (string, error) { return raw, nil }
func (a *Centrifugo) Subprotocols() []string                { return nil }
func (a *Centrifugo) Heartbeat() time.Duration              { return 0 }
func (a *Centrifugo) Beat(*State, Conn)                     {}

func (a *Centrifugo) Open(st *State, c Conn) { c.Send(a.connect.bytes(c)) }

// Templates are the token and data options, checked by the engine.
func (a *Centrifugo) Templates() map[string]*template.Template { return a.templates }

var emptyObject = []byte("{}")

// newline separates the replies Centrifugo batches into one frame.
var newline = []byte{'\n'}

func (a *Centrifugo) Message(st *State, msg []byte, c Conn) {
	for len(msg) > 0 {
		var line []byte
		line, msg, _ = bytes.Cut(msg, newline)
		if !a.line(st, line, c) {
			return
		}
	}
}

// line handles one protocol message; false once the connection was rejected.
func (a *Centrifugo) line(st *State, line []byte, c Conn) bool {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return true
	}
	var errv, connect, push, publish []byte
	n := 0
	m := jsonfield.Members(line)
	for ; m.Next(); n++ {
		switch {
		case m.KeyIs("error"):
			errv = m.Value()
		case m.KeyIs("connect"):
			connect = m.Value()
		case m.KeyIs("push"):
			push = m.Value()
		case m.KeyIs("publish"):
			publish = m.Value()
		}
	}
	switch {
	case n == 0 && !m.Malformed():
		c.Send(emptyObject) // a ping: the pong is an empty command
	case errv != nil:
		code, _ := errorCode.Lookup(errv)
		v, ok := jsonfield.Int(code)
		if !ok {
			v = 0
		}
		c.Reject(codeName("centrifugo", v))
		return false
	case connect != nil && st.Phase == cfConnecting:
		st.Phase = cfConnected
		if a.subscribes != nil {
			c.Send(a.subscribes)
		}
	case publish != nil:
		ack(c, publish) // the reply to a program's publish
	case push != nil:
		if data, ok := pubData.Lookup(push); ok {
			c.Deliver(data)
		}
	}
	return true
}

var (
	errorCode = jsonfield.Key("code")
	pubData   = mustPath("pub.data")
)

// Closed: Centrifugo closes with 3500-3999 for terminal disconnects (3500
// invalid token, 3501 bad request, ...). Before the connect reply that is a
// refusal; afterwards it is an ordinary drop.
func (a *Centrifugo) Closed(st *State, code int) (string, bool) {
	if st.Phase == cfConnecting && code >= 3500 && code <= 3999 {
		return codeName("centrifugo", int64(code)), true
	}
	return "", false
}

func mustPath(text string) jsonfield.Path {
	p, err := jsonfield.ParsePath(text)
	if err != nil {
		panic(err)
	}
	return p
}
