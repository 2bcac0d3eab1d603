package pgsource

import (
	"math"
	"testing"
)

func TestPosRoundTripAndOrder(t *testing.T) {
	prev := ""
	for _, p := range []int64{0, 1, 9, 10, 99, 100, 123456789, math.MaxInt64} {
		s := FormatPos(p)
		if len(s) != posWidth {
			t.Errorf("FormatPos(%d) = %q: %d characters, want %d", p, s, len(s), posWidth)
		}
		if s <= prev {
			t.Errorf("FormatPos(%d) = %q does not sort after %q", p, s, prev)
		}
		prev = s
		if got, err := ParsePos(s); err != nil || got != p {
			t.Errorf("ParsePos(%q) = %d, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "-1", "+1", "1e3", " 1", "00000000000000000001x", "9223372036854775808", "١"} {
		if _, err := ParsePos(bad); err == nil {
			t.Errorf("ParsePos(%q) accepted", bad)
		}
	}
}

func FuzzParsePos(f *testing.F) {
	for _, s := range []string{"0", "0000000000000000042", "9223372036854775807", "-1", "abc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePos(s)
		if err != nil {
			return
		}
		if p < 0 {
			t.Fatalf("ParsePos(%q) = %d, negative", s, p)
		}
		if again, err := ParsePos(FormatPos(p)); err != nil || again != p {
			t.Fatalf("round trip of %d: %d, %v", p, again, err)
		}
	})
}
