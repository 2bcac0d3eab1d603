package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// PhoenixOptions configure the Phoenix Channels adapter.
type PhoenixOptions struct {
	Vsn         string          // serializer: "2.0.0" (array form, default) or "1.0.0" (object form)
	Topics      []string        // joined after open
	JoinPayload json.RawMessage // payload of every phx_join; nil = {}
	Heartbeat   time.Duration   // 0 = 30s
	Events      []string        // event names counted; empty = every event not starting with "phx_"
}

// DefaultPhoenixHeartbeat is the Phoenix JS client's heartbeat period.
const DefaultPhoenixHeartbeat = 30 * time.Second

// Phoenix speaks Phoenix Channels: it joins every topic after open
// (join_ref = ref = 1..N), sends a heartbeat on topic "phoenix" with
// increasing refs, and counts pushes on joined topics; their payload is the
// message's payload. A phx_reply with status "error" to a join is a
// rejection.
type Phoenix struct {
	v1        bool
	vsn       string
	joins     []message
	payload   *template.Template // joinPayload, for Templates
	topics    [][]byte
	events    [][]byte
	heartbeat time.Duration
}

// NewPhoenix validates o and prepares the join messages.
func NewPhoenix(o PhoenixOptions) (*Phoenix, error) {
	a := &Phoenix{vsn: o.Vsn, heartbeat: o.Heartbeat}
	switch o.Vsn {
	case "", "2.0.0":
		a.vsn = "2.0.0"
	case "1.0.0":
		a.v1 = true
	default:
		return nil, fmt.Errorf("vsn: must be '2.0.0' (array messages) or '1.0.0' (object messages), got %q", o.Vsn)
	}
	if a.heartbeat == 0 {
		a.heartbeat = DefaultPhoenixHeartbeat
	}
	if len(o.Topics) == 0 {
		return nil, fmt.Errorf("topics: is required: name at least one topic to join, e.g. ['room:lobby']")
	}
	if len(o.Topics) > maxTopics {
		return nil, fmt.Errorf("topics: at most %d topics per connection, got %d", maxTopics, len(o.Topics))
	}
	payload := o.JoinPayload
	if payload == nil {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		return nil, fmt.Errorf("joinPayload: not valid JSON")
	}
	var err error
	if a.payload, err = jsonOption("joinPayload", payload); err != nil {
		return nil, err
	}
	if err := noVariables("topics", o.Topics...); err != nil {
		return nil, err
	}
	for i, t := range o.Topics {
		if t == "" {
			return nil, fmt.Errorf("topics[%d]: empty topic", i)
		}
		ref := strconv.Itoa(i + 1)
		// The join is encoded around a marker that cannot occur in its
		// JSON framing, then split there around the payload's template.
		framing := string(a.encode(ref, ref, t, "phx_join", payloadMarker))
		head, tail, _ := strings.Cut(framing, string(payloadMarker))
		a.joins = append(a.joins, newMessage(lit(head), a.payload, lit(tail)))
		a.topics = append(a.topics, []byte(t))
	}
	for _, e := range o.Events {
		a.events = append(a.events, []byte(e))
	}
	return a, nil
}

// encode renders one message; joinRef "" is null.
func (a *Phoenix) encode(joinRef, ref, topic, event string, payload []byte) []byte {
	var b bytes.Buffer
	jr := []byte("null")
	if joinRef != "" {
		jr = quote(joinRef)
	}
	if a.v1 {
		b.WriteString(`{"topic":`)
		b.Write(quote(topic))
		b.WriteString(`,"event":`)
		b.Write(quote(event))
		b.WriteString(`,"payload":`)
		b.Write(payload)
		b.WriteString(`,"ref":`)
		b.Write(quote(ref))
		b.WriteString(`,"join_ref":`)
		b.Write(jr)
		b.WriteString("}")
	} else {
		b.WriteString("[")
		b.Write(jr)
		b.WriteString(",")
		b.Write(quote(ref))
		b.WriteString(",")
		b.Write(quote(topic))
		b.WriteString(",")
		b.Write(quote(event))
		b.WriteString(",")
		b.Write(payload)
		b.WriteString("]")
	}
	return b.Bytes()
}

func (a *Phoenix) Name() string { return "phoenix" }

// PrepareURL adds vsn when the URL does not say (the server picks its
// serializer from it).
func (a *Phoenix) PrepareURL(raw string) (string, error) {
	u, err := addQuery(raw, "vsn", a.vsn)
	if err != nil {
		return "", err
	}
	if !strings.Contains(u, "vsn="+a.vsn) {
		return "", fmt.Errorf("the URL asks for a vsn other than %q; drop it from the URL or give the adapter that vsn", a.vsn)
	}
	return u, nil
}

func (a *Phoenix) Subprotocols() []string            { return nil }
func (a *Phoenix) Heartbeat() time.Duration          { return a.heartbeat }
func (a *Phoenix) Closed(*State, int) (string, bool) { return "", false }

// payloadMarker stands for the join payload while a join is encoded: a
// JSON value position holds no bare '\x00'.
var payloadMarker = []byte{0}

// Templates is the joinPayload option, checked by the engine.
func (a *Phoenix) Templates() map[string]*template.Template {
	return map[string]*template.Template{"joinPayload": a.payload}
}

func (a *Phoenix) Open(st *State, c Conn) {
	for i := range a.joins {
		c.Send(a.joins[i].bytes(c))
	}
	st.Ref = uint16(len(a.joins)) //nolint:gosec // at most maxTopics
}

// maxTopics keeps join refs (1..N) within State.Ref.
const maxTopics = 1000

func (a *Phoenix) Beat(st *State, c Conn) {
	st.Ref++
	if int(st.Ref) <= len(a.joins) {
		// Wrapped around (after 65,535 heartbeats): skip the join refs, so
		// that a heartbeat reply is never taken for a join reply.
		st.Ref = uint16(len(a.joins) + 1) //nolint:gosec // at most maxTopics
	}
	c.Send(a.encode("", strconv.FormatUint(uint64(st.Ref), 10), "phoenix", "heartbeat", emptyObject))
}

var (
	phxStatus = jsonfield.Key("status")
	phxError  = []byte("error")
	phxReply  = []byte("phx_reply")
	phxPrefix = []byte("phx_")
)

func (a *Phoenix) Message(st *State, msg []byte, c Conn) {
	var ref, topic, event, payload []byte
	if a.v1 {
		for m := jsonfield.Members(msg); m.Next(); {
			switch {
			case m.KeyIs("ref"):
				ref = m.Value()
			case m.KeyIs("topic"):
				topic = m.Value()
			case m.KeyIs("event"):
				event = m.Value()
			case m.KeyIs("payload"):
				payload = m.Value()
			}
		}
	} else {
		it := jsonfield.Elements(msg)
		for i := 0; i < 5 && it.Next(); i++ {
			switch i {
			case 1:
				ref = it.Value()
			case 2:
				topic = it.Value()
			case 3:
				event = it.Value()
			case 4:
				payload = it.Value()
			}
		}
	}
	ev, ok := jsonfield.String(event)
	if !ok {
		return
	}
	if bytes.Equal(ev, phxReply) {
		r, _ := jsonfield.String(ref)
		n, ok := jsonfield.Int(r)
		if !ok || n < 1 || n > int64(len(a.joins)) {
			return // a heartbeat's or another request's reply
		}
		status, _ := phxStatus.Lookup(payload)
		if s, _ := jsonfield.String(status); bytes.Equal(s, phxError) {
			c.Reject("phoenix_join_error")
		}
		return
	}
	t, ok := jsonfield.String(topic)
	if !ok || !a.joined(t) {
		return
	}
	if len(a.events) == 0 {
		if bytes.HasPrefix(ev, phxPrefix) {
			return // phx_close, phx_error: channel life cycle, not application data
		}
	} else if !contains(a.events, ev) {
		return
	}
	c.Deliver(payload)
}

func (a *Phoenix) joined(topic []byte) bool { return contains(a.topics, topic) }

func contains(list [][]byte, v []byte) bool {
	for _, e := range list {
		if bytes.Equal(e, v) {
			return true
		}
	}
	return false
}
