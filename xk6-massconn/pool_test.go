package massconn

import (
	"strings"
	"testing"
	"time"

	"github.com/grafana/sobek"
)

// pool.hold and pool.close take durations as k6's sleep() does: a bare
// number is seconds, a string is a k6 duration.
func TestMethodDurationsAreSecondsLikeSleep(t *testing.T) {
	rt := sobek.New()
	for _, c := range []struct {
		arg  any
		want time.Duration
		err  string
	}{
		{arg: 60, want: time.Minute},
		{arg: 1.5, want: 1500 * time.Millisecond},
		{arg: 0, want: 0},
		{arg: "60s", want: time.Minute},
		{arg: "250ms", want: 250 * time.Millisecond},
		{arg: "1m30s", want: 90 * time.Second},
		{arg: -1, err: ">= 0"},
		{arg: "soon", err: "such as '60s' or a number of seconds"},
		{arg: true, err: "such as '60s' or a number of seconds"},
		{arg: nil, err: "such as '60s' or a number of seconds"},
	} {
		got, err := durationArg(rt.ToValue(c.arg))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("durationArg(%v) error = %v, want one containing %q", c.arg, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("durationArg(%v) = %v, %v; want %v", c.arg, got, err, c.want)
		}
	}
}
