package engine

import (
	"maps"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// TestSequenceAgainstNpmWS: the npm ws peer sends rows in an order the test
// picks; the counters must say exactly what went wrong.
func TestSequenceAgainstNpmWS(t *testing.T) {
	base := testpeer.WSPeer(t)
	const n = 8
	cases := []struct {
		name                string
		rows                string
		per                 string
		gaps, dups, reorder int64
		first, last         int64
		unreadable          int64
	}{
		{name: "whole", rows: "1,2,3,4,5", first: 1, last: 5},
		{name: "gap", rows: "1,2,5,6", gaps: 2, first: 1, last: 6},
		{name: "duplicate", rows: "1,2,2,3", dups: 1, first: 1, last: 3},
		{name: "reordered", rows: "1,3,2,4", gaps: 1, reorder: 1, first: 1, last: 4},
		// Per topic: each topic counts on its own, so interleaving is no gap;
		// without per, the same stream has gaps and reorders.
		{name: "per topic", rows: "A:10,B:1,A:11,B:2,A:12", per: "topic", first: 1, last: 12},
		{name: "interleaved without per", rows: "A:10,B:1,A:11,B:2", reorder: 2, first: 10, last: 11},
		{name: "no number", rows: "1,x,2", unreadable: 1, first: 1, last: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dial(t, Config{
				URLs: []string{base + "/"}, Connections: n, OnOpenSend: "rows " + tc.rows,
				Sequence: &SequenceSpec{Path: "id", Per: tc.per},
			})
			want := int64(len(splitComma(tc.rows))) * n
			eventually(t, "every row", func() bool { return p.Stats().Received == want })
			sq, ok := p.Sequence()
			if !ok {
				t.Fatal("Sequence() not ok with the option set")
			}
			if sq.Gaps != tc.gaps*n || sq.Duplicates != tc.dups*n || sq.Reordered != tc.reorder*n || sq.Unreadable != tc.unreadable*n {
				t.Errorf("gaps %d dups %d reordered %d unreadable %d, want %d %d %d %d (x%d connections)",
					sq.Gaps, sq.Duplicates, sq.Reordered, sq.Unreadable, tc.gaps*n, tc.dups*n, tc.reorder*n, tc.unreadable*n, n)
			}
			if sq.Connections != n || sq.Silent != 0 {
				t.Errorf("connections %d silent %d, want %d and 0", sq.Connections, sq.Silent, n)
			}
			if minKey(sq.First) != tc.first || maxKey(sq.Last) != tc.last {
				t.Errorf("first %v last %v, want first %d last %d", sq.First, sq.Last, tc.first, tc.last)
			}
			r := p.Drain()
			if r.Sequence.Gaps != sq.Gaps || r.Sequence.Duplicates != sq.Duplicates || r.Sequence.Reordered != sq.Reordered {
				t.Errorf("Drain %+v, Sequence %+v", r.Sequence, sq)
			}
			if again := p.Drain(); again.Sequence != (SequenceCounts{}) {
				t.Errorf("second Drain %+v, want nothing new", again.Sequence)
			}
			if err := p.Close(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("silent connections are counted", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{base + "/"}, Connections: 3, Sequence: &SequenceSpec{Path: "id"}})
		sq, _ := p.Sequence()
		if sq.Silent != 3 || sq.Connections != 0 || len(sq.First) != 0 {
			t.Fatalf("%+v, want 3 silent", sq)
		}
	})
}

func TestSequenceOptionErrors(t *testing.T) {
	for _, sq := range []SequenceSpec{{}, {Path: "a..b"}, {Path: "id", Per: "x["}} {
		err := Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1, Sequence: &sq}.Validate()
		if err == nil {
			t.Errorf("%+v accepted", sq)
		}
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func minKey(m map[int64]int64) int64 {
	first := true
	var v int64
	for k := range maps.Keys(m) {
		if first || k < v {
			v, first = k, false
		}
	}
	return v
}

func maxKey(m map[int64]int64) int64 {
	first := true
	var v int64
	for k := range maps.Keys(m) {
		if first || k > v {
			v, first = k, false
		}
	}
	return v
}

// BenchmarkSequenceObserve is the per-message cost of the check on a
// server message of the benchmark's shape.
func BenchmarkSequenceObserve(b *testing.B) {
	q := newSequencer(&SequenceSpec{Path: "id", Per: "topic"}, 1024)
	var s shard
	msgs := make([][]byte, 64)
	for i := range msgs {
		msgs[i] = []byte(`{"topic":"Track","op":"INSERT","id":` + itoa(i+1) + `,"pos":"0000000000000000107","ts":1795430400123456,"row":{"id":42,"name":"Track 1"}}`)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q.observe(&s, int64(i%1024), msgs[(i/1024)%64])
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// FuzzSequenceObserve: any bytes from the network leave the counters
// consistent and never panic.
func FuzzSequenceObserve(f *testing.F) {
	f.Add([]byte(`{"topic":"A","id":1}`), []byte(`{"topic":"A","id":3}`))
	f.Add([]byte(`{"id":-5}`), []byte(`{"id":"x"}`))
	f.Add([]byte(`{"topic":{"x":1},"id":9223372036854775807}`), []byte(`[`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		q := newSequencer(&SequenceSpec{Path: "id", Per: "topic"}, 2)
		shards := make([]shard, 1)
		for _, m := range [][]byte{a, b, a, b} {
			q.observe(&shards[0], 0, m)
			q.observe(&shards[0], 1, m)
		}
		st := q.stats(shards)
		if st.Gaps < 0 || st.Connections+st.Silent != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}
