package protocol

import "strconv"

// Sender is implemented by adapters that carry a program's send steps in
// the protocol's own envelope (a Socket.IO event, a Centrifugo publish).
// Adapters without it send the step's text as it is.
type Sender interface {
	// AppendSend appends to dst the protocol message carrying payload, at
	// delivery level qos (0 but for a QoSSender).
	AppendSend(dst []byte, st *State, payload []byte, qos uint8) []byte
}

// QoSSender is a Sender whose protocol has delivery levels (MQTT's QoS):
// a send step may ask for one up to MaxSendQoS.
type QoSSender interface {
	Sender
	MaxSendQoS() uint8
}

// Acker is implemented by a Conn that wants the protocol's answers to the
// client's own requests (a Socket.IO acknowledgement, a Centrifugo publish
// reply): they are not application messages, but a program's expect step
// may wait for them.
type Acker interface {
	Ack(payload []byte)
}

// ack hands an answer to the Conn if it takes them.
func ack(c Conn, payload []byte) {
	if a, ok := c.(Acker); ok {
		a.Ack(payload)
	}
}

// AppendSend wraps payload, a JSON array ["event", args...], as an event
// with an acknowledgement id: 42[/ns,]<id>["event",...]. A server handler
// that takes a callback answers with 43<id>[...], which reaches a
// program's expect as the first argument of the answer.
func (a *SocketIO) AppendSend(dst []byte, st *State, payload []byte, _ uint8) []byte {
	st.Ref++
	dst = append(dst, '4', '2')
	dst = append(dst, a.nsWire...)
	dst = strconv.AppendUint(dst, uint64(st.Ref), 10)
	return append(dst, payload...)
}

// centrifugoFirstRequest is above the ids of the connect and subscribe
// commands (1 .. channels+1), so a publish reply is never taken for one.
const centrifugoFirstRequest = 1 << 16

// AppendSend wraps payload, any JSON value, as a publish command to the
// adapter's first channel: {"id":N,"publish":{"channel":"...","data":payload}}.
// The publication comes back as an application message on every
// subscriber (this connection too); the server's reply is an Ack.
func (a *Centrifugo) AppendSend(dst []byte, st *State, payload []byte, _ uint8) []byte {
	st.Ref++
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, centrifugoFirstRequest+uint64(st.Ref), 10)
	dst = append(dst, `,"publish":{"channel":`...)
	dst = append(dst, a.publishTo...)
	dst = append(dst, `,"data":`...)
	dst = append(dst, payload...)
	return append(dst, '}', '}')
}
