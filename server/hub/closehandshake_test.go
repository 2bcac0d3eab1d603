package hub

import (
	"testing"
	"time"

	"github.com/massconn/massconn/server/internal/wstest"
)

// A client behind a backlog still gets its close frame when it has sent
// the server something the server has not read: typically the pong to a
// ping queued ahead of the close, read by the client while the close
// frame still waits in the server's socket buffer. A socket closed with
// unread bytes, or one that receives bytes after it was closed, is reset
// by the kernel, and a reset throws away what the socket still had to
// send: the rest of the backlog and the close frame (the client saw
// 1006 instead of 1001 at a shutdown under load).
func TestCloseFrameSurvivesBytesTheServerHasNotRead(t *testing.T) {
	pong := wstest.MaskedFrame(true, 0xA, nil)
	for _, tc := range []struct {
		name string
		// before: the client's pong waits unread when the server
		// closes; else the client sends it once the server has closed.
		before bool
	}{
		{"pong unread when the server closes", true},
		{"pong sent after the server closed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, sub, raw := stalledSubscriberReading(t, 200, false)
			if tc.before {
				if _, err := raw.Write(pong); err != nil {
					t.Fatal(err)
				}
				for !sub.hasUnread() {
					time.Sleep(time.Millisecond)
				}
			}
			closed := make(chan struct{})
			go func() {
				sub.Close(1001, "bye", wstest.Timeout)
				close(closed)
			}()
			if !tc.before {
				// Read a little, so that the frame in progress and the
				// close frame are handed to the kernel, while most of
				// the backlog still waits in the server's socket.
				_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
				var got int
				for got < 2<<20 {
					f, err := raw.ReadFrame()
					if err != nil {
						t.Fatalf("after %d bytes: %v", got, err)
					}
					got += len(f.Payload)
					select {
					case <-closed:
						got = 2 << 20
					default:
					}
				}
				<-closed
				if _, err := raw.Write(pong); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond) // let the pong reach the server
			}
			code, err := raw.ReadUntilClose()
			if err != nil || code != 1001 {
				t.Fatalf("client got close code %d (0: the connection ended without one), %v; want 1001", code, err)
			}
			<-closed
			_ = h
		})
	}
}

// At a shutdown the clients read what their sockets still hold after the
// close frame went out, and answer the pings in it, for as long as the
// shutdown allows, not just the close write's own bound: a pong arriving
// once the socket was closed resets it and loses the close frame.
func TestShutdownKeepsTheSocketReadableUntilItsDeadline(t *testing.T) {
	h, sub, raw := stalledSubscriberReading(t, 200, false)
	const closeWrite = 100 * time.Millisecond
	done := make(chan struct{})
	go func() {
		now := time.Now()
		h.CloseAll(1001, "bye", now, now.Add(wstest.Timeout), closeWrite)
		close(done)
	}()
	// Read until the close frame is in the server's socket, megabytes of
	// the backlog still ahead of it.
	_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
	for !sub.q.closeWrittenWhole() {
		f, err := raw.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Opcode == 0x8 {
			t.Fatal("the client read the close frame before the server had written it")
		}
	}
	<-done
	time.Sleep(3 * closeWrite) // past the close write's bound, well before the deadline
	if _, err := raw.Write(wstest.MaskedFrame(true, 0xA, nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // let the pong reach the server
	code, err := raw.ReadUntilClose()
	if err != nil || code != 1001 {
		t.Fatalf("client got close code %d (0: the connection ended without one), %v; want 1001", code, err)
	}
}
