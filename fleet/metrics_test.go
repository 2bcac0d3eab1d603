package fleet

import (
	"strings"
	"testing"
)

func TestParseK6JSON(t *testing.T) {
	in := strings.Join([]string{
		`{"type":"Metric","data":{"name":"massconn_latency","type":"trend"},"metric":"massconn_latency"}`,
		`{"metric":"massconn_latency","type":"Point","data":{"time":"2026-01-01T00:00:01.5Z","value":1.25,"tags":{}}}`,
		`{"metric":"massconn_failures","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":3,"tags":{"reason":"timeout"}}}`,
		`{"metric":"iterations","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":1,"tags":{}}}`,
		`{"metric":"massconn_drops","type":"Point","data":{"time":"2026-01-01T00:00:02Z","value":1,"tags":{"code":"1006"}}}`,
	}, "\n")
	m, err := parseK6JSON(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.latency) != 1 || m.latency[0].v != 1.25 || m.latency[0].t.Nanosecond() != 5e8 {
		t.Fatalf("latency %+v", m.latency)
	}
	if len(m.failures) != 1 || m.failures[0].tag != "timeout" || len(m.drops) != 1 || m.drops[0].tag != "1006" {
		t.Fatalf("failures %+v drops %+v", m.failures, m.drops)
	}
	if _, err := parseK6JSON(strings.NewReader(`{"metric":"massconn_open","type":"Point","data":{"ti`)); err == nil {
		t.Fatal("a torn line was accepted")
	}
}

// TestParseK6JSONOfAnSSEPart: an EventSource part's metrics (sse_event,
// massconn_sessions, massconn_connecting, drops by reason, silences,
// keep-alives) land where the report reads the WebSocket ones.
func TestParseK6JSONOfAnSSEPart(t *testing.T) {
	in := strings.Join([]string{
		`{"metric":"massconn_sessions","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":20,"tags":{"transport":"sse"}}}`,
		`{"metric":"massconn_connecting","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":3.5,"tags":{"transport":"sse"}}}`,
		`{"metric":"sse_event","type":"Point","data":{"time":"2026-01-01T00:00:02Z","value":40,"tags":{"transport":"sse"}}}`,
		`{"metric":"massconn_drops","type":"Point","data":{"time":"2026-01-01T00:00:03Z","value":2,"tags":{"reason":"idle","transport":"sse"}}}`,
		`{"metric":"massconn_silence","type":"Point","data":{"time":"2026-01-01T00:00:04Z","value":15200,"tags":{"transport":"sse"}}}`,
		`{"metric":"massconn_keepalives","type":"Point","data":{"time":"2026-01-01T00:00:04Z","value":7,"tags":{"transport":"sse"}}}`,
	}, "\n")
	m, err := parseK6JSON(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if sum(m.sessions) != 20 || len(m.connecting) != 1 || sum(m.received) != 40 || sum(m.keepalives) != 7 {
		t.Fatalf("sessions %v connecting %v received %v keepalives %v", m.sessions, m.connecting, m.received, m.keepalives)
	}
	if len(m.drops) != 1 || m.drops[0].tag != "idle" || len(m.silence) != 1 || m.silence[0].v != 15200 {
		t.Fatalf("drops %+v silence %+v", m.drops, m.silence)
	}
}

func FuzzParseK6JSON(f *testing.F) {
	f.Add([]byte(`{"metric":"massconn_latency","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":1,"tags":{}}}`))
	f.Add([]byte(`{"metric":"massconn_failures","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":3,"tags":{"reason":"x"}}}` + "\n{}"))
	f.Add([]byte(`{"metric":"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseK6JSON(strings.NewReader(string(b)))
	})
}
