package fleet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/massconn/massconn/internal/procfs"
	"github.com/massconn/massconn/server/client"
)

// progressLine is one line of progress: open connections and their rate,
// servers too busy to answer, memory (serverRSS: "servers 12 MiB"), and the connection-tracking table
// when netfilter is loaded (the limit that drops connections silently).
func progressLine(elapsed time.Duration, open, total, prevOpen int64, since time.Duration, stale, servers int,
	mm interface{ conntrack() (int64, int64) }, k6RSS, serverRSS string,
) string {
	rate := float64(open-prevOpen) / max(since.Seconds(), 0.001)
	line := fmt.Sprintf("[%4.0fs] open %d/%d (%+.0f/s) · RSS k6 %s, %s", elapsed.Seconds(), open, total, rate, k6RSS, serverRSS)
	if ct, ctMax := mm.conntrack(); ctMax > 0 {
		line += fmt.Sprintf(" · conntrack %d/%d", ct, ctMax)
	}
	if stale > 0 {
		line += fmt.Sprintf(" · %d of %d servers too busy to answer /healthz (their last count used)", stale, servers)
	}
	return line
}

// serverCounter sums the open connections the servers report on /healthz,
// asking them in parallel; a server too busy to answer within the timeout counts with
// its last known value, so progress stays readable under load.
type serverCounter struct {
	plans    []ServerPlan
	last     []int64
	lastSent []uint64 // messages queued to subscribers (/healthz messages_sent)
}

func newServerCounter(plans []ServerPlan) *serverCounter {
	return &serverCounter{plans: plans, last: make([]int64, len(plans)), lastSent: make([]uint64, len(plans))}
}

// total returns the sum and how many servers did not answer this time.
func (c *serverCounter) total() (int64, int) {
	var wg sync.WaitGroup
	fresh := make([]int64, len(c.plans))
	freshSent := make([]uint64, len(c.plans))
	failed := make([]bool, len(c.plans))
	for i, sp := range c.plans {
		wg.Go(func() {
			h, err := client.New(sp.Listen, 0).Health(context.Background())
			fresh[i], freshSent[i], failed[i] = h.Connections, h.MessagesSent, err != nil
		})
	}
	wg.Wait()
	var sum int64
	stale := 0
	for i := range c.plans {
		if failed[i] {
			stale++
		} else {
			c.last[i], c.lastSent[i] = fresh[i], freshSent[i]
		}
		sum += c.last[i]
	}
	return sum, stale
}

// sent is the messages the servers queued to subscribers, as of their
// last answers to total.
func (c *serverCounter) sent() uint64 {
	var n uint64
	for _, v := range c.lastSent {
		n += v
	}
	return n
}

func pidsRSS(pids []int) string {
	return fmt.Sprintf("%.0f MiB", float64(procfs.TotalVmRSS(pids))/1024)
}
