package engine

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// TestWSS covers the success path and the tls failure reason of wss://
// with httptest's own certificate, on whichever engine serves this system
// (the event loops on Linux, see wss_linux_test.go; the gws client
// elsewhere).
func TestWSS(t *testing.T) {
	s := &gwsServer{closes: map[int]int{}}
	up := gws.NewUpgrader(&gwsHandler{s: s}, nil)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.Session().Store("path", "/echo")
		go c.ReadLoop()
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case makes it log handshake errors
	srv.StartTLS()
	t.Cleanup(srv.Close)
	url := "wss://" + strings.TrimPrefix(srv.URL, "https://") + "/echo"
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	t.Run("trusted", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{url}, Connections: 5, OnOpenSend: "hi", TLS: &tls.Config{RootCAs: roots},
			Latency: &LatencySpec{Field: "ts", Unit: time.Microsecond}, Heartbeat: Heartbeat{Every: 20 * time.Millisecond, Ping: true}})
		eventually(t, "echoes", func() bool { return p.Stats().Received == 5 })
		eventually(t, "pings", func() bool { return s.pingCount() >= 5 })
		if err := p.Close(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Open != 0 || st.Dropped != 0 {
			t.Fatalf("after close: %+v", st)
		}
		eventually(t, "server to see 1000", func() bool { return s.closeCodes()[1000] == 5 })
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{url}, Connections: 3})
		if st := p.Stats(); st.Failures[ReasonTLS] != 3 {
			t.Fatalf("failures %v", st.Failures)
		}
	})
}
