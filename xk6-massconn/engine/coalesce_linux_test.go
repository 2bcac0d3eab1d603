package engine

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCoalesceFromEnv(t *testing.T) {
	tests := []struct {
		value   string
		set     bool
		want    time.Duration
		wantErr string
	}{
		{set: false, want: defaultCoalesce},
		{value: "", set: true, want: defaultCoalesce},
		{value: "0", set: true, want: 0},
		{value: "500us", set: true, want: 500 * time.Microsecond},
		{value: "fast", set: true, wantErr: `MASSCONN_COALESCE="fast": want a duration`},
		{value: "-1ms", set: true, wantErr: "or 0 to turn coalescing off"},
		{value: "1s", set: true, wantErr: "from 0 to 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			checkEnvSetting(t, "MASSCONN_COALESCE", tt.value, tt.set, coalesceFromEnv, tt.want, tt.wantErr)
		})
	}
}

// checkEnvSetting sets name to value (when set), parses it with parse and
// checks the result: want, or an error containing wantErr.
func checkEnvSetting[T comparable](t *testing.T, name, value string, set bool, parse func() (T, error), want T, wantErr string) {
	t.Helper()
	if set {
		t.Setenv(name, value)
	}
	got, err := parse()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got %v, %v; want an error containing %q", got, err, wantErr)
		}
		return
	}
	if err != nil || got != want {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
}

func TestLoopsFromEnv(t *testing.T) {
	tests := []struct {
		value   string
		set     bool
		procs   int
		want    int
		wantErr string
	}{
		{set: false, procs: 1, want: 1},
		{set: false, procs: 2, want: 1},
		{set: false, procs: 3, want: 2},
		{set: false, procs: 16, want: 4},
		{value: "", set: true, procs: 2, want: 1},
		{value: "3", set: true, procs: 2, want: 3},
		{value: "0", set: true, procs: 2, wantErr: `MASSCONN_LOOPS="0": want a whole number of event loops from 1 to 64`},
		{value: "two", set: true, procs: 2, wantErr: "or unset for the default (1 here)"},
		{value: "65", set: true, procs: 8, wantErr: "from 1 to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			parse := func() (int, error) { return loopsFromEnv(tt.procs) }
			checkEnvSetting(t, "MASSCONN_LOOPS", tt.value, tt.set, parse, tt.want, tt.wantErr)
		})
	}
}

// TestDialRejectsBadEngineEnv: a bad MASSCONN_COALESCE or MASSCONN_LOOPS
// fails Dial with an error naming the variable, rather than sending every
// connection to the portable engine without a word.
func TestDialRejectsBadEngineEnv(t *testing.T) {
	for _, env := range [][2]string{{"MASSCONN_COALESCE", "fast"}, {"MASSCONN_LOOPS", "0"}} {
		t.Run(env[0], func(t *testing.T) {
			t.Setenv(env[0], env[1])
			p, err := Dial(context.Background(), Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1})
			if err == nil {
				p.Close(0)
				t.Fatalf("Dial with %s=%s: no error", env[0], env[1])
			}
			if !strings.Contains(err.Error(), env[0]+"=") {
				t.Fatalf("Dial with %s=%s: %v; want the variable named", env[0], env[1], err)
			}
		})
	}
}
