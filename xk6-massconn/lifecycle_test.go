package massconn

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/sirupsen/logrus"
	"go.k6.io/k6/js/modulestest"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"
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
	rt := modulestest.NewRuntime(t)
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
	if _, err := rt.RunOnEventLoop(`var pool = massconn.connect({urls: ['` + url + `'], connections: 2})`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := rt.VU.Runtime().RunString(`pool.stats().received`)
		if err != nil {
			t.Fatal(err)
		}
		if v.ToInteger() == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d of 10 messages", v.ToInteger())
		}
		time.Sleep(10 * time.Millisecond)
	}
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
