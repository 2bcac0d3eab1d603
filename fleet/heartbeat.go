package fleet

import (
	"time"

	"github.com/massconn/massconn/fleet/verdict"
)

// The heartbeat scenario (seed 004, the Ruby EventSource million): N SSE
// connections, no rows, the server writing a comment line to each every
// Heartbeat; it passes when no connection dropped and none was silent for
// longer than the heartbeat plus HeartbeatSlack (fleet/verdict). The
// script's idleTimeout is that bound, so a connection silent for longer
// is dropped (reason idle) the moment it is, and its silence is measured
// (massconn_silence) either way.

// HeartbeatScenario is the scenario's name (k6scripts/heartbeat.js).
const HeartbeatScenario = "heartbeat"

// DefaultHeartbeat is seed 004's interval: "communicate to clients every
// 15 seconds".
const DefaultHeartbeat = 15 * time.Second

// HeartbeatSlack is the lateness a heartbeat may have: "without any lags"
// read as within a second.
const HeartbeatSlack = verdict.HeartbeatSlack

// serverExtraArgs are the arguments of every server of ours: the
// heartbeat interval for the heartbeat scenario, then the user's
// --server-arg (the last of a flag given twice wins).
func (r *localRun) serverExtraArgs() []string {
	var args []string
	if r.cfg.Scenario == HeartbeatScenario {
		args = append(args, "--sse-heartbeat="+r.cfg.Heartbeat.String())
	}
	return append(args, r.cfg.ServerArgs...)
}

// heartbeatEnv tells heartbeat.js the interval it checks.
func (r *localRun) heartbeatEnv() []string {
	if r.cfg.Scenario != HeartbeatScenario {
		return nil
	}
	return []string{"-e", "HEARTBEAT=" + r.cfg.Heartbeat.String()}
}

// heartbeatBound is the heartbeat interval the verdict checks silences
// against; 0 for the other scenarios.
func (r *localRun) heartbeatBound() time.Duration {
	if r.cfg.Scenario != HeartbeatScenario {
		return 0
	}
	return r.cfg.Heartbeat
}
