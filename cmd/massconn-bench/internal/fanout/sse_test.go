package fanout

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// A URL that answers anything but a 200 event stream fails the connect,
// saying what it got and what the bench wants.
func TestSSEConnectRefusesWhatIsNotAnEventStream(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		want        string
	}{
		{"html", http.StatusOK, "text/html", `Content-Type "text/html"; want 200 and text/event-stream`},
		{"not found", http.StatusNotFound, "text/plain", "answered 404 Not Found"},
		{"no content", http.StatusNoContent, "text/event-stream", "answered 204 No Content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Accept") != "text/event-stream" {
					t.Errorf("Accept %q", r.Header.Get("Accept"))
				}
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			f := &fleet{url: srv.URL + "/sse?topic=Track", sse: true, perSrc: 1}
			f.sources, _ = sources("127.0.0.2", 1, 1)
			defer f.closeAll()
			err := f.connect(context.Background(), 1, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// The bench ends its connections with a reset, so a run leaves no
// TIME_WAIT behind: with five targets of 18,000 connections in one run,
// the ports held in TIME_WAIT left none for the last target's floor.
func TestCloseAllLeavesNoTimeWait(t *testing.T) {
	// A server that answers with an event stream, then closes its end
	// when the client closes its own, as a server does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var served sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() {
				defer served.Done()
				defer c.Close()
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	f := &fleet{url: "http://" + ln.Addr().String() + "/sse", sse: true, perSrc: 3}
	f.sources, _ = sources("127.0.0.2", 3, 3)
	if err := f.connect(context.Background(), 3, 1); err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, c := range f.conns {
		ports = append(ports, fmt.Sprintf("%04X", c.LocalAddr().(*net.TCPAddr).Port))
	}
	f.closeAll()
	// Once the server has closed its ends too, a client socket closed
	// gracefully would sit in TIME_WAIT.
	served.Wait()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	// Fields: sl local_address rem_address st ...; 06 is TIME_WAIT.
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fs := strings.Fields(line)
		if len(fs) < 4 || fs[3] != "06" {
			continue
		}
		for _, p := range ports {
			if fs[1] == "0200007F:"+p {
				t.Errorf("client socket %s left in TIME_WAIT", fs[1])
			}
		}
	}
}
