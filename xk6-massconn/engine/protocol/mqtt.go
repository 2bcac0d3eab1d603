package protocol

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// MQTTOptions configure the MQTT-over-WebSocket adapter.
type MQTTOptions struct {
	Version string // "3.1.1" (default) or "5"
	// ClientID, Username and Password are templates of {{vu}} and {{conn}},
	// rendered as each connection opens. ClientID "" is
	// DefaultMQTTClientID: one id per connection, since a broker closes
	// the older of two connections with one id.
	ClientID, Username, Password string
	KeepAlive                    time.Duration // 0 = DefaultMQTTKeepAlive; whole seconds, 1 s to 65535 s
	KeepSession                  bool          // cleanSession (clean start in MQTT 5) off
	Topics                       []string      // subscribed to once connected
	QoS                          int           // the subscriptions' maximum QoS, 0 or 1
	Will                         *MQTTWill
}

// MQTTWill is the message the broker publishes when the connection ends
// without a DISCONNECT.
type MQTTWill struct {
	Topic   string
	Payload []byte
	QoS     int // 0, 1 or 2
	Retain  bool
}

// Defaults of MQTTOptions.
const (
	DefaultMQTTClientID  = "massconn-{{vu}}-{{conn}}"
	DefaultMQTTKeepAlive = 60 * time.Second
)

// CloseKeepAliveTimeout is the close code of a session massconn ends
// because the server did not answer a keep-alive within its period (MQTT's
// PINGRESP): 3008, registered with IANA as "Timeout". Such a session is
// counted as a drop with this code.
const CloseKeepAliveTimeout = 3008

// MQTT speaks MQTT 3.1.1 or 5 over WebSocket (subprotocol "mqtt", binary
// messages): CONNECT on open, one SUBSCRIBE for every topic once the
// CONNACK accepts, PINGREQ every keep-alive period. Application messages
// are PUBLISH packets; their payload is the PUBLISH payload. QoS 1 and 2
// publications are acknowledged. A refused CONNACK or SUBACK, and a
// server's DISCONNECT, are rejections with code mqtt_<return or reason
// code>.
type MQTT struct {
	v5          bool
	clientID    *template.Template
	username    *template.Template
	password    *template.Template
	templates   map[string]*template.Template // the non-empty ones, for Templates
	hasUser     bool
	hasPassword bool
	connectHead []byte // variable header of CONNECT: name, level, flags, keep alive
	will        []byte // the will's payload fields, between client id and user name
	subscribe   []byte // the SUBSCRIBE packet, nil without topics
	publishTo   []byte // the first topic: where a program's send steps publish
	keepAlive   time.Duration
	// connects recycles the CONNECT buffers: a pool opening 10,000
	// connections would otherwise leave 10,000 of them as garbage, which
	// k6's RSS carries until the collector returns the memory.
	connects sync.Pool
}

// mqtt phases (bits of State.Phase)
const (
	mqttConnected uint8 = 1 << iota // the CONNACK accepted
	mqttPinging                     // a PINGREQ waits for its PINGRESP
)

// maxMQTTString is the longest MQTT string: a two-byte length.
const maxMQTTString = 1<<16 - 1

// NewMQTT validates o and prepares what every connection sends.
func NewMQTT(o MQTTOptions) (*MQTT, error) {
	a := &MQTT{keepAlive: o.KeepAlive}
	var level byte
	switch o.Version {
	case "", "3.1.1":
		level = 4
	case "5":
		a.v5, level = true, 5
	default:
		return nil, fmt.Errorf("version: must be '3.1.1' or '5', got %q", o.Version)
	}
	if a.keepAlive == 0 {
		a.keepAlive = DefaultMQTTKeepAlive
	}
	if a.keepAlive < time.Second || a.keepAlive > maxMQTTString*time.Second || a.keepAlive%time.Second != 0 {
		return nil, fmt.Errorf("keepAlive: must be whole seconds from 1s to 65535s (MQTT sends it in seconds), got %v", o.KeepAlive)
	}
	if o.ClientID == "" {
		o.ClientID = DefaultMQTTClientID
	}
	var err error
	for _, f := range []struct {
		name string
		text string
		to   **template.Template
	}{{"clientId", o.ClientID, &a.clientID}, {"username", o.Username, &a.username}, {"password", o.Password, &a.password}} {
		if len(f.text) > maxMQTTString {
			return nil, fmt.Errorf("%s: longer than MQTT's %d bytes", f.name, maxMQTTString)
		}
		// MQTT strings are length-prefixed UTF-8: data values go in raw.
		if *f.to, err = template.Parse(f.text, template.Raw); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if f.text != "" {
			if a.templates == nil {
				a.templates = map[string]*template.Template{}
			}
			a.templates[f.name] = *f.to
		}
	}
	a.hasUser, a.hasPassword = o.Username != "", o.Password != ""
	if a.hasPassword && !a.hasUser && !a.v5 {
		return nil, errors.New("password: MQTT 3.1.1 sends a password only with a username: set username too, or version '5'")
	}
	if o.QoS != 0 && o.QoS != 1 {
		return nil, fmt.Errorf("qos: must be 0 or 1, got %d", o.QoS)
	}
	flags, err := a.prepareWill(o.Will)
	if err != nil {
		return nil, err
	}
	if !o.KeepSession {
		flags |= 0x02
	}
	if a.hasUser {
		flags |= 0x80
	}
	if a.hasPassword {
		flags |= 0x40
	}
	secs := int(a.keepAlive / time.Second)
	a.connectHead = appendString(nil, []byte("MQTT"))
	a.connectHead = append(a.connectHead, level, flags, byte(secs>>8), byte(secs))
	if a.v5 {
		a.connectHead = append(a.connectHead, 0) // no properties
	}
	if err := a.prepareSubscribe(o.Topics, byte(o.QoS)); err != nil {
		return nil, err
	}
	return a, nil
}

// prepareWill encodes the will's payload fields and returns its CONNECT
// flags.
func (a *MQTT) prepareWill(w *MQTTWill) (byte, error) {
	if w == nil {
		return 0, nil
	}
	switch {
	case w.Topic == "":
		return 0, errors.New("will.topic: is required with a will")
	case len(w.Topic) > maxMQTTString || len(w.Payload) > maxMQTTString:
		return 0, fmt.Errorf("will: topic and payload can each be at most %d bytes", maxMQTTString)
	case w.QoS < 0 || w.QoS > 2:
		return 0, fmt.Errorf("will.qos: must be 0, 1 or 2, got %d", w.QoS)
	}
	if a.v5 {
		a.will = append(a.will, 0) // no will properties
	}
	a.will = appendString(a.will, []byte(w.Topic))
	a.will = appendString(a.will, w.Payload)
	flags := byte(0x04) | byte(w.QoS)<<3
	if w.Retain {
		flags |= 0x20
	}
	return flags, nil
}

// prepareSubscribe encodes the one SUBSCRIBE (packet id 1) for every topic.
func (a *MQTT) prepareSubscribe(topics []string, qos byte) error {
	if len(topics) == 0 {
		return nil
	}
	body := []byte{0, 1}
	if a.v5 {
		body = append(body, 0) // no properties
	}
	for i, t := range topics {
		if t == "" || len(t) > maxMQTTString {
			return fmt.Errorf("topics[%d]: must be a topic filter of 1 to %d bytes", i, maxMQTTString)
		}
		body = appendString(body, []byte(t))
		body = append(body, qos)
	}
	if len(body) > maxVarint {
		return errors.New("topics: too many for one SUBSCRIBE packet")
	}
	a.subscribe = appendVarint([]byte{mqttSubscribe<<4 | 0x02}, len(body))
	a.subscribe = append(a.subscribe, body...)
	a.publishTo = []byte(topics[0])
	return nil
}

func (a *MQTT) Name() string                          { return "mqtt" }
func (a *MQTT) PrepareURL(raw string) (string, error) { return raw, nil }
func (a *MQTT) Subprotocols() []string                { return []string{"mqtt"} }
func (a *MQTT) Heartbeat() time.Duration              { return a.keepAlive }

// BinaryMessages makes MQTT a Binary adapter.
func (a *MQTT) BinaryMessages() {}

// Closed: a close frame is never MQTT's own refusal (that is a CONNACK
// code or a DISCONNECT).
func (a *MQTT) Closed(*State, int) (string, bool) { return "", false }

// Open sends CONNECT with this connection's client id, username and
// password.
func (a *MQTT) Open(st *State, c Conn) {
	vars := VarsOf(c)
	const room = 5 // fixed header: type byte and up to four length bytes
	buf, _ := a.connects.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	b := append((*buf)[:0], make([]byte, room)...)
	b = append(b, a.connectHead...)
	b = appendIdentity(b, a.clientID, vars)
	b = append(b, a.will...)
	if a.hasUser {
		b = appendIdentity(b, a.username, vars)
	}
	if a.hasPassword {
		b = appendIdentity(b, a.password, vars)
	}
	c.Send(withFixedHeader(b, room, mqttConnect<<4))
	*buf = b
	a.connects.Put(buf) // Send does not keep the message
}

// Templates are the client id, username and password options, checked by
// the engine before any dial ({{data.FIELD}} against the pool's data).
func (a *MQTT) Templates() map[string]*template.Template { return a.templates }

// appendIdentity renders one of the connection's names (client id,
// username, password) as an MQTT string: a two-byte length, then the text,
// cut at MQTT's 65,535 bytes (a data row can be longer than the template).
func appendIdentity(dst []byte, id *template.Template, vars template.Vars) []byte {
	at := len(dst)
	dst = append(dst, 0, 0)
	dst = id.Render(dst, vars)
	n := min(len(dst)-at-2, maxMQTTString)
	dst[at], dst[at+1] = byte(n>>8), byte(n)
	return dst[:at+2+n]
}

// withFixedHeader writes the fixed header into the room bytes reserved at
// the start of b and returns the packet.
func withFixedHeader(b []byte, room int, head byte) []byte {
	length := len(b) - room
	start := room - 1 - varintLen(length)
	b[start] = head
	appendVarint(b[start+1:start+1], length)
	return b[start:]
}

// Beat sends PINGREQ; when the previous one is still unanswered a whole
// keep-alive period later, the session is lost.
func (a *MQTT) Beat(st *State, c Conn) {
	if st.Phase&mqttPinging != 0 {
		c.Drop(CloseKeepAliveTimeout)
		return
	}
	st.Phase |= mqttPinging
	c.Send(pingreq)
}

var pingreq = []byte{mqttPingreq << 4, 0}
