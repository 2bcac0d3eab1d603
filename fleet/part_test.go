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

// Several servers on one machine get a longer handshake timeout, and an
// argument of the user's for the same flag comes after it (the last one
// wins).
func TestServerArgsHandshakeTimeout(t *testing.T) {
	sp := ServerPlan{Listen: "127.0.0.1:18080", MaxConns: 100}
	one := serverArgs(sp, "postgres://db", 1, nil)
	if slices.Contains(one, "--handshake-timeout") {
		t.Errorf("one server: %q, want the server's own default", one)
	}
	several := serverArgs(sp, "postgres://db", 53, []string{"--handshake-timeout=2s"})
	i := slices.Index(several, "--handshake-timeout")
	if i < 0 || several[i+1] != fleetHandshakeTimeout {
		t.Fatalf("53 servers: %q, want --handshake-timeout %s", several, fleetHandshakeTimeout)
	}
	if j := slices.Index(several, "--handshake-timeout=2s"); j < i {
		t.Errorf("53 servers: %q, want the user's --handshake-timeout=2s after the fleet's", several)
	}
}
