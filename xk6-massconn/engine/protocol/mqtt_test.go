package protocol

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
)

// The packets below are written out by hand from the MQTT 3.1.1 and 5
// specifications; the end-to-end tests against Mosquitto are in package
// engine.

func newMQTT(t testing.TB, o MQTTOptions) *MQTT {
	t.Helper()
	a, err := NewMQTT(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMQTTConnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    MQTTOptions
		want string
	}{
		{"defaults", MQTTOptions{},
			"\x10\x19" + "\x00\x04MQTT\x04\x02\x00\x3c" + "\x00\x0dmassconn-3-12"},
		{"3.1.1 with everything", MQTTOptions{
			KeepAlive: 30 * time.Second, Username: "u-{{conn}}", Password: "p",
			Will: &MQTTWill{Topic: "w", Payload: []byte("bye"), QoS: 1, Retain: true},
		}, "\x10\x2a" + "\x00\x04MQTT\x04\xee\x00\x1e" + "\x00\x0dmassconn-3-12" + "\x00\x01w\x00\x03bye" + "\x00\x04u-12" + "\x00\x01p"},
		{"5 with a will and a kept session", MQTTOptions{
			Version: "5", ClientID: "id-{{vu}}", KeepSession: true, Password: "p",
			Will: &MQTTWill{Topic: "w", Payload: []byte("x")},
		}, "\x10\x1b" + "\x00\x04MQTT\x05\x44\x00\x3c\x00" + "\x00\x04id-3" + "\x00\x00\x01w\x00\x01x" + "\x00\x01p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st State
			r := record{vu: 3, conn: 12}
			newMQTT(t, tc.o).Open(&st, &r)
			if len(r.sent) != 1 || r.sent[0] != tc.want {
				t.Fatalf("CONNECT %q, want %q", r.sent, tc.want)
			}
		})
	}
}

func TestMQTTOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		o    MQTTOptions
		want string
	}{
		{MQTTOptions{Version: "4"}, "version:"},
		{MQTTOptions{KeepAlive: 1500 * time.Millisecond}, "keepAlive:"},
		{MQTTOptions{QoS: 2}, "qos:"},
		{MQTTOptions{Password: "p"}, "password:"},
		{MQTTOptions{ClientID: "c-{{seq}}"}, "clientId:"},
		{MQTTOptions{Topics: []string{"a", ""}}, "topics[1]:"},
		{MQTTOptions{Will: &MQTTWill{}}, "will.topic:"},
		{MQTTOptions{Will: &MQTTWill{Topic: "w", QoS: 3}}, "will.qos:"},
	} {
		if _, err := NewMQTT(tc.o); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %s...", tc.o, err, tc.want)
		}
	}
}

// publish is a PUBLISH packet of topic "t".
func publish(v5 bool, qos byte, id uint16, payload string) string {
	body := "\x00\x01t"
	if qos > 0 {
		body += string([]byte{byte(id >> 8), byte(id)})
	}
	if v5 {
		body += "\x02\x01\x01" // properties: payload format indicator 1
	}
	body += payload
	return string(appendVarint([]byte{mqttPublish<<4 | qos<<1}, len(body))) + body
}

func TestMQTTSession(t *testing.T) {
	for _, v5 := range []bool{false, true} {
		t.Run(fmt.Sprint("v5=", v5), func(t *testing.T) {
			o := MQTTOptions{Topics: []string{"t", "u/#"}, QoS: 1}
			suback := "\x90\x04\x00\x01\x01\x00"
			wantSub := "\x82\x0c\x00\x01" + "\x00\x01t\x01" + "\x00\x03u/#\x01"
			if v5 {
				o.Version = "5"
				suback = "\x90\x05\x00\x01\x00\x01\x00"
				wantSub = "\x82\x0d\x00\x01\x00" + "\x00\x01t\x01" + "\x00\x03u/#\x01"
			}
			a := newMQTT(t, o)
			var st State
			var r record
			a.Open(&st, &r)
			a.Message(&st, []byte("\x20\x02\x00\x00"), &r) // CONNACK accepted
			if len(r.sent) != 2 || r.sent[1] != wantSub {
				t.Fatalf("sent %q, want SUBSCRIBE %q", r.sent, wantSub)
			}
			// SUBACK, two publications and a PINGRESP in one message.
			a.Message(&st, []byte(suback+publish(v5, 1, 7, `{"n":1}`)+publish(v5, 0, 0, `{"n":2}`)+"\xd0\x00"), &r)
			if !reflect.DeepEqual(r.delivered, []string{`{"n":1}`, `{"n":2}`}) {
				t.Fatalf("delivered %q", r.delivered)
			}
			if r.sent[2] != "\x40\x02\x00\x07" {
				t.Fatalf("sent %q, want the PUBACK of packet 7", r.sent[2:])
			}
			// QoS 2: PUBREC, then PUBCOMP for the server's PUBREL.
			a.Message(&st, []byte(publish(v5, 2, 9, "x")+"\x62\x02\x00\x09"), &r)
			if r.sent[3] != "\x50\x02\x00\x09" || r.sent[4] != "\x70\x02\x00\x09" {
				t.Fatalf("sent %q", r.sent[3:])
			}
			a.Beat(&st, &r)
			a.Message(&st, []byte("\xd0\x00"), &r) // answered
			a.Beat(&st, &r)
			if r.sent[5] != "\xc0\x00" || r.sent[6] != "\xc0\x00" || len(r.dropped) != 0 {
				t.Fatalf("sent %q, dropped %v", r.sent[5:], r.dropped)
			}
			a.Beat(&st, &r) // the previous PINGREQ had no PINGRESP
			if len(r.sent) != 7 || !reflect.DeepEqual(r.dropped, []int{CloseKeepAliveTimeout}) || len(r.rejected) != 0 {
				t.Fatalf("sent %q, dropped %v, rejected %v", r.sent, r.dropped, r.rejected)
			}
		})
	}
}

func TestMQTTRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, version, msg, code string
	}{
		{"CONNACK not authorized", "3.1.1", "\x20\x02\x00\x05", "mqtt_5"},
		{"CONNACK bad user name or password", "5", "\x20\x03\x00\x86\x00", "mqtt_134"},
		{"SUBACK failure", "3.1.1", "\x20\x02\x00\x00\x90\x04\x00\x01\x00\x80", "mqtt_128"},
		{"SUBACK not authorized", "5", "\x20\x03\x00\x00\x00\x90\x05\x00\x01\x00\x01\x87", "mqtt_135"},
		{"DISCONNECT session taken over", "5", "\x20\x03\x00\x00\x00\xe0\x02\x8e\x00", "mqtt_142"},
		{"DISCONNECT without a reason", "5", "\xe0\x00", "mqtt_0"},
		{"remaining length of 5 bytes", "3.1.1", "\x30\xff\xff\xff\xff\x01", "mqtt_malformed"},
		{"PUBLISH shorter than its topic", "3.1.1", "\x30\x03\x00\x09t", "mqtt_malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newMQTT(t, MQTTOptions{Version: tc.version, Topics: []string{"t", "u"}})
			var st State
			var r record
			a.Open(&st, &r)
			a.Message(&st, []byte(tc.msg+publish(tc.version == "5", 0, 0, "after")), &r)
			if !reflect.DeepEqual(r.rejected, []string{tc.code}) || len(r.delivered) != 0 {
				t.Fatalf("rejected %v, delivered %q; want only %s", r.rejected, r.delivered, tc.code)
			}
		})
	}
}

func TestMQTTSend(t *testing.T) {
	for _, tc := range []struct {
		version string
		qos     uint8
		want    string
	}{
		{"3.1.1", 0, "\x30\x08\x00\x04news{}"},
		{"5", 0, "\x30\x09\x00\x04news\x00{}"},
		{"3.1.1", 1, "\x32\x0a\x00\x04news\x00\x02{}"},
		{"5", 1, "\x32\x0b\x00\x04news\x00\x02\x00{}"},
	} {
		a := newMQTT(t, MQTTOptions{Version: tc.version, Topics: []string{"news", "other"}})
		if got := string(a.AppendSend(nil, &State{}, []byte("{}"), tc.qos)); got != tc.want {
			t.Errorf("v%s qos %d: PUBLISH %q, want %q", tc.version, tc.qos, got, tc.want)
		}
	}
	// Identifiers skip 0 and 1 when they wrap.
	a := newMQTT(t, MQTTOptions{Topics: []string{"n"}})
	st := State{Ref: 0xffff}
	if got := a.AppendSend(nil, &st, nil, 1); got[5] != 0 || got[6] != 2 {
		t.Errorf("PUBLISH after a wrap %q", got)
	}
}

// mqttStream is a session's worth of packets as a server sends them, with
// remaining lengths of one, two and three bytes.
func mqttStream(v5 bool) []byte {
	connack := "\x20\x02\x00\x00"
	suback := "\x90\x03\x00\x01\x01"
	if v5 {
		connack, suback = "\x20\x03\x00\x00\x00", "\x90\x04\x00\x01\x00\x01"
	}
	s := connack + suback + publish(v5, 1, 1, `{"seq":1}`) + "\xd0\x00" +
		publish(v5, 0, 0, strings.Repeat("a", 200)) + publish(v5, 1, 2, strings.Repeat("b", 16400)) + publish(v5, 0, 0, "")
	return []byte(s)
}

// replay feeds msgs to a fresh session and returns what the adapter did.
func replay(t testing.TB, v5 bool, msgs ...[]byte) record {
	o := MQTTOptions{Topics: []string{"t"}, QoS: 1}
	if v5 {
		o.Version = "5"
	}
	a := newMQTT(t, o)
	var st State
	var r record
	a.Open(&st, &r)
	for _, m := range msgs {
		if len(r.rejected) > 0 {
			break // the engine ends a rejected session
		}
		a.Message(&st, m, &r)
	}
	if len(r.rejected) > 0 {
		r.kept = nil // the engine lets go of a rejected session's bytes
	}
	return r
}

// TestMQTTSplitAtEveryByte: a packet may span WebSocket messages; cut at
// any byte, or sent a byte per message, the stream gives the same session.
func TestMQTTSplitAtEveryByte(t *testing.T) {
	for _, v5 := range []bool{false, true} {
		stream := mqttStream(v5)
		whole := replay(t, v5, stream)
		if len(whole.delivered) != 4 || len(whole.rejected) != 0 || len(whole.kept) != 0 {
			t.Fatalf("whole stream: %+v", whole)
		}
		for cut := range len(stream) + 1 {
			if got := replay(t, v5, stream[:cut], stream[cut:]); !reflect.DeepEqual(got, whole) {
				t.Fatalf("cut at %d: %+v, want %+v", cut, got, whole)
			}
		}
		bytes := make([][]byte, len(stream))
		for i := range stream {
			bytes[i] = stream[i : i+1]
		}
		if got := replay(t, v5, bytes...); !reflect.DeepEqual(got, whole) {
			t.Fatalf("a byte a message: %+v, want %+v", got, whole)
		}
	}
}

// FuzzMQTTMessage: any bytes from a server, in one message or cut in two,
// give the same session, and never a panic.
func FuzzMQTTMessage(f *testing.F) {
	f.Add(mqttStream(false), uint16(3), false)
	f.Add(mqttStream(true), uint16(300), true)
	f.Add([]byte("\x30\xff\xff\xff\x7f"), uint16(2), false)
	f.Add([]byte("\x90\x02\x00\x01\xe0\x01"), uint16(1), true)
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, v5 bool) {
		at := int(cut) % (len(data) + 1)
		whole := replay(t, v5, data)
		if split := replay(t, v5, data[:at], data[at:]); !reflect.DeepEqual(split, whole) {
			t.Fatalf("cut at %d: %+v, want %+v", at, split, whole)
		}
	})
}

// BenchmarkMQTTMessage is the per-message cost of a PUBLISH: splitting the
// packet, acknowledging QoS 1 and reading the latency path of its payload.
func BenchmarkMQTTMessage(b *testing.B) {
	path := jsonfield.Key("ts")
	for _, qos := range []byte{0, 1} {
		msg := []byte(publish(false, qos, 7, `{"seq":1,"ts":1704164645123}`))
		b.Run(fmt.Sprint("qos ", qos), func(b *testing.B) {
			a := newMQTT(b, MQTTOptions{Topics: []string{"t"}, QoS: 1})
			st := State{Phase: mqttConnected}
			m := &measure{path: path}
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				a.Message(&st, msg, m)
			}
			if m.measured == 0 {
				b.Fatal("nothing measured")
			}
		})
	}
}
