package engine

import (
	"context"
	"fmt"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/internal/mosquittotest"
)

// The MQTT adapter against Mosquitto: connections subscribe over its
// WebSocket listener, mosquitto_pub and mosquitto_sub publish and listen
// on its plain TCP listener.

var mqttVersions = []string{"3.1.1", "5"}

// uniqueTopic keeps the runs of one broker apart.
func uniqueTopic(name string) string {
	return "massconn/" + name + "/" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func mqttAdapter(t testing.TB, o protocol.MQTTOptions) *protocol.MQTT {
	t.Helper()
	a, err := protocol.NewMQTT(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// waitSubscriptions waits until the broker counts n subscriptions (it
// updates the count every second, so a test waits for 0 before counting
// its own). auth is a user and password if the broker wants them.
func waitSubscriptions(t *testing.T, b mosquittotest.Broker, n int, auth ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d subscriptions at the broker", n), func() bool {
		return b.Sys(t, "subscriptions/count", auth...) == n
	})
}

func TestMQTT(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	eachEngine(t, func(t *testing.T) {
		for _, version := range mqttVersions {
			for _, qos := range []int{0, 1} {
				t.Run(fmt.Sprintf("v%s qos %d", version, qos), func(t *testing.T) {
					// More QoS 1 publications than the broker keeps in
					// flight unacknowledged (10): every one arrives only
					// if the adapter sends PUBACKs.
					const conns, pubs = 40, 30
					topic := uniqueTopic("feed")
					p := dial(t, Config{
						URLs: []string{broker.WS}, Connections: conns,
						Protocol: mqttAdapter(t, protocol.MQTTOptions{Version: version, Topics: []string{topic}, QoS: qos}),
						Latency:  &LatencySpec{Path: "ts", Unit: time.Millisecond},
						Sequence: &SequenceSpec{Path: "seq"},
					})
					waitSubscriptions(t, broker, conns)
					pub := broker.Publish(t, topic, qos)
					for i := range pubs {
						pub.Line(t, fmt.Sprintf(`{"seq":%d,"ts":%d}`, i, time.Now().UnixMilli()))
					}
					want := int64(conns * pubs)
					latencies := measured(t, p, want)
					s := p.Stats()
					if s.Received != want || latencies != want || s.Dropped != 0 || s.Failed != 0 || s.Open != conns {
						t.Fatalf("stats %+v, latencies %d of %d", s, latencies, want)
					}
					if q, _ := p.Sequence(); q.Gaps != 0 || q.Duplicates != 0 || q.Reordered != 0 || q.Unreadable != 0 {
						t.Fatalf("sequence %+v", q)
					}
					if err := p.Close(5 * time.Second); err != nil {
						t.Fatal(err)
					}
					waitSubscriptions(t, broker, 0)
				})
			}
		}
	})
}

func TestMQTTRefused(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"user-1": "right", "user-2": "right"}})
	eachEngine(t, func(t *testing.T) {
		for _, tc := range []struct {
			version, code string
		}{
			{"3.1.1", "mqtt_5"}, // not authorized
			{"5", "mqtt_135"},   // 0x87, not authorized
		} {
			t.Run("v"+tc.version, func(t *testing.T) {
				const conns = 4
				wrong := dial(t, Config{URLs: []string{broker.WS}, Connections: conns, Protocol: mqttAdapter(t, protocol.MQTTOptions{
					Version: tc.version, Username: "user-{{conn}}", Password: "wrong",
				})})
				eventually(t, "every connection rejected", func() bool { return wrong.Stats().Failures[ReasonRejected] == conns })
				if s := wrong.Stats(); s.Rejections[tc.code] != conns || s.Open != 0 || s.Dropped != 0 {
					t.Fatalf("stats %+v", s)
				}
				// Each connection its own user: conns 1 and 2 are user-1
				// and user-2 (ConnOffset 1), with their password.
				waitSubscriptions(t, broker, 0, "user-1", "right")
				right := dial(t, Config{URLs: []string{broker.WS}, Connections: 2, ConnOffset: 1, Protocol: mqttAdapter(t, protocol.MQTTOptions{
					Version: tc.version, Username: "user-{{conn}}", Password: "right", Topics: []string{uniqueTopic("auth")},
				})})
				waitSubscriptions(t, broker, 2, "user-1", "right")
				if s := right.Stats(); s.Open != 2 || s.Failed != 0 {
					t.Fatalf("stats %+v", s)
				}
				_ = right.Close(time.Second)
				// The same users from data rows, as a DATA_FILE gives them:
				// {{data.user}} and {{data.password}} rendered at open.
				waitSubscriptions(t, broker, 0, "user-1", "right")
				rows, err := template.NewData([]any{
					map[string]any{"user": "user-1", "password": "right"},
					map[string]any{"user": "user-2", "password": "right"},
				})
				if err != nil {
					t.Fatal(err)
				}
				fromRows := dial(t, Config{URLs: []string{broker.WS}, Connections: 2, Data: rows, Protocol: mqttAdapter(t, protocol.MQTTOptions{
					Version: tc.version, Username: "{{data.user}}", Password: "{{data.password}}", Topics: []string{uniqueTopic("rows")},
				})})
				waitSubscriptions(t, broker, 2, "user-1", "right")
				if s := fromRows.Stats(); s.Open != 2 || s.Failed != 0 {
					t.Fatalf("users from data rows: stats %+v", s)
				}
				_ = fromRows.Close(time.Second)
			})
		}
	})
}

// TestMQTTClientIDs shows the classic mass-test mistake: connections that
// share a client id, where the broker closes the older connection as each
// new one arrives. The default template gives every connection its own.
func TestMQTTClientIDs(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	eachEngine(t, func(t *testing.T) {
		for _, version := range mqttVersions {
			t.Run("v"+version, func(t *testing.T) {
				const conns = 5
				shared := dial(t, Config{URLs: []string{broker.WS}, Connections: conns, MaxInFlight: 1,
					Protocol: mqttAdapter(t, protocol.MQTTOptions{Version: version, ClientID: "shared-" + version + "-{{vu}}"})})
				// MQTT 3.1.1 brokers just close the older connection (a
				// drop); MQTT 5 ones send DISCONNECT 0x8E, session taken
				// over, first.
				ended := func(s Stats) int64 { return s.Dropped + s.Rejections["mqtt_142"] }
				eventually(t, "all but one connection closed by the broker", func() bool { return ended(shared.Stats()) == conns-1 })
				if s := shared.Stats(); s.Open != 1 {
					t.Fatalf("stats %+v", s)
				}
				own := dial(t, Config{URLs: []string{broker.WS}, Connections: conns, VU: 7,
					Protocol: mqttAdapter(t, protocol.MQTTOptions{Version: version, Topics: []string{uniqueTopic("ids")}})})
				waitSubscriptions(t, broker, conns)
				if s := own.Stats(); s.Open != conns || s.Dropped != 0 || s.Failed != 0 {
					t.Fatalf("default client ids: stats %+v", s)
				}
				_ = shared.Close(time.Second)
				_ = own.Close(time.Second)
				waitSubscriptions(t, broker, 0)
			})
		}
	})
}

// TestMQTTSend: a program's send step publishes to the first topic, at
// QoS 0 or 1, seen by a mosquitto_sub subscriber.
func TestMQTTSend(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	for _, tc := range []struct {
		version string
		qos     uint8
	}{{"3.1.1", 0}, {"3.1.1", 1}, {"5", 0}, {"5", 1}} {
		version := tc.version
		t.Run(fmt.Sprintf("v%s qos %d", version, tc.qos), func(t *testing.T) {
			const conns = 3
			topic := uniqueTopic("send")
			sub := broker.Subscribe(t, topic)
			p := dial(t, Config{URLs: []string{broker.WS}, Connections: conns,
				Protocol: mqttAdapter(t, protocol.MQTTOptions{Version: version, Topics: []string{topic}}),
				Steps:    []program.Step{{Kind: program.Send, Text: `{"from":{{conn}}}`, QoS: tc.qos}, {Kind: program.Sleep, Min: time.Hour, Max: time.Hour}},
			})
			seen := map[string]bool{}
			eventually(t, "every connection's publication at mosquitto_sub", func() bool {
				for {
					select {
					case line := <-sub.Lines:
						if line != "probe" {
							seen[line] = true
						}
						continue
					default:
					}
					return len(seen) == conns
				}
			})
			for i := range conns {
				if !seen[fmt.Sprintf(`{"from":%d}`, i)] {
					t.Fatalf("publications %v", seen)
				}
			}
			if s := p.Stats(); s.Failed != 0 || s.Dropped != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestMQTTStepQoSNeedsMQTT(t *testing.T) {
	steps := []program.Step{{Kind: program.Send, Text: "x", QoS: 1}}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Steps: steps}, "Steps[0].QoS: applies to a protocol with delivery levels only"},
		{Config{Steps: []program.Step{{Kind: program.Send, Text: "x", QoS: 2}}, Protocol: mqttAdapter(t, protocol.MQTTOptions{Topics: []string{"t"}})},
			"Steps[0].QoS: must be at most 1"},
	} {
		tc.cfg.URLs, tc.cfg.Connections = []string{"ws://127.0.0.1:1/"}, 1
		if _, err := Dial(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
