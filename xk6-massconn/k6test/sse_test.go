package k6test

import (
	"testing"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// http:// URLs through the real k6 binary: EventSource subscribers of
// nchan, their events as sse_event, their sessions and silences as
// massconn_* metrics tagged transport=sse, and no ws_* metric.
func TestSSEAgainstNchan(t *testing.T) {
	n := testpeer.StartNchan(t, testpeer.NchanOptions{})
	res := runK6(t, "sse.js", map[string]string{
		"SSE_URL": n.SubURL("http", "k6"),
		"PUB_URL": "http://" + n.Addr + "/pub?id=k6",
	})
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	res.expectValues(t, []metricValue{
		{"sse_event", "count", 200},
		{"massconn_sessions", "count", 20},
		{"massconn_failures", "count", 0},
		{"massconn_open", "max", 20},
	})
	for _, m := range []string{"massconn_silence", "massconn_connecting", "massconn_session_duration", "massconn_latency"} {
		if res.value(t, m, "max") < res.value(t, m, "min") {
			t.Errorf("%s: max < min in %v", m, res.metrics[m])
		}
	}
	for _, m := range []string{"ws_sessions", "ws_msgs_received", "ws_connecting"} {
		if _, ok := res.metrics[m]; ok {
			t.Errorf("%s reported for an EventSource pool", m)
		}
	}
}

func TestSSEOptionsNameTheOption(t *testing.T) {
	checkOptionErrors(t, []optionErrorCase{
		{"send step", `{"urls":["http://127.0.0.1:1/"],"connections":1,"steps":[{"send":"hi"}]}`,
			"massconn.connect: option 'steps[0].send' is not available for http:// (EventSource) URLs"},
		{"idleTimeout on ws", `{"urls":["ws://127.0.0.1:1/"],"connections":1,"idleTimeout":"5s"}`,
			"massconn.connect: option 'idleTimeout' applies to http:// and https:// (EventSource) URLs only"},
		{"sse typo", `{"urls":["http://127.0.0.1:1/"],"connections":1,"sse":{"event":["x"]}}`,
			"unknown option 'sse.event' (did you mean 'sse.events'?)"},
	})
}
