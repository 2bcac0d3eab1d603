package k6test

import (
	"fmt"
	"path/filepath"
	"testing"
)

// The k6scripts programs (rtt.js, chat.js) run through a real k6 against
// the npm ws echo peer; wrong programs stop k6 before any socket is opened.

func TestWrongStepsNameTheStep(t *testing.T) {
	url := fmt.Sprintf("ws://127.0.0.1:%d/", closedPort(t))
	var tests []optionErrorCase
	for _, tt := range []struct{ name, steps, want string }{
		{"goto past the end", `[{"send":"a"},{"expect":"a"},{"sleep":"1s"},{"goto":9}]`,
			"massconn.connect: option 'steps[3].goto' target 9 is past the end"},
		{"unknown variable", `[{"send":"{{user}}"}]`,
			"massconn.connect: option 'steps[0].send' unknown variable {{user}}"},
		{"typo in a step", `[{"expect":"a","timout":"1s"}]`,
			"unknown option 'steps[0].timout' (did you mean 'steps[0].timeout'?)"},
	} {
		opts := `{"urls":["` + url + `"],"connections":1,"steps":` + tt.steps + `}`
		tests = append(tests, optionErrorCase{tt.name, opts, tt.want})
	}
	checkOptionErrors(t, tests)
}

func TestRTTScript(t *testing.T) {
	url := startWSPeer(t)
	res := runK6Path(t, filepath.Join("..", "..", "k6scripts", "rtt.js"), map[string]string{
		"URLS": url, "CONNECTIONS": "50", "DURATION": "3s", "THINK_MIN": "100ms", "THINK_MAX": "300ms", "P99_MS": "1000",
	})
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	// The script's checks (exit 0) hold that answers arrived; the trend
	// has values and nothing failed or timed out.
	if res.value(t, "massconn_failures", "count") != 0 || res.value(t, "massconn_rtt", "min") <= 0 ||
		res.value(t, "massconn_rtt", "max") < res.value(t, "massconn_rtt", "min") || res.value(t, "ws_msgs_received", "count") < 50 {
		t.Errorf("failures %v, rtt %v", res.metrics["massconn_failures"], res.metrics["massconn_rtt"])
	}
}

func TestChatScriptChurns(t *testing.T) {
	url := startWSPeer(t)
	const slots = 40
	res := runK6Path(t, filepath.Join("..", "..", "k6scripts", "chat.js"), map[string]string{
		"URLS": url, "CONNECTIONS": fmt.Sprint(slots), "DURATION": "4s",
		"THINK_MIN": "100ms", "THINK_MAX": "200ms", "LIFETIME_MIN": "300ms", "LIFETIME_MAX": "700ms",
	})
	if res.code != 0 {
		t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
	}
	sessions := res.value(t, "ws_sessions", "count")
	churn := res.value(t, "massconn_churn", "count")
	t.Logf("ws_sessions %v, massconn_churn %v", sessions, churn)
	// Each slot lives 0.5 s on average: about 4 s x 40 / 0.5 s = 320
	// reopens; the bounds are wide, the relation between counters exact.
	if churn < 320/4 || churn > 320*1.5 || sessions < churn || sessions > churn+slots {
		t.Errorf("ws_sessions %v, massconn_churn %v", sessions, churn)
	}
	// Every session's join was answered (a timeout would be a failure and
	// fail the run): the trend has values.
	if res.value(t, "massconn_rtt", "min") <= 0 || res.value(t, "ws_msgs_sent", "count") < sessions {
		t.Errorf("massconn_rtt %v, ws_msgs_sent %v for %v sessions", res.metrics["massconn_rtt"], res.value(t, "ws_msgs_sent", "count"), sessions)
	}
}
