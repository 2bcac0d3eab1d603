//go:build linux

package engine

import (
	"testing"
	"time"
)

// benchConn (with benchMessage of receive_bench_linux_test.go, latency on
// its "ts") is an open connection of a loop without a socket: consume
// runs the frame layer and the message layer on bytes handed to it as if
// they had just been read.
func benchConn() (*loop, *conn, *shard) {
	cfg := Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1, Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond}}
	p := &Pool{cfg: cfg.withDefaults(), shards: make([]shard, 2)}
	l := &loop{wall: time.Now().UnixNano()}
	return l, &conn{pool: p, state: stOpen, fd: 0}, &p.shards[0]
}

// fillReads repeats unit up to a 64 KiB read and reports how many units it holds.
func fillReads(unit []byte) ([]byte, int) {
	var buf []byte
	for len(buf)+len(unit) <= 64<<10 {
		buf = append(buf, unit...)
	}
	return buf, len(buf) / len(unit)
}

// consumeReads feeds the reads to c until b.N messages arrived, perRound
// messages per pass over reads, and checks that every one was counted.
func consumeReads(b *testing.B, l *loop, c *conn, s *shard, perRound int, reads ...[]byte) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += perRound {
		for _, r := range reads {
			l.consume(c, r)
		}
	}
	b.StopTimer()
	if got := s.received.Load(); got < int64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
}

// BenchmarkConsume is the frame layer alone, without sockets: one loop
// consumes 64 KiB reads holding reference-server messages (latency on), as
// after a read from the socket. ns/op is per message.
func BenchmarkConsume(b *testing.B) {
	l, c, s := benchConn()
	buf, perRead := fillReads(append([]byte{0x81, byte(len(benchMessage))}, benchMessage...))
	consumeReads(b, l, c, s, perRead, buf)
}

// BenchmarkConsumeStraddling is BenchmarkConsume with the same bytes
// arriving in 1,000-byte reads, so that nearly every read ends inside a
// frame: the partial frame is kept (keepPartial) and completed by the next
// read. ns/op is per message.
func BenchmarkConsumeStraddling(b *testing.B) {
	l, c, s := benchConn()
	buf, perRead := fillReads(append([]byte{0x81, byte(len(benchMessage))}, benchMessage...))
	var reads [][]byte
	for rest := buf; len(rest) > 0; {
		n := min(1000, len(rest))
		reads, rest = append(reads, rest[:n]), rest[n:]
	}
	consumeReads(b, l, c, s, perRead, reads...)
}

// BenchmarkConsumeFragmented delivers every message as four frames (text,
// then three continuations), which the loop reassembles before the UTF-8
// check and the message layer. ns/op is per message.
func BenchmarkConsumeFragmented(b *testing.B) {
	l, c, s := benchConn()
	var unit []byte
	quarter := len(benchMessage) / 4
	for i := range 4 {
		op := byte(0x00) // continuation
		if i == 0 {
			op = 0x01 // text
		}
		end := (i + 1) * quarter
		if i == 3 {
			end, op = len(benchMessage), op|0x80 // FIN on the last fragment
		}
		part := benchMessage[i*quarter : end]
		unit = append(append(unit, op, byte(len(part))), part...)
	}
	buf, perRead := fillReads(unit)
	consumeReads(b, l, c, s, perRead, buf)
}
