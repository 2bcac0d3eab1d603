package fleet

import (
	"strings"
	"testing"
)

// TestParseTransport: --transport takes ws or sse (any case, "" = unset);
// anything else is refused naming the flag and both values.
func TestParseTransport(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Transport
		err  string
	}{
		{"", "", ""},
		{"ws", TransportWS, ""},
		{"SSE", TransportSSE, ""},
		{" sse ", TransportSSE, ""},
		{"http", "", `--transport "http": must be ws`},
		{"eventsource", "", "or sse (Server-Sent Events"},
	} {
		got, err := ParseTransport(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseTransport(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseTransport(%q) error %v; want one saying %q", tc.in, err, tc.err)
		}
	}
}

// TestResolveTransport: the run's transport from --transport, the
// scenario and the targets' schemes; a contradiction is refused naming
// the flag.
func TestResolveTransport(t *testing.T) {
	for _, tc := range []struct {
		name     string
		given    Transport
		scenario string
		targets  []string
		want     Transport
		err      string
	}{
		{"default", "", "capacity", nil, TransportWS, ""},
		{"sse asked", TransportSSE, "capacity", nil, TransportSSE, ""},
		{"heartbeat is sse", "", HeartbeatScenario, nil, TransportSSE, ""},
		{"heartbeat over ws", TransportWS, HeartbeatScenario, nil, "", "--transport ws: the heartbeat scenario"},
		{"http target", "", "capacity", []string{"http://127.0.0.1:1/sub"}, TransportSSE, ""},
		{"https target", TransportSSE, "capacity", []string{"HTTPS://example.com/sub"}, TransportSSE, ""},
		{"wss target", "", "capacity", []string{"wss://example.com/sub"}, TransportWS, ""},
		{"ws target, sse asked", TransportSSE, "capacity", []string{"ws://127.0.0.1:1/sub"}, "", `--target "ws://127.0.0.1:1/sub" is ws, but the run is sse`},
		{"mixed targets", "", "capacity", []string{"ws://a/x", "http://b/y"}, "", `--target "http://b/y" is sse, but the run is ws`},
		{"heartbeat on a ws target", "", HeartbeatScenario, []string{"ws://a/x"}, "", "is ws, but the run is sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveTransport(tc.given, tc.scenario, tc.targets)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestPlanSSEURLs: an SSE plan gives every part http:// URLs to the
// servers' /sse.
func TestPlanSSEURLs(t *testing.T) {
	p, err := NewPlan(PlanConfig{Connections: 10, Servers: 2, PerProcess: 100, BasePort: 18080,
		Transport: TransportSSE})
	if err != nil {
		t.Fatal(err)
	}
	want := "http://127.0.0.1:18080/sse?topic=Track,http://127.0.0.1:18081/sse?topic=Track"
	if got := strings.Join(p.Parts[0].URLs, ","); got != want {
		t.Fatalf("URLs %s, want %s", got, want)
	}
}
