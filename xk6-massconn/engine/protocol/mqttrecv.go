package protocol

import "strconv"

// Message handles one binary WebSocket message: MQTT lets a packet span
// messages and a message hold several packets, so the start of a packet
// that continues is kept (Conn.Keep) and put in front of the next message.
func (a *MQTT) Message(st *State, msg []byte, c Conn) {
	kept := c.Kept()
	data := msg
	if len(kept) > 0 {
		data = append(kept[:len(kept):len(kept)], msg...) // a new array: kept is the engine's
	}
	for {
		head, body, rest, complete, err := splitPacket(data)
		if err != nil {
			c.Reject("mqtt_malformed")
			return
		}
		if !complete {
			break
		}
		if !a.packet(st, head, body, c) {
			return
		}
		data = rest
	}
	if len(data) > 0 || len(kept) > 0 {
		c.Keep(data) // the unfinished packet, or nothing any more
	}
}

// packet handles one whole packet; false once the session ended.
func (a *MQTT) packet(st *State, head byte, body []byte, c Conn) bool {
	var err error
	switch head >> 4 {
	case mqttConnack:
		return a.connack(st, body, c)
	case mqttSuback:
		return a.suback(body, c)
	case mqttPublish:
		err = a.publish(head, body, c)
	case mqttPingresp:
		st.Phase &^= mqttPinging
	case mqttPubrel:
		// The second half of a QoS 2 delivery (after our PUBREC).
		var id uint16
		if id, _, err = packetID(body); err == nil {
			c.Send(idPacket(mqttPubcomp<<4, id))
		}
	case mqttDisconnect:
		// Only MQTT 5 servers send it; no reason code means 0 (normal).
		code := 0
		if len(body) > 0 {
			code = int(body[0])
		}
		c.Reject(mqttCode(code))
		return false
	}
	// PUBACK, PUBREC, PUBCOMP of our own publications, AUTH: nothing to do.
	if err != nil {
		c.Reject("mqtt_malformed")
		return false
	}
	return true
}

// connack: an accepted connection subscribes; any other return code (3.1.1)
// or reason code (5) is a refusal.
func (a *MQTT) connack(st *State, body []byte, c Conn) bool {
	if len(body) < 2 {
		c.Reject("mqtt_malformed")
		return false
	}
	if code := body[1]; code != 0 {
		c.Reject(mqttCode(int(code)))
		return false
	}
	if st.Phase&mqttConnected == 0 {
		st.Phase |= mqttConnected
		if a.subscribe != nil {
			c.Send(a.subscribe)
		}
	}
	return true
}

// suback: a return code 0x80 (3.1.1) or a reason code of 0x80 and above
// (5) for any topic refuses the subscription.
func (a *MQTT) suback(body []byte, c Conn) bool {
	_, codes, err := packetID(body)
	if err == nil && a.v5 {
		codes, err = skipProperties(codes)
	}
	if err != nil {
		c.Reject("mqtt_malformed")
		return false
	}
	for _, code := range codes {
		if code >= 0x80 {
			c.Reject(mqttCode(int(code)))
			return false
		}
	}
	return true
}

// publish delivers an application message and acknowledges it as its QoS
// asks: PUBACK for 1, PUBREC for 2.
func (a *MQTT) publish(head byte, body []byte, c Conn) error {
	_, rest, err := readString(body) // the topic: every PUBLISH is on a subscribed topic
	if err != nil {
		return err
	}
	qos := head >> 1 & 3
	var id uint16
	if qos > 0 {
		if id, rest, err = packetID(rest); err != nil {
			return err
		}
	}
	if a.v5 {
		if rest, err = skipProperties(rest); err != nil {
			return err
		}
	}
	c.Deliver(rest)
	switch qos {
	case 1:
		c.Send(idPacket(mqttPuback<<4, id))
	case 2:
		c.Send(idPacket(mqttPubrec<<4, id))
	}
	return nil
}

// MaxSendQoS makes MQTT a QoSSender: send steps may publish at QoS 1.
func (a *MQTT) MaxSendQoS() uint8 { return 1 }

// mqttFirstPublishID is the first packet identifier of a send step's QoS 1
// publication; 1 is the SUBSCRIBE's.
const mqttFirstPublishID = 2

// mqttCode is the rejection code of an MQTT return or reason code.
func mqttCode(code int) string { return "mqtt_" + strconv.Itoa(code) }

// AppendSend wraps payload as a PUBLISH to the first topic at qos (0 or
// 1); the broker delivers it to every subscriber (this connection too).
// A QoS 1 publication gets the next packet identifier; the broker's PUBACK
// needs no answer.
func (a *MQTT) AppendSend(dst []byte, st *State, payload []byte, qos uint8) []byte {
	length := 2 + len(a.publishTo) + len(payload)
	if a.v5 {
		length++
	}
	if qos > 0 {
		length += 2
	}
	dst = append(dst, mqttPublish<<4|qos<<1)
	dst = appendVarint(dst, length)
	dst = appendString(dst, a.publishTo)
	if qos > 0 {
		st.Ref++
		if st.Ref < mqttFirstPublishID {
			st.Ref = mqttFirstPublishID // after a wrap: 0 is not an identifier, 1 is the SUBSCRIBE's
		}
		dst = append(dst, byte(st.Ref>>8), byte(st.Ref))
	}
	if a.v5 {
		dst = append(dst, 0) // no properties
	}
	return append(dst, payload...)
}
