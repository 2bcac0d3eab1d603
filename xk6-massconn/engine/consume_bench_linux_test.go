//go:build linux

package engine

import (
	"testing"
	"time"
)

// BenchmarkConsume is the frame layer alone, without sockets: one loop
// consumes 64 KiB reads holding reference-server messages (latency on), as
// after a read from the socket. ns/op is per message.
func BenchmarkConsume(b *testing.B) {
	const msg = `{"topic":"Track","op":"INSERT","id":42,"ts":1795430400123456,"row":{"id":42,"name":"Track 1"}}`
	frame := append([]byte{0x81, byte(len(msg))}, msg...)
	var buf []byte
	for len(buf)+len(frame) <= 64<<10 {
		buf = append(buf, frame...)
	}
	perRead := len(buf) / len(frame)
	cfg := Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1, Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond}}
	p := &Pool{cfg: cfg.withDefaults(), shards: make([]shard, 2)}
	l := &loop{wall: time.Now().UnixNano()}
	c := &conn{pool: p, state: stOpen, fd: 0}
	b.ResetTimer()
	for i := 0; i < b.N; i += perRead {
		l.consume(c, buf)
	}
	b.StopTimer()
	if p.shards[0].received.Load() < int64(b.N) {
		b.Fatalf("received %d of %d", p.shards[0].received.Load(), b.N)
	}
}
