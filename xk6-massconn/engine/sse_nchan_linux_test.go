//go:build linux

package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// publishNumbered publishes messages from..to (inclusive) to channel id,
// each with its number n and a millisecond timestamp ts.
func publishNumbered(t *testing.T, n *testpeer.Nchan, id string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		n.Publish(t, id, fmt.Sprintf(`{"n":%d,"ts":%d}`, i, time.Now().UnixMilli()))
	}
}

// EventSource subscribers of a real nchan: every event counted and
// measured; when nchan ends the streams (its subscriber timeout) the
// clients resume with Last-Event-ID, and nchan's message buffer sends them
// what was published while they were away, so that the sequence check
// finds no gap. A new subscriber gets only newer messages (see
// testpeer.Nchan): without Last-Event-ID the gap stays a gap.
//
// Why not a restart: nchan keeps its buffer in nginx's shared memory,
// which neither a restart nor a reload (SIGHUP) preserves; after either,
// nchan does not know the client's last ID and answers as to a new
// subscriber, so nothing could fill the gap. TestSSEAgainstNchanReload
// checks that the clients come back after a reload.
func TestSSEAgainstNchanResumesWithLastEventID(t *testing.T) {
	n := testpeer.StartNchan(t, testpeer.NchanOptions{SubscriberTimeout: 2})
	const conns, before, during = 40, 10, 10
	p := dial(t, Config{
		URLs: []string{n.SubURL("http", "resume")}, Connections: conns, Reconnect: true,
		Latency:  &LatencySpec{Path: "ts", Unit: time.Millisecond},
		Sequence: &SequenceSpec{Path: "n"},
	})
	if st := p.Stats(); st.Open != conns {
		t.Fatalf("after Wait: %+v", st)
	}
	publishNumbered(t, n, "resume", 1, before)
	eventually(t, "every event before the reload", func() bool { return p.Stats().Received == conns*before })

	eventually(t, "nchan to end every stream", func() bool { return p.Stats().Dropped >= conns })
	publishNumbered(t, n, "resume", before+1, before+during)
	eventually(t, "the events published while the clients were away", func() bool {
		return p.Stats().Received == conns*(before+during)
	})
	st := p.Stats()
	seq, _ := p.Sequence()
	if st.Failed != 0 || seq.Gaps != 0 || seq.Duplicates != 0 || seq.Reordered != 0 || seq.Unreadable != 0 {
		t.Fatalf("stats %+v, sequence %+v: want no failure and no gap", st, seq)
	}
	if seq.Last[before+during] != conns {
		t.Fatalf("last numbers %v, want all %d connections at %d", seq.Last, conns, before+during)
	}
	r := p.Drain()
	if r.LatencyCount != conns*(before+during) || r.SSE.Drops[DropClosed] < conns {
		t.Fatalf("report: %d latencies, drops %v; want %d and at least %d closed", r.LatencyCount, r.SSE.Drops, conns*(before+during), conns)
	}
	if r.SSE.Comments < conns { // nchan greets every subscriber with ": hi"
		t.Fatalf("%d comments, want at least %d", r.SSE.Comments, conns)
	}
}

// After nginx reloads (its old worker ends every stream with "410 Gone")
// the clients reconnect after the default retry and hear new events.
func TestSSEAgainstNchanReload(t *testing.T) {
	n := testpeer.StartNchan(t, testpeer.NchanOptions{})
	const conns = 20
	p := dial(t, Config{URLs: []string{n.SubURL("http", "reload")}, Connections: conns, Reconnect: true})
	n.Reload(t)
	eventually(t, "every stream to end with the old worker", func() bool { return p.Stats().Dropped == conns })
	eventually(t, "every client to reconnect", func() bool { return p.Stats().Open == conns })
	publishNumbered(t, n, "reload", 1, 1)
	eventually(t, "the event after the reload", func() bool { return p.Stats().Received == conns })
}
