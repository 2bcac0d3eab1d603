// Package verdict decides whether a fleet run passed. It is a pure
// function of the figures the merge computed and the messages the run
// published: no file, process or database, so every rule is tested from
// JSON fixtures in testdata/.
package verdict

import (
	"fmt"
	"time"

	"github.com/massconn/massconn/fleet/report"
)

// DefaultP99Bound is the fan-out p99 a run may not exceed to pass.
const DefaultP99Bound = time.Second

// Input is everything the verdict looks at.
type Input struct {
	// Connections are the fleet's counts: the target, opened, failed and
	// dropped connections.
	Connections report.Connections `json:"connections"`
	// Latency is the fan-out latency while every connection was open; nil
	// when no message arrived then.
	Latency *report.Percentiles `json:"latency,omitempty"`
	// P99Bound is the fan-out p99 that passes; 0 = DefaultP99Bound. The
	// delivery window also ends this long before the hold did.
	P99Bound time.Duration `json:"p99_bound,omitempty"`
	// Exits are the k6 processes that did not exit 0.
	Exits []Exit `json:"exits,omitempty"`
	// Delivery is what was published and what the connections received.
	Delivery DeliveryInput `json:"delivery"`
	// RequireDelivery fails the run when delivery cannot be checked or no
	// message was published in the window (the local runner sets it; a
	// merge of foreign parts may lack the published record).
	RequireDelivery bool `json:"require_delivery,omitempty"`
	// Heartbeat, for the heartbeat scenario: the server's interval and
	// the connections' longest silence; nil for the others.
	Heartbeat *HeartbeatInput `json:"heartbeat,omitempty"`
	// RunProblems are what the runner saw go wrong (kernel limits, an
	// insert loop that exited); each fails the run.
	RunProblems []string `json:"run_problems,omitempty"`
}

// Exit is one k6 process's exit code other than 0.
type Exit struct {
	Part int `json:"part"`
	Code int `json:"code"`
}

// Result is the verdict: the problems found, the delivery check and
// whether the run passed (no problem).
type Result struct {
	Pass       bool
	Problems   []string
	P99BoundMs float64
	Delivery   *report.Delivery
}

// Judge decides the verdict. Problems come in a fixed order: k6 exits,
// failed, dropped and missing connections, delivery, p99, the heartbeat's
// silences, the run's own.
func Judge(in Input) Result {
	var res Result
	for _, e := range in.Exits {
		res.Problems = append(res.Problems, fmt.Sprintf("part %d: k6 exited %d (%s)", e.Part, e.Code, exitMeaning(e.Code)))
	}
	c := in.Connections
	if c.Failures > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d connections failed", c.Failures))
	}
	if c.Drops > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d connections dropped", c.Drops))
	}
	if c.Target > 0 && c.Opened < c.Target {
		res.Problems = append(res.Problems, fmt.Sprintf("%d of %d connections opened", c.Opened, c.Target))
	}
	bound := in.P99Bound
	if bound <= 0 {
		bound = DefaultP99Bound
	}
	res.P99BoundMs = float64(bound) / float64(time.Millisecond)
	d := Check(in.Delivery, bound, c.Opened)
	res.Delivery = d
	if in.RequireDelivery && d.NotChecked == "" && d.Rows == 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("no %[1]s of %[2]s was %[3]s while every connection was open "+
			"(and %[4]v before the end): nothing shows %[1]ss reached the connections; hold longer", d.Noun(), d.Table, published(d), bound))
	}
	res.Problems = append(res.Problems, deliveryProblems(d)...)
	if in.RequireDelivery && d.NotChecked != "" {
		res.Problems = append(res.Problems, "delivery not checked: "+d.NotChecked)
	}
	if in.Latency != nil && in.Latency.P99 > res.P99BoundMs {
		res.Problems = append(res.Problems, fmt.Sprintf("fan-out p99 %.0f ms while all were open, over the bound of %.0f ms",
			in.Latency.P99, res.P99BoundMs))
	}
	res.Problems = append(res.Problems, heartbeatProblems(in.Heartbeat)...)
	res.Problems = append(res.Problems, in.RunProblems...)
	res.Pass = len(res.Problems) == 0
	return res
}

func exitMeaning(code int) string {
	switch code {
	case 99:
		return "thresholds crossed"
	case 105:
		return "interrupted"
	case -1:
		return "did not finish"
	}
	return "error, see k6.log"
}

// published is the verb for how d's messages came to be.
func published(d *report.Delivery) string {
	if d.Noun() == "row" {
		return "inserted"
	}
	return "published"
}
