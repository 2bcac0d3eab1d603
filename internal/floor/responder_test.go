package floor

import (
	"bufio"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// The responder must look like a server to real clients: gws's client
// checks Sec-WebSocket-Accept, net/http reads the event-stream head.
func TestResponderAnswersRealClients(t *testing.T) {
	r, err := StartResponder("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "127.0.0.1:" + strconv.Itoa(r.Port())

	ws, _, err := gws.NewClient(&gws.BuiltinEventHandler{}, &gws.ClientOption{Addr: "ws://" + base + "/ws"})
	if err != nil {
		t.Fatalf("WebSocket upgrade refused by a real client: %v", err)
	}
	resp, err := http.Get("http://" + base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("SSE answer: %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The stream stays open and silent: a read must not end it.
	done := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(resp.Body).ReadByte()
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the event stream ended or sent a byte: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if got := r.Answered(); got != 2 {
		t.Errorf("Answered() = %d, want 2", got)
	}
	_ = ws.NetConn().Close()
	_ = resp.Body.Close()
	if err := <-done; err == nil {
		t.Error("the event stream read a byte after the client closed it")
	}
	cpu, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if cpu <= 0 {
		t.Errorf("the responder thread reported %v of CPU", cpu)
	}
	if _, err := r.Close(); err == nil {
		t.Error("a second Close returned no error")
	}
}

func TestStartResponderRefusesBadAddress(t *testing.T) {
	for _, addr := range []string{"localhost:0", "[::1]:0", "127.0.0.1"} {
		if _, err := StartResponder(addr); err == nil {
			t.Errorf("StartResponder(%q): no error", addr)
		}
	}
}

func TestMeasureConnectRateOpensEveryConnection(t *testing.T) {
	for _, sse := range []bool{false, true} {
		res, err := MeasureConnectRate(RateOptions{Conns: 300, InFlight: 50, SSE: sse,
			Sources: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
		if err != nil {
			t.Fatalf("sse=%v: %v", sse, err)
		}
		if res.Conns != 300 || res.ClientCPU <= 0 || res.ServerCPU <= 0 || res.PerSecond() <= 0 {
			t.Errorf("sse=%v: %+v", sse, res)
		}
	}
	if _, err := MeasureConnectRate(RateOptions{Conns: 0, InFlight: 1}); err == nil {
		t.Error("Conns 0: no error")
	}
}
