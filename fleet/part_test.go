package fleet

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
)

// A fleet of several k6 processes on one machine gives each one loop per
// core unless MASSCONN_LOOPS is set; one process keeps the engine's
// default.
func TestLoopsEnvForSeveralParts(t *testing.T) {
	want := fmt.Sprintf("MASSCONN_LOOPS=%d", min(runtime.GOMAXPROCS(0), 4))
	for _, tt := range []struct {
		parts int
		set   string
		want  []string
	}{
		{1, "", nil},
		{53, "", []string{want}},
		{53, "1", nil},
	} {
		if got := loopsEnv(tt.parts, tt.set); !slices.Equal(got, tt.want) {
			t.Errorf("loopsEnv(%d, %q) = %q, want %q", tt.parts, tt.set, got, tt.want)
		}
	}
}
