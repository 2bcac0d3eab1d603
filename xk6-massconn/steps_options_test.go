package massconn

import (
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine"
	"github.com/massconn/massconn/xk6-massconn/engine/program"
)

func TestParseSteps(t *testing.T) {
	opts, err := parseConnectOptions(jsValue(t, `{urls: ['ws://127.0.0.1:1/'], connections: 2,
		lifetime: {min: '60s', max: '600s'},
		steps: [
			{send: '{"join":"room-{{rand:100}}"}'},
			{expect: '{"joined"', prefix: true, timeout: '5s'},
			{expect: {path: 'n', equals: 3}, timeout: 500, onTimeout: 'close'},
			{sleep: {min: '10s', max: '30s'}},
			{sleep: '1s'},
			{send: 'AAE=', binary: true},
			{goto: 3, times: 5},
			{close: 4000},
			{close: true},
		]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := opts.cfg
	want := []program.Step{
		{Kind: program.Send, Text: `{"join":"room-{{rand:100}}"}`},
		{Kind: program.Expect, Match: `{"joined"`, Prefix: true, Timeout: 5 * time.Second},
		{Kind: program.Expect, Path: "n", Equals: "3", Timeout: 500 * time.Millisecond, OnTimeout: "close"},
		{Kind: program.Sleep, Min: 10 * time.Second, Max: 30 * time.Second},
		{Kind: program.Sleep, Min: time.Second, Max: time.Second},
		{Kind: program.Send, Text: "AAE=", Binary: true},
		{Kind: program.Goto, Target: 3, Times: 5},
		{Kind: program.Close, Code: 4000},
		{Kind: program.Close},
	}
	if len(c.Steps) != len(want) {
		t.Fatalf("steps %+v", c.Steps)
	}
	for i := range want {
		if c.Steps[i] != want[i] {
			t.Errorf("steps[%d] = %+v, want %+v", i, c.Steps[i], want[i])
		}
	}
	if c.Lifetime != (engine.Lifetime{Min: time.Minute, Max: 10 * time.Minute}) {
		t.Fatalf("lifetime %+v", c.Lifetime)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStepOptionErrors(t *testing.T) {
	const base = `urls: ['ws://127.0.0.1:1/'], connections: 1, `
	for _, tc := range []struct{ js, want string }{
		{`{` + base + `steps: {send: 'x'}}`, "option 'steps' must be a list"},
		{`{` + base + `steps: [{send: 'x', sleep: '1s'}]}`, "option 'steps[0]' has both"},
		{`{` + base + `steps: [{wait: '1s'}]}`, "option 'steps[0]' needs one of send, expect, sleep, goto, close"},
		{`{` + base + `steps: [{send: 'x', timeout: '1s'}]}`, "unknown option 'steps[0].timeout'"},
		{`{` + base + `steps: [{expect: 'x', timout: '1s'}]}`, "unknown option 'steps[0].timout' (did you mean 'steps[0].timeout'?)"},
		{`{` + base + `steps: [{expect: {path: 'a'}}]}`, "option 'steps[0].expect.equals' is required"},
		{`{` + base + `steps: [{sleep: {min: '2s', max: '1s'}}]}`, "option 'steps[0].sleep' needs min <= max"},
		{`{` + base + `steps: [{goto: 0, times: 0}]}`, "option 'steps[0].times' must be a whole number >= 1"},
		{`{` + base + `steps: [{close: false}]}`, "option 'steps[0].close' must be true"},
		{`{` + base + `lifetime: 'forever'}`, "option 'lifetime' must be a duration"},
	} {
		err := checkOptions(jsValue(t, tc.js))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.js, err, tc.want)
		}
	}
	// Whole-program checks come from the engine, one line per step.
	opts, err := parseConnectOptions(jsValue(t, `{`+base+`steps: [{send: 'a'}, {send: '{{who}}'}, {expect: 'a'}, {goto: 9}]}`))
	if err != nil {
		t.Fatal(err)
	}
	msg := connectError(opts.cfg.Validate()).Error()
	for _, want := range []string{
		"massconn.connect: option 'steps[3].goto' target 9 is past the end",
		"massconn.connect: option 'steps[1].send' unknown variable {{who}}",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("validation said %q, want %q", msg, want)
		}
	}
}
