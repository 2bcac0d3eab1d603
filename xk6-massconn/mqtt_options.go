package massconn

import (
	"fmt"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
)

// mqttKeys are the mqtt adapter's options (besides name).
var mqttKeys = []string{"name", "version", "clientId", "username", "password", "keepAlive", "cleanSession", "topics", "qos", "will"}

// mqttWillKeys are the keys of protocol.will.
var mqttWillKeys = []string{"topic", "payload", "qos", "retain"}

// mqttAdapter reads protocol: {name: 'mqtt', topics: [...], ...}.
func mqttAdapter(m map[string]any) (protocol.Adapter, error) {
	var o protocol.MQTTOptions
	var err error
	switch v := m["version"].(type) {
	case nil:
	case string:
		o.Version = v
	case int64, float64:
		// version: 5 reads naturally; 3.1.1 is no JS number.
		o.Version = fmt.Sprint(v)
	default:
		return nil, badOption("protocol.version", "must be '3.1.1' or '5', got %s", describe(v))
	}
	for _, f := range []struct {
		key string
		to  *string
	}{{"clientId", &o.ClientID}, {"username", &o.Username}, {"password", &o.Password}} {
		if *f.to, err = str("protocol."+f.key, m[f.key]); err != nil {
			return nil, err
		}
	}
	if v, ok := m["keepAlive"]; ok {
		if o.KeepAlive, err = duration("protocol.keepAlive", v); err != nil {
			return nil, err
		}
	}
	if v, ok := m["cleanSession"]; ok {
		clean, err := boolean("protocol.cleanSession", v)
		if err != nil {
			return nil, err
		}
		o.KeepSession = !clean
	}
	if o.Topics, err = stringList("protocol.topics", m["topics"], true); err != nil {
		return nil, err
	}
	if o.QoS, err = qosOption("protocol.qos", m["qos"], 1); err != nil {
		return nil, err
	}
	if o.Will, err = mqttWill(m["will"]); err != nil {
		return nil, err
	}
	return protocol.NewMQTT(o)
}

// mqttWill reads will: {topic, payload, qos, retain}.
func mqttWill(v any) (*protocol.MQTTWill, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badOption("protocol.will", "must be an object such as {topic: 'status/gone', payload: 'bye'}, got %s", describe(v))
	}
	if err := checkKeys("protocol.will.", m, mqttWillKeys); err != nil {
		return nil, err
	}
	var w protocol.MQTTWill
	var err error
	if w.Topic, err = str("protocol.will.topic", m["topic"]); err != nil {
		return nil, err
	}
	payload, err := str("protocol.will.payload", m["payload"])
	if err != nil {
		return nil, err
	}
	w.Payload = []byte(payload)
	if w.QoS, err = qosOption("protocol.will.qos", m["qos"], 2); err != nil {
		return nil, err
	}
	if w.Retain, err = boolean("protocol.will.retain", m["retain"]); err != nil {
		return nil, err
	}
	return &w, nil
}

// qosOption reads an MQTT QoS, 0 to highest; absent is 0.
func qosOption(name string, v any, highest int64) (int, error) {
	n, err := integer(name, v, 0, false)
	if err != nil {
		return 0, err
	}
	if n > highest {
		return 0, badOption(name, "must be 0 to %d, got %d", highest, n)
	}
	return int(n), nil
}
