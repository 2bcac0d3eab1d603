package engine

import (
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
			if tt.set {
				t.Setenv("MASSCONN_COALESCE", tt.value)
			}
			got, err := coalesceFromEnv()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
