package verdict

import (
	"fmt"
	"time"
)

// HeartbeatSlack is how late a heartbeat may be: the heartbeat scenario
// passes when no connection was silent for longer than the interval plus
// this (seed 004's "every 15 seconds without any lags").
const HeartbeatSlack = time.Second

// HeartbeatInput is what the heartbeat scenario adds to the verdict: the
// server's interval and the silences the connections measured
// (massconn_silence: per ended stream, its longest stretch without a
// byte, the exact maximum among the samples).
type HeartbeatInput struct {
	// Every is the server's heartbeat interval.
	Every time.Duration `json:"every"`
	// LongestSilenceMs is the longest silence any connection had, in ms.
	LongestSilenceMs float64 `json:"longest_silence_ms"`
	// Measured is how many silence values the parts reported (streams
	// ended); 0 means nothing shows the connections heard anything.
	Measured int64 `json:"measured"`
	// IdleDrops are the connections dropped for being silent for the
	// script's idleTimeout (drop reason idle).
	IdleDrops int64 `json:"idle_drops,omitempty"`
}

// heartbeatProblems judges the silences: each measured, none longer than
// the interval plus HeartbeatSlack. Drops are judged with the other
// connections' counts; the idle ones are named here too, as they are the
// silences the scenario is about.
func heartbeatProblems(h *HeartbeatInput) []string {
	if h == nil {
		return nil
	}
	bound := h.Every + HeartbeatSlack
	var out []string
	if h.Measured == 0 {
		out = append(out, "no connection's silence was measured (massconn_silence has no value): "+
			"nothing shows the heartbeats arrived; are the URLs http:// or https:// (SSE)?")
	}
	if h.IdleDrops > 0 {
		out = append(out, fmt.Sprintf("%d connection(s) heard nothing for the script's idleTimeout (%v) and were dropped (reason idle)",
			h.IdleDrops, bound))
	}
	if ms := float64(bound) / float64(time.Millisecond); h.LongestSilenceMs > ms {
		out = append(out, fmt.Sprintf("longest silence %.1f s at a connection, over the heartbeat %v plus %v",
			h.LongestSilenceMs/1000, h.Every, HeartbeatSlack))
	}
	return out
}
