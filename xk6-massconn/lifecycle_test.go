package massconn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/sirupsen/logrus"
	"go.k6.io/k6/cmd/state"
	"go.k6.io/k6/js/common"
	"go.k6.io/k6/js/modulestest"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"

	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// pushServer is a real gws server that sends n text messages to every
// client 200 ms after the upgrade: after connect() has returned and pushed
// its first flush, well before the next 1 s flush.
type pushServer struct {
	gws.BuiltinEventHandler
	n int
}

func (s *pushServer) OnOpen(c *gws.Conn) {
	time.AfterFunc(200*time.Millisecond, func() {
		for range s.n {
			_ = c.WriteString(`{"ts":1}`)
		}
	})
}

func startPushServer(t *testing.T, n int) string {
	up := gws.NewUpgrader(&pushServer{n: n}, &gws.ServerOption{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	}))
	t.Cleanup(srv.Close)
	return "ws://" + srv.Listener.Addr().String() + "/"
}

// The binding in-process under k6's modulestest: the iteration's context
// is cancelled (the iteration ends or is cut) without pool.close(); the
// pool's last flush must still arrive with every message counted.
func TestLastFlushAfterTheIterationContextIsCancelled(t *testing.T) {
	url := startPushServer(t, 5)
	rt, samples := vuRuntime(t, common.Events{})
	run(t, rt, `var pool = massconn.connect({urls: ['`+url+`'], connections: 2})`)
	waitReceived(t, rt, 10)
	rt.CancelContext()

	var received, sessions float64
	sawOpenZero := false
	timeout := time.After(30 * time.Second)
	for !(received == 10 && sawOpenZero) {
		select {
		case sc := <-samples:
			for _, s := range sc.GetSamples() {
				switch s.Metric.Name {
				case "ws_msgs_received":
					received += s.Value
				case "ws_sessions":
					sessions += s.Value
				case openMetric:
					sawOpenZero = s.Value == 0
				}
			}
		case <-timeout:
			t.Fatalf("ws_msgs_received samples add up to %v, want 10; last flush seen (open gauge 0): %v", received, sawOpenZero)
		}
	}
	if sessions != 2 {
		t.Fatalf("ws_sessions = %v, want 2", sessions)
	}
}

// vuRuntime is the binding in-process under k6's modulestest: the module
// instance is created in the init context (subscribing to events.Global
// when set, as k6 passes it), exposed as the global massconn, and the
// runtime moved to a VU context whose samples go to the returned channel.
func vuRuntime(t *testing.T, events common.Events) (*modulestest.Runtime, chan metrics.SampleContainer) {
	t.Helper()
	rt := modulestest.NewRuntime(t)
	rt.VU.EventsField = events
	mi := New().NewModuleInstance(rt.VU)
	if err := rt.VU.Runtime().Set("massconn", mi.Exports().Default); err != nil {
		t.Fatal(err)
	}
	registry := rt.VU.InitEnvField.Registry
	samples := make(chan metrics.SampleContainer, 1000)
	rt.MoveToVUContext(&lib.State{
		Options:        lib.Options{},
		BuiltinMetrics: rt.BuiltinMetrics,
		Samples:        samples,
		Tags:           lib.NewVUStateTags(registry.RootTagSet()),
		Logger:         logrus.New(),
		VUIDGlobal:     1,
	})
	return rt, samples
}

// run runs script in the VU and fails the test if it throws.
func run(t *testing.T, rt *modulestest.Runtime, script string) {
	t.Helper()
	if _, err := rt.RunOnEventLoop(script); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
}

// waitReceived waits until pool.stats().received reaches n.
func waitReceived(t *testing.T, rt *modulestest.Runtime, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := rt.VU.Runtime().RunString(`pool.stats().received`)
		if err != nil {
			t.Fatal(err)
		}
		if v.ToInteger() == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d messages", v.ToInteger(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flushTotals is what a run of samples adds up to.
type flushTotals struct {
	received, sessions float64
	open               []float64 // every massconn_open value, in order
	containers         int
}

// drainSamples takes every sample container already in the channel.
func drainSamples(samples chan metrics.SampleContainer) flushTotals {
	var f flushTotals
	for {
		select {
		case sc := <-samples:
			f.containers++
			for _, s := range sc.GetSamples() {
				switch s.Metric.Name {
				case "ws_msgs_received":
					f.received += s.Value
				case "ws_sessions":
					f.sessions += s.Value
				case openMetric:
					f.open = append(f.open, s.Value)
				}
			}
		default:
			return f
		}
	}
}

// pool.close() from the script: it returns after the last flush has been
// sent (every message counted, the open gauge at 0), the pool reports no
// open connection, and nothing is sent after it, however often the script
// closes or holds the pool again.
func TestCloseSendsTheLastFlushBeforeReturning(t *testing.T) {
	url := startPushServer(t, 5)
	rt, samples := vuRuntime(t, common.Events{})
	run(t, rt, `var pool = massconn.connect({urls: ['`+url+`'], connections: 2})`)
	waitReceived(t, rt, 10)
	run(t, rt, `pool.close('1s')`)

	got := drainSamples(samples)
	if got.received != 10 || got.sessions != 2 {
		t.Fatalf("samples up to close(): ws_msgs_received %v, ws_sessions %v; want 10 and 2", got.received, got.sessions)
	}
	if n := len(got.open); n == 0 || got.open[n-1] != 0 {
		t.Fatalf("massconn_open samples up to close() %v: want the last one 0", got.open)
	}
	v, err := rt.VU.Runtime().RunString(`pool.stats().open`)
	if err != nil || v.ToInteger() != 0 {
		t.Fatalf("pool.stats().open after close() = %v (%v), want 0", v, err)
	}

	run(t, rt, `pool.close(); pool.hold('10ms'); pool.close('0s')`)
	if after := drainSamples(samples); after.containers != 0 {
		t.Fatalf("%d sample containers sent after the last flush: %+v", after.containers, after)
	}
}

// rawHoldServer upgrades every connection, sends n text frames and then
// reads and discards until the client goes, never answering a close
// frame: a client's close waits out its whole grace period.
func rawHoldServer(t *testing.T, n int) string {
	t.Helper()
	return testpeer.RawServer(t, func(c net.Conn) { serveRawHold(c, n) })
}

func serveRawHold(c net.Conn, n int) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	accept := wsproto.AcceptKey([]byte(req.Header.Get("Sec-WebSocket-Key")))
	out := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + accept + "\r\n\r\n")
	const msg = `{"ts":1}`
	for range n {
		out = append(append(out, 0x81, byte(len(msg))), msg...)
	}
	if _, err := c.Write(out); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, br)
}

// k6's TestEnd event waits for the last flush of a pool that is still
// closing when the test ends: the iteration's context is cancelled, the
// pool starts its close (which takes the 2 s grace: the server never
// answers), and k6 emits TestEnd right away. When every subscriber is done
// the last flush must already be in the sample channel, because k6 closes
// that channel next; the channel is closed here the same way, so a late
// send would panic the test.
func TestTestEndWaitsForTheLastFlush(t *testing.T) {
	url := rawHoldServer(t, 5)
	gs := state.NewGlobalState(context.Background())
	t.Cleanup(gs.Events.UnsubscribeAll) // ends the binding's subscription, as k6 does at exit
	rt, samples := vuRuntime(t, common.Events{Global: gs.Events})
	run(t, rt, `var pool = massconn.connect({urls: ['`+url+`'], connections: 2})`)
	waitReceived(t, rt, 10)
	rt.CancelContext()

	waitForSubscribers := emitTestEnd(t, gs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitForSubscribers(ctx); err != nil {
		t.Fatalf("TestEnd: %v", err)
	}
	got := drainSamples(samples)
	close(samples)
	if got.received != 10 || got.sessions != 2 {
		t.Fatalf("samples when TestEnd was handled: ws_msgs_received %v, ws_sessions %v; want 10 and 2", got.received, got.sessions)
	}
	if n := len(got.open); n == 0 || got.open[n-1] != 0 {
		t.Fatalf("massconn_open samples when TestEnd was handled %v: want the last one 0 (the last flush)", got.open)
	}
}

// emitTestEnd emits k6's TestEnd on the global event system and returns
// the function that waits for its subscribers. The event types live in
// k6's internal/event, which extensions cannot import, so the event is
// built by reflection from Emit's parameter type, with the number the
// binding subscribes to (testEndEvent).
func emitTestEnd(t *testing.T, gs *state.GlobalState) func(context.Context) error {
	t.Helper()
	emit := reflect.ValueOf(gs.Events).MethodByName("Emit")
	evt := reflect.New(emit.Type().In(0).Elem())
	typ := evt.Elem().FieldByName("Type")
	typ.SetUint(testEndEvent)
	if name := typ.Interface().(fmt.Stringer).String(); name != testEndEventName {
		t.Fatalf("k6's event %d is %q, not %q: update testEndEvent in final.go", testEndEvent, name, testEndEventName)
	}
	wait, ok := emit.Call([]reflect.Value{evt})[0].Interface().(func(context.Context) error)
	if !ok {
		t.Fatalf("Emit returns %v, not a wait function", emit.Type().Out(0))
	}
	return wait
}
