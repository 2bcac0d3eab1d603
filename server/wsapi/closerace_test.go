package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/server/hub"
	"github.com/massconn/massconn/server/internal/wstest"
)

// raceMessage is a published message whose frame is big enough that a
// full socket takes only part of it.
func raceMessage(pos int64) []byte {
	return []byte(fmt.Sprintf(`{"topic":"Track","id":%d,"row":{"c":%q}}`, pos, strings.Repeat("x", 3000+int(pos%7)*2500)))
}

// readWholeFramesUntilClose reads frames until a close frame and checks
// that every frame before it is a whole message the server published (a
// text frame holding one JSON object) or a ping; it returns the close code.
func readWholeFramesUntilClose(raw *wstest.RawConn) (uint16, error) {
	_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
	var lastID int64
	for i := 0; ; i++ {
		f, err := raw.ReadFrame()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("frame %d: the connection ended inside it (its length was wrong, or the server's close frame was written into it): %w", i, err)
		}
		if err != nil {
			return 0, fmt.Errorf("frame %d: %w", i, err)
		}
		switch f.Opcode {
		case 0x8:
			return f.CloseCode(), nil
		case 0x9:
		case 0x1:
			var m struct {
				Topic string `json:"topic"`
				ID    int64  `json:"id"`
			}
			if !f.Fin || json.Unmarshal(f.Payload, &m) != nil || m.Topic != "Track" {
				return 0, fmt.Errorf("frame %d is not a whole message (fin %v, %d bytes): %.80q", i, f.Fin, len(f.Payload), f.Payload)
			}
			if m.ID <= lastID {
				return 0, fmt.Errorf("frame %d is message %d after message %d", i, m.ID, lastID)
			}
			lastID = m.ID
		default:
			return 0, fmt.Errorf("frame %d has opcode %#x (fin %v, %d bytes): the stream is corrupt", i, f.Opcode, f.Fin, len(f.Payload))
		}
	}
}

// gws closes a connection itself when a read fails (a text frame with
// invalid UTF-8 from the client gets close 1007, a frame over ReadLimit
// 1009, an unmasked one 1002) and echoes a client's close frame. That
// close frame must go after the data frame being written to the client,
// never inside it, also while the socket is full and the server's writes
// to it end part-way.
// Unchanged, gws wrote it to the socket itself and most runs had a client
// or two read a corrupt stream; several rounds make a pass by luck
// unlikely.
func TestCloseFromGwsWaitsForTheFrameInProgress(t *testing.T) {
	_, h, addr := startListenerConfig(t, Config{}, net.ListenConfig{Control: wstest.SmallSendBuffer})
	for round := range 4 {
		for _, err := range breakProtocolWhileWritten(t, h, addr, 24) {
			t.Errorf("round %d: %v", round, err)
		}
		if t.Failed() {
			return
		}
	}
}

// breakProtocolWhileWritten connects clients, streams messages to them
// and has each send an invalid frame part-way through; it returns what
// each client read wrong.
func breakProtocolWhileWritten(t *testing.T, h *hub.Hub, addr string, clients int) []error {
	var raws []*wstest.RawConn
	for range clients {
		raws = append(raws, wstest.RawHandshake(t, addr, "/ws?topic=Track", &net.Dialer{Control: wstest.SmallReceiveBuffer}))
	}
	waitSubscribers(t, h, int64(clients))

	// Publish one message at a time, the next once every queue is
	// written: each starts with the shared writers' non-blocking writes,
	// which the small socket buffers take only part of, and the clients'
	// invalid frames arrive while those writes go on.
	ctx, stop := context.WithCancel(context.Background())
	var published sync.WaitGroup
	published.Go(func() {
		for pos := int64(1); pos <= 100000 && ctx.Err() == nil; pos++ {
			h.Publish("Track", pos, raceMessage(pos))
			for h.Stats().Backlog > 0 && ctx.Err() == nil {
				runtime.Gosched()
			}
		}
	})
	defer published.Wait()
	defer stop()

	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for k, raw := range raws {
		wg.Go(func() {
			if err := readThenBreakProtocol(raw, 20+k*3, protocolBreaks[k%len(protocolBreaks)]); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("client %d: %w", k, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	stop()
	published.Wait()
	waitSubscribers(t, h, 0)
	return errs
}

// protocolBreak is a frame a client sends that makes gws close the
// connection, and the close code it must get.
type protocolBreak struct {
	name  string
	frame []byte
	code  uint16
}

var protocolBreaks = []protocolBreak{
	{"invalid UTF-8", wstest.MaskedFrame(true, 0x1, []byte{0xff, 0xfe}), 1007},
	{"a close frame", wstest.MaskedFrame(true, 0x8, []byte{0x03, 0xe8}), 1000}, // gws echoes 1000
	// A header announcing more than ReadLimit (64 KiB): gws refuses it
	// before reading the payload.
	{"too big", []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 2, 0, 0, 1, 2, 3, 4}, 1009},
	{"unmasked", []byte{0x81, 0x02, 'h', 'i'}, 1002},
}

// readThenBreakProtocol reads n frames, sends brk's frame, then reads
// whole frames until the close frame, which must carry brk's code and end
// the connection.
func readThenBreakProtocol(raw *wstest.RawConn, n int, brk protocolBreak) error {
	_ = raw.SetReadDeadline(time.Now().Add(wstest.Timeout))
	for i := range n {
		if _, err := raw.ReadFrame(); err != nil {
			return fmt.Errorf("frame %d, before sending %s: %w", i, brk.name, err)
		}
	}
	if _, err := raw.Write(brk.frame); err != nil {
		return fmt.Errorf("write %s: %w", brk.name, err)
	}
	code, err := readWholeFramesUntilClose(raw)
	if err != nil {
		return fmt.Errorf("after sending %s: %w", brk.name, err)
	}
	if code != brk.code {
		return fmt.Errorf("after sending %s: close code %d, want %d", brk.name, code, brk.code)
	}
	if f, err := raw.ReadFrame(); err == nil {
		return fmt.Errorf("after sending %s: a frame (opcode %#x, %d bytes) after the close frame", brk.name, f.Opcode, len(f.Payload))
	}
	return nil
}
