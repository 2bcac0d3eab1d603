//go:build linux

package engine

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loopsCPU is the CPU time the process's event loops have used, from each
// loop thread's schedstat (nanoseconds on a CPU, exact, not ticks).
func loopsCPU(tb testing.TB) time.Duration {
	tb.Helper()
	ls, err := getLoops()
	if err != nil {
		tb.Fatal(err)
	}
	var total time.Duration
	for _, l := range ls {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", l.tid.Load()))
		if err != nil {
			tb.Fatalf("loop %d's schedstat: %v", l.id, err)
		}
		ns, err := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
		if err != nil {
			tb.Fatalf("loop %d's schedstat %q: %v", l.id, raw, err)
		}
		total += time.Duration(ns)
	}
	return total
}

// BenchmarkFanoutReceive is a fan-out as the benchmark scenarios make it,
// in miniature: fanoutConns connections to one in-process server, which
// writes each row (the reference server's message with an increasing id and
// the current ts) to every connection in turn, one write per connection, so
// that the client takes one small read per message from many sockets, as
// under `make bench`. The pool measures latency and runs the sequence check
// (id per topic), as the scenarios do. Besides ns/op it reports loop-ns/msg:
// the event loops' own CPU per received message (their threads' schedstat),
// which leaves out the in-process server.
func BenchmarkFanoutReceive(b *testing.B) {
	const fanoutConns = 2000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, fanoutConns)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					c.Close()
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
					"Sec-WebSocket-Accept: %s\r\n\r\n", acceptFor(req.Header.Get("Sec-WebSocket-Key")))
				accepted <- c
			}()
		}
	}()
	p, err := Dial(context.Background(), Config{
		URLs: []string{"ws://" + ln.Addr().String() + "/"}, Connections: fanoutConns,
		Latency:  &LatencySpec{Field: "ts", Unit: time.Microsecond},
		Sequence: &SequenceSpec{Path: "id", Per: "topic"},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(time.Second)
	if err := p.Wait(context.Background()); err != nil || p.Stats().Open != fanoutConns {
		b.Fatalf("open: %v %+v", err, p.Stats())
	}
	conns := make([]net.Conn, 0, fanoutConns)
	for range fanoutConns {
		conns = append(conns, <-accepted)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	before := p.Stats().Received
	cpu0 := loopsCPU(b)
	b.ResetTimer()
	var frame []byte
	for i, id := 0, 1; i < b.N; id++ {
		msg := fmt.Sprintf(`{"topic":"Track","op":"INSERT","id":%d,"ts":%d,"row":{"id":%d,"name":"Track %d"}}`,
			id, time.Now().UnixMicro(), id, id)
		frame = append(append(frame[:0], 0x81, byte(len(msg))), msg...)
		for _, c := range conns {
			if i == b.N {
				break
			}
			if _, err := c.Write(frame); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	for p.Stats().Received-before < int64(b.N) {
		if s := p.Stats(); s.Open < fanoutConns {
			b.Fatalf("connections ended: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(loopsCPU(b)-cpu0)/float64(b.N), "loop-ns/msg")
	if sq, _ := p.Sequence(); sq.Gaps != 0 || sq.Duplicates != 0 || sq.Reordered != 0 || sq.Unreadable != 0 {
		b.Fatalf("sequence check: %+v", sq)
	}
}
