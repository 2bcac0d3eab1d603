package engine

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDeliverOneScanMatchesLookups: with latency, the sequence number and
// its group all top-level keys, deliver reads them in one pass; every
// counter and latency sample must be what a lookup per field gives, on
// well-formed, odd and broken messages alike.
func TestDeliverOneScanMatchesLookups(t *testing.T) {
	now := time.Now()
	ts := now.Add(-30 * time.Millisecond).UnixMicro()
	msgs := []string{
		`{"topic":"A","id":1,"ts":%d}`, `{"topic":"A","id":2,"ts":%d}`, `{"id":4,"topic":"A","ts":%d}`,
		`{"topic":"B","id":1}`, `{"topic":"A","id":4,"ts":"2024-01-01T00:00:00Z"}`, `{"topic":"A","id":3,"ts":%d}`,
		`{"topic":"B","ts":%d}`, `{"topic":"B","id":"x","ts":%d}`, `{"id":2,"ts":%d}`, `{"topic":"A","id":5,"ts":}`,
		`{"topic":"A","id":6,"id":9,"ts":%d,"ts":1}`, `not json`, ``, `{"to\u0070ic":"C","id":1,"ts":%d}`,
		` {"ts" : %d , "topic" : "B" , "id" : 2 } `, `{"topic":"A","id":1,"ts":%d}`, `{"topic":"A","id":1,"ts":%d}`,
	}
	cfg := Config{
		URLs: []string{"ws://127.0.0.1:1/"}, Connections: 2,
		Latency:  &LatencySpec{Field: "ts", Unit: time.Microsecond},
		Sequence: &SequenceSpec{Path: "id", Per: "topic"},
	}.withDefaults()
	newPool := func() *Pool {
		p := &Pool{cfg: cfg, shards: make([]shard, 2), msgs: newMessageLayer(cfg, false), seq: newSequencer(cfg.Sequence, cfg.Connections)}
		p.scan = newOneScan(p.msgs.latency, p.seq)
		return p
	}
	scanned, looked := newPool(), newPool()
	if scanned.scan == nil {
		t.Fatal("latency on ts and sequence on id per topic: no one-pass scan prepared")
	}
	looked.scan = nil
	for i, m := range msgs {
		msg := []byte(m)
		if strings.Contains(m, "%d") {
			msg = fmt.Appendf(nil, m, ts)
		}
		for _, p := range []*Pool{scanned, looked} {
			p.deliver(&p.shards[0], int64(i%2), now.UnixNano(), msg)
		}
	}
	a, _ := scanned.Sequence()
	b, _ := looked.Sequence()
	if !reflect.DeepEqual(a, b) {
		t.Errorf("sequence, one pass %+v; lookups %+v", a, b)
	}
	sa, sb := &scanned.shards[0], &looked.shards[0]
	if sa.received.Load() != sb.received.Load() || sa.latCount.Load() != sb.latCount.Load() ||
		!slices.Equal(sa.latency.samples, sb.latency.samples) || sa.latMax != sb.latMax {
		t.Errorf("one pass: received %d, %d latencies %v; lookups: received %d, %d latencies %v",
			sa.received.Load(), sa.latCount.Load(), sa.latency.samples, sb.received.Load(), sb.latCount.Load(), sb.latency.samples)
	}
	if sa.latCount.Load() == 0 || a.Gaps == 0 || a.Reordered == 0 || a.Unreadable == 0 {
		t.Errorf("the messages should give latencies, gaps, reorders and unreadable rows: %d latencies, %+v", sa.latCount.Load(), a)
	}
}

// BenchmarkDeliver is the message layer's per-message work in the
// benchmark scenarios' setting (latency on ts, sequence check on id per
// topic, the reference server's message): with the fields read in one pass
// and with a lookup per field. ns/op is per message.
func BenchmarkDeliver(b *testing.B) {
	cfg := Config{
		URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1,
		Latency:  &LatencySpec{Field: "ts", Unit: time.Microsecond},
		Sequence: &SequenceSpec{Path: "id", Per: "topic"},
	}.withDefaults()
	for _, onePass := range []bool{true, false} {
		name := "one-pass"
		if !onePass {
			name = "per-field"
		}
		b.Run(name, func(b *testing.B) {
			p := &Pool{cfg: cfg, shards: make([]shard, 1), msgs: newMessageLayer(cfg, false), seq: newSequencer(cfg.Sequence, 1)}
			if onePass {
				p.scan = newOneScan(p.msgs.latency, p.seq)
			}
			msg := []byte(benchMessage)
			wall := time.Now().UnixNano()
			b.ReportAllocs()
			for b.Loop() {
				p.deliver(&p.shards[0], 0, wall, msg)
			}
			if p.shards[0].latCount.Load() == 0 {
				b.Fatal("no latency measured")
			}
		})
	}
}
