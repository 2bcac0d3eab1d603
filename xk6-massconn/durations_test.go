package massconn

import (
	"strings"
	"testing"
	"time"
)

// durationOptions is every duration option of connect(), written as the
// JS that sets it to D, with the parsed value read back (nil: an
// adapter's option, only checked for its errors).
var durationOptions = []struct {
	option string // as the error names it
	js     string // D stands for the value
	get    func(connectOptions) time.Duration
}{
	{"connectTimeout", `connectTimeout: D`, func(o connectOptions) time.Duration { return o.cfg.ConnectTimeout }},
	{"idleTimeout", `idleTimeout: D`, func(o connectOptions) time.Duration { return o.cfg.IdleTimeout }},
	{"heartbeat.every", `heartbeat: {every: D, ping: true}`, func(o connectOptions) time.Duration { return o.cfg.Heartbeat.Every }},
	{"lifetime", `lifetime: D`, func(o connectOptions) time.Duration { return o.cfg.Lifetime.Min }},
	{"lifetime.min", `lifetime: {min: D, max: '1h'}`, func(o connectOptions) time.Duration { return o.cfg.Lifetime.Min }},
	{"lifetime.max", `lifetime: {min: 1, max: D}`, func(o connectOptions) time.Duration { return o.cfg.Lifetime.Max }},
	{"steps[0].sleep", `steps: [{sleep: D}]`, func(o connectOptions) time.Duration { return o.cfg.Steps[0].Min }},
	{"steps[0].sleep.max", `steps: [{sleep: {min: 1, max: D}}]`, func(o connectOptions) time.Duration { return o.cfg.Steps[0].Max }},
	{"steps[1].timeout", `steps: [{send: 'x'}, {expect: 'y', timeout: D}]`, func(o connectOptions) time.Duration { return o.cfg.Steps[1].Timeout }},
	{"protocol.heartbeat", `protocol: {name: 'phoenix', topics: ['t'], heartbeat: D}`, nil},
	{"protocol.keepAlive", `protocol: {name: 'mqtt', topics: ['t'], keepAlive: D}`, nil},
}

// TestDurationOptionsFollowK6 checks k6's rule for duration options on
// every one of them: a bare number is milliseconds (as k6's own options,
// e.g. setupTimeout: 60000, read it), a string is a k6 duration such as
// '1m30s', and any other type is an error naming the option (or, for a
// {min, max} object, its field).
func TestDurationOptionsFollowK6(t *testing.T) {
	const base = `urls: ['ws://127.0.0.1:1/'], connections: 1, `
	parse := func(t *testing.T, js, value string) (connectOptions, error) {
		t.Helper()
		return parseConnectOptions(jsValue(t, `{`+base+strings.ReplaceAll(js, "D", value)+`}`))
	}
	for _, o := range durationOptions {
		t.Run(o.option, func(t *testing.T) {
			for value, want := range map[string]time.Duration{
				`1500`:    1500 * time.Millisecond,
				`2.5`:     2500 * time.Microsecond,
				`'1m30s'`: 90 * time.Second,
				`'250ms'`: 250 * time.Millisecond,
			} {
				opts, err := parse(t, o.js, value)
				if err != nil {
					if o.get == nil && strings.Contains(err.Error(), "whole seconds") {
						continue // MQTT's keep-alive is whole seconds on the wire
					}
					t.Errorf("%s: %v", value, err)
					continue
				}
				if o.get != nil {
					if got := o.get(opts); got != want {
						t.Errorf("%s: got %v, want %v", value, got, want)
					}
				}
			}
			for _, bad := range []string{`true`, `{}`, `'soon'`, `[5]`, `NaN`, `Infinity`, `-5`, `1e300`} {
				_, err := parse(t, o.js, bad)
				if err == nil || !strings.Contains(err.Error(), "'"+o.option) {
					t.Errorf("%s: error %v does not name '%s'", bad, err, o.option)
				}
			}
		})
	}
}
