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

func FuzzParseK6JSON(f *testing.F) {
	f.Add([]byte(`{"metric":"massconn_latency","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":1,"tags":{}}}`))
	f.Add([]byte(`{"metric":"massconn_failures","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":3,"tags":{"reason":"x"}}}` + "\n{}"))
	f.Add([]byte(`{"metric":"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseK6JSON(strings.NewReader(string(b)))
	})
}
