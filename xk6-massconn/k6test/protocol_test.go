package k6test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/centrifugotest"
	"github.com/massconn/massconn/xk6-massconn/internal/mosquittotest"
	"github.com/massconn/massconn/xk6-massconn/internal/protopeer"
)

// TestCentrifugoAdapter runs the centrifugo adapter through k6 against a
// real Centrifugo: the protocol option is parsed, publications are counted
// as ws_msgs_received and measured, and a bad token shows up as
// massconn_failures{reason:rejected,code:centrifugo_3500}.
func TestCentrifugoAdapter(t *testing.T) {
	srv := centrifugotest.Start(t)
	res := runK6(t, "centrifugo.js", map[string]string{
		"WS_URL":    srv.WS,
		"API":       srv.API,
		"API_KEY":   centrifugotest.APIKey,
		"TOKEN":     centrifugotest.HS256(centrifugotest.Secret, "k6-user", time.Now().Add(time.Hour)),
		"BAD_TOKEN": centrifugotest.HS256("wrong-secret", "k6-user", time.Now().Add(time.Hour)),
	})
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	if got := res.value(t, "ws_msgs_received", "count"); got != 300 {
		t.Errorf("ws_msgs_received = %v, want 300", got)
	}
	if got := res.value(t, "massconn_failures{reason:rejected}", "count"); got != 3 {
		t.Errorf("rejected = %v, want 3", got)
	}
	if got := res.value(t, "massconn_failures{code:centrifugo_3500}", "count"); got != 3 {
		t.Errorf("rejected with code centrifugo_3500 = %v, want 3", got)
	}
	if got := res.value(t, "massconn_drops", "count"); got != 0 {
		t.Errorf("drops = %v, want 0", got)
	}
}

func TestWrongProtocolOptionsNameTheOption(t *testing.T) {
	tests := []optionErrorCase{
		{"unknown protocol", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"protocol":"stomp"}`,
			`massconn.connect: option 'protocol.name' must be one of 'centrifugo', 'graphql-ws', 'mqtt', 'phoenix', 'socketio', got`},
		{"adapter option typo", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"protocol":{"name":"phoenix","topic":["a"]}}`,
			"massconn.connect: unknown option 'protocol.topic' (did you mean 'protocol.topics'?)"},
		{"bad latency path", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"latency":{"path":"data..ts"}}`,
			"massconn.connect: option 'latency.path'"},
		{"replies with an adapter", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"protocol":"centrifugo","replies":[{"match":"{}","send":"{}"}]}`,
			"massconn.connect: option 'replies' apply to the raw mode only"},
	}
	checkOptionErrors(t, tests)
}

// TestSupabaseRealtimeExample runs k6scripts/supabase-realtime.js against the
// Phoenix peer, which sends postgres_changes in Supabase Realtime's shape
// (commit_timestamp as ISO 8601 and as PostgreSQL prints it): the example's
// thresholds pass, only postgres_changes count, and every one is measured.
func TestSupabaseRealtimeExample(t *testing.T) {
	peer := protopeer.Start(t, "phoenix")
	// The hold leaves room for the joins and the 6 rows on a loaded machine:
	// the check counts only what arrived before the hold ended.
	const conns, rows = 20, 6
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !within(time.Minute, func() bool { return peer.Count(t) >= conns }) {
			t.Error("the example's connections never all joined")
			return
		}
		peer.Publish(t, rows)
	}()
	script, err := filepath.Abs(filepath.Join("..", "..", "k6scripts", "supabase-realtime.js"))
	if err != nil {
		t.Fatal(err)
	}
	res := runK6Path(t, script, map[string]string{
		"SUPABASE_URL": peer.URL("ws", "/socket/websocket"), "APIKEY": "anon-key", "CONNECTIONS": "20",
		"DURATION": "15s", "RATE": "0", "MIN_PER_CONN": "6", "CONNECT_ALLOWANCE": "1m",
	})
	<-done
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	if got := res.value(t, "ws_msgs_received", "count"); got != conns*rows {
		t.Errorf("ws_msgs_received = %v, want %d (postgres_changes only)", got, conns*rows)
	}
	if got := res.value(t, "massconn_latency", "max"); got <= 0 {
		t.Errorf("massconn_latency max = %v: nothing measured", got)
	}
}

// TestMQTTAdapter runs the mqtt adapter through k6 against Mosquitto:
// the protocol option is parsed, QoS 1 publications made with
// mosquitto_pub are counted as ws_msgs_received, measured and in sequence.
func TestMQTTAdapter(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			const conns, pubs = 20, 15
			topic := "k6/" + version + "/" + strconv.FormatInt(time.Now().UnixNano(), 36)
			// The broker updates its $SYS count every second: wait until it
			// no longer counts the previous run's subscriptions.
			waitSys(t, broker, "subscriptions/count", 0)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if !within(time.Minute, func() bool { return broker.Sys(t, "subscriptions/count") == conns }) {
					t.Error("the script's connections never all subscribed")
					return
				}
				pub := broker.Publish(t, topic, 1)
				for i := range pubs {
					pub.Line(t, fmt.Sprintf(`{"seq":%d,"ts":%d}`, i, time.Now().UnixMilli()))
				}
			}()
			res := runK6(t, "mqtt.js", map[string]string{"WS_URL": broker.WS, "TOPIC": topic, "MQTT_VERSION": version})
			<-done
			if res.code != 0 {
				t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
			}
			if got := res.value(t, "ws_msgs_received", "count"); got != conns*pubs {
				t.Errorf("ws_msgs_received = %v, want %d", got, conns*pubs)
			}
			if got := res.value(t, "massconn_latency", "max"); got <= 0 {
				t.Errorf("massconn_latency max = %v: nothing measured", got)
			}
		})
	}
}

// waitSys waits until the broker's $SYS counter name reads want.
func waitSys(t *testing.T, broker mosquittotest.Broker, name string, want int) {
	t.Helper()
	if !within(time.Minute, func() bool { return broker.Sys(t, name) == want }) {
		t.Fatalf("$SYS/broker/%s never read %d", name, want)
	}
}

// within polls cond until it holds (true) or d has passed (false); it
// only keeps a broken peer from hanging the test.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
