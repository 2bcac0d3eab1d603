package engine

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
)

// This file is the client-side sequence check: every application message
// carries an increasing integer (a row id, a sequence number) and each
// connection remembers only the first and the last one it saw, per group
// (e.g. per topic). From that, exact counters: how many numbers were skipped
// (gaps), how many came twice in a row (duplicates), and how many arrived
// after a larger one (reordered). Folded over all connections at the end,
// the first and last numbers tell whether every connection saw a whole range
// without per-connection reports.

// SequenceSpec turns on the sequence check.
type SequenceSpec struct {
	// Path is where the integer is in each application message, e.g. "id".
	Path string
	// Per is where the group is in each message (e.g. "topic"): numbers
	// increase within a group. Empty: one sequence per connection, which is
	// the URL's topic when a connection subscribes to one.
	Per string
}

// SequenceStats is the sequence check's exact state, over all connections
// of the pool and every session of each (a reconnected connection
// continues its sequence, so rows missed while it was away are gaps).
type SequenceStats struct {
	Gaps       int64 // numbers skipped: a jump from n to n+k counts k-1
	Duplicates int64 // a number equal to the last one of its group
	Reordered  int64 // a number below the last one of its group
	Unreadable int64 // application messages without an integer at Path
	// Connections saw at least one number; Silent saw none.
	Connections, Silent int64
	// First and Last count groups by their first and last number: with a
	// few distinct rows they are small, and exact.
	First, Last map[int64]int64
}

// unset marks a group that has seen no number yet.
const unset = math.MinInt64

// seqGroup is one group's state on one connection. The fields are atomics
// only so that Stats can read them while the loop writes; each has one
// writer, the loop that owns the connection.
type seqGroup struct {
	key   atomic.Uint64 // hash of the group's value; 0 without Per
	first atomic.Int64
	last  atomic.Int64
}

// seqConn is one connection's state: its first group inline (32 bytes in
// all), further groups (a connection on several topics) in more.
type seqConn struct {
	g    seqGroup
	more atomic.Pointer[[]*seqGroup]
}

// sequencer is a pool's sequence check.
type sequencer struct {
	path, per jsonfield.Path
	seed      maphash.Seed
	conns     []seqConn      // by connection index within the pool
	mu        sync.Mutex     // appending to a seqConn's more
	drained   SequenceCounts // totals at the previous Drain, under Pool.drainMu
}

func newSequencer(spec *SequenceSpec, connections int) *sequencer {
	if spec == nil {
		return nil
	}
	s := &sequencer{seed: maphash.MakeSeed(), conns: make([]seqConn, connections)}
	s.path, _ = jsonfield.ParsePath(spec.Path) // validated
	if spec.Per != "" {
		s.per, _ = jsonfield.ParsePath(spec.Per)
	}
	for i := range s.conns {
		s.conns[i].g.first.Store(unset)
	}
	return s
}

func (c Config) validateSequence(errs *fieldErrors) {
	sq := c.Sequence
	if sq == nil {
		return
	}
	if sq.Path == "" {
		errs.add("Sequence.Path", nil, "is required: the field holding the increasing number", "e.g. id")
	} else if _, err := jsonfield.ParsePath(sq.Path); err != nil {
		errs.add("Sequence.Path", nil, err.Error(), "")
	}
	if sq.Per != "" {
		if _, err := jsonfield.ParsePath(sq.Per); err != nil {
			errs.add("Sequence.Per", nil, err.Error(), "")
		}
	}
}

// observe checks one application message of connection idx.
func (q *sequencer) observe(s *shard, idx int64, payload []byte) {
	if idx < 0 || idx >= int64(len(q.conns)) {
		return
	}
	raw, ok := q.path.Lookup(payload)
	var per []byte
	perFound := false
	if ok && !q.per.IsZero() {
		per, perFound = q.per.Lookup(payload)
	}
	q.observeValues(s, idx, raw, ok, per, perFound)
}

// observeValues is observe on values already looked up: the number at path
// (found or not) and the group at per.
func (q *sequencer) observeValues(s *shard, idx int64, raw []byte, found bool, per []byte, perFound bool) {
	if idx < 0 || idx >= int64(len(q.conns)) {
		return
	}
	var n int64
	ok := found
	if ok {
		n, ok = jsonfield.Int(raw)
	}
	if !ok {
		s.seqUnreadable.Add(1)
		return
	}
	var key uint64
	if perFound {
		key = maphash.Bytes(q.seed, per) | 1 // never 0, the inline group's "unused"
	}
	g := q.group(&q.conns[idx], key)
	last := g.last.Load()
	switch {
	case g.first.Load() == unset:
		g.first.Store(n)
		g.last.Store(n)
	case n == last+1:
		g.last.Store(n)
	case n > last:
		s.seqGaps.Add(n - last - 1)
		g.last.Store(n)
	case n == last:
		s.seqDuplicates.Add(1)
	default:
		s.seqReordered.Add(1)
	}
}

// group finds (or makes) the connection's state for key.
func (q *sequencer) group(c *seqConn, key uint64) *seqGroup {
	// Loads first, a store only when the key changes: an atomic store is a
	// locked instruction, and on a connection state not in the cache yet
	// it stalls the loop until the line arrives.
	if g := &c.g; g.key.Load() == key {
		return g
	} else if g.first.Load() == unset {
		g.key.Store(key)
		return g
	}
	if more := c.more.Load(); more != nil {
		for _, g := range *more {
			if g.key.Load() == key {
				return g
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var list []*seqGroup
	if more := c.more.Load(); more != nil {
		list = append(list, *more...)
	}
	g := &seqGroup{}
	g.key.Store(key)
	g.first.Store(unset)
	list = append(list, g)
	c.more.Store(&list)
	return g
}

// stats folds every connection's groups into the pool's SequenceStats.
func (q *sequencer) stats(shards []shard) SequenceStats {
	st := SequenceStats{First: map[int64]int64{}, Last: map[int64]int64{}}
	for i := range shards {
		s := &shards[i]
		st.Gaps += s.seqGaps.Load()
		st.Duplicates += s.seqDuplicates.Load()
		st.Reordered += s.seqReordered.Load()
		st.Unreadable += s.seqUnreadable.Load()
	}
	fold := func(g *seqGroup) bool {
		first := g.first.Load()
		if first == unset {
			return false
		}
		st.First[first]++
		st.Last[g.last.Load()]++
		return true
	}
	for i := range q.conns {
		c := &q.conns[i]
		if !fold(&c.g) {
			st.Silent++
			continue
		}
		st.Connections++
		if more := c.more.Load(); more != nil {
			for _, g := range *more {
				fold(g)
			}
		}
	}
	return st
}

// Sequence returns the sequence check's state; ok is false when the pool
// has no sequence option.
func (p *Pool) Sequence() (SequenceStats, bool) {
	if p.seq == nil {
		return SequenceStats{}, false
	}
	return p.seq.stats(p.shards), true
}

// SequenceCounts are the sequence check's exact counters (in a Report:
// since the previous Drain).
type SequenceCounts struct {
	Gaps, Duplicates, Reordered, Unreadable int64
}

// sequenceDelta is what the counters gained since the previous Drain;
// Drain calls it under drainMu.
func (p *Pool) sequenceDelta() SequenceCounts {
	if p.seq == nil {
		return SequenceCounts{}
	}
	var now SequenceCounts
	for i := range p.shards {
		s := &p.shards[i]
		now.Gaps += s.seqGaps.Load()
		now.Duplicates += s.seqDuplicates.Load()
		now.Reordered += s.seqReordered.Load()
		now.Unreadable += s.seqUnreadable.Load()
	}
	prev := p.seq.drained
	p.seq.drained = now
	return SequenceCounts{
		Gaps: now.Gaps - prev.Gaps, Duplicates: now.Duplicates - prev.Duplicates,
		Reordered: now.Reordered - prev.Reordered, Unreadable: now.Unreadable - prev.Unreadable,
	}
}
