//go:build linux

package engine

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// benchMessage is the reference server's message shape.
const benchMessage = `{"topic":"Track","op":"INSERT","id":42,"ts":1795430400123456,"row":{"id":42,"name":"Track 1"}}`

// benchReceive measures the client's cost per received text message: a
// raw server streams b.N frames (prebuilt, written in 64 KiB batches) to
// one connection and the benchmark ends when the engine counted them all.
func benchReceive(b *testing.B, frame []byte, compression bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	start := make(chan int)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		ext := ""
		if compression {
			ext = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
		}
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: %s\r\n%s\r\n", acceptFor(req.Header.Get("Sec-WebSocket-Key")), ext)
		n := <-start
		per := max(1, (64<<10)/len(frame))
		batch := make([]byte, 0, per*len(frame))
		for range per {
			batch = append(batch, frame...)
		}
		for n > 0 {
			k := min(n, per)
			if _, err := c.Write(batch[:k*len(frame)]); err != nil {
				return
			}
			n -= k
		}
		_, _ = br.WriteTo(discard{})
	}()
	p, err := Dial(context.Background(), Config{
		URLs: []string{"ws://" + ln.Addr().String() + "/"}, Connections: 1, Compression: compression,
		Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(time.Second)
	if err := p.Wait(context.Background()); err != nil || p.Stats().Open != 1 {
		b.Fatalf("open: %v %+v", err, p.Stats())
	}
	b.ResetTimer()
	start <- b.N
	for p.Stats().Received < int64(b.N) {
		if s := p.Stats(); s.Open == 0 {
			b.Fatalf("connection ended: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
}

func BenchmarkReceiveText(b *testing.B) {
	benchReceive(b, serverFrame(true, 0x1, len(benchMessage), []byte(benchMessage)), false)
}

func BenchmarkReceiveTextCompressed(b *testing.B) {
	payload := compressMessage(b, []byte(benchMessage))
	frame := append([]byte{0x80 | 0x40 | 0x1, byte(len(payload))}, payload...)
	benchReceive(b, frame, true)
}
