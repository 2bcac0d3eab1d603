//go:build linux

package engine

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// sseServer serves handler on a loopback httptest server and closes it
// (and every stream it still holds) when the test ends.
func sseServer(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// streamUntilGone writes head events then holds the stream open until the
// client or the server goes away.
func streamUntilGone(events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for _, e := range events {
			fmt.Fprint(w, e)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

func TestSSERefusals(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
		cfg     func(*Config)
		reason  string
	}{
		{"text/html", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html></html>")
		}, nil, ReasonContentType},
		{"204", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, nil, "http_204"},
		{"500", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "broken", http.StatusInternalServerError)
		}, nil, "http_500"},
		{"an event over maxMessageSize", streamUntilGone("data: " + strings.Repeat("x", 100) + "\n\n"),
			func(c *Config) { c.MaxMessageSize = 50 }, ReasonProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := sseServer(t, tc.handler)
			cfg := Config{URLs: []string{srv.URL + "/events"}, Connections: 3}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			p := dial(t, cfg)
			eventually(t, "every connection to fail with "+tc.reason, func() bool {
				return p.Stats().Failures[tc.reason] == 3
			})
			if st := p.Stats(); st.Received != 0 || len(st.Failures) != 1 {
				t.Fatalf("stats %+v, want 3 %s failures and nothing else", st, tc.reason)
			}
		})
	}
}

// A 204 stops a reconnecting stream, as it stops a browser's EventSource.
func TestSSE204StopsReconnects(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		first := requests == 1
		mu.Unlock()
		if !first {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\ndata: one\n\n") // then the stream ends: a drop, and a reconnect after 10 ms
	})
	p := dial(t, Config{URLs: []string{srv.URL}, Connections: 1, Reconnect: true})
	eventually(t, "the reconnect to be refused with 204", func() bool { return p.Stats().Failures["http_204"] == 1 })
	time.Sleep(200 * time.Millisecond) // twenty retry periods: none may come
	mu.Lock()
	defer mu.Unlock()
	if requests != 2 {
		t.Fatalf("%d requests, want 2: the 204 must stop reconnecting", requests)
	}
	if st := p.Stats(); st.Received != 1 || st.Dropped != 1 {
		t.Fatalf("stats %+v, want one event and one drop", st)
	}
}

func TestSSEIdleTimeout(t *testing.T) {
	srv := sseServer(t, streamUntilGone(": hello\n\n"))
	p := dial(t, Config{URLs: []string{srv.URL}, Connections: 2, IdleTimeout: 300 * time.Millisecond})
	var sum SSEReport
	eventually(t, "both silent streams to be dropped as idle", func() bool {
		r := p.Drain()
		sum.Comments += r.SSE.Comments
		sum.SilenceCount += r.SSE.SilenceCount
		sum.SilenceMax = max(sum.SilenceMax, r.SSE.SilenceMax)
		sum.Silences = append(sum.Silences, r.SSE.Silences...)
		for k, v := range r.SSE.Drops {
			if sum.Drops == nil {
				sum.Drops = map[string]int64{}
			}
			sum.Drops[k] += v
		}
		return sum.Drops[DropIdle] == 2
	})
	if st := p.Stats(); st.Dropped != 2 || st.Open != 0 || st.Received != 0 {
		t.Fatalf("stats %+v, want 2 drops and no message (a comment is not one)", st)
	}
	if sum.Comments != 2 || sum.SilenceCount != 2 || len(sum.Silences) != 2 {
		t.Fatalf("report %+v, want 2 comments and 2 silences", sum)
	}
	// The silence that ended each stream is at least the idle timeout.
	for _, s := range sum.Silences {
		if s < 300*time.Millisecond {
			t.Fatalf("silence %v shorter than the idle timeout that ended it", s)
		}
	}
}

func TestSSEEventsFilterLatencyAndComments(t *testing.T) {
	now := time.Now().UnixMilli()
	srv := sseServer(t, streamUntilGone(
		"\uFEFF: keep-alive\r\n",
		fmt.Sprintf("data: {\"ts\":%d}\r\n\r\n", now),
		fmt.Sprintf("event: tick\ndata: {\"ts\":%d,\n", now), "data: \"x\":1}\n\n",
		"event: other\ndata: {}\n\n",
	))
	p := dial(t, Config{
		URLs: []string{srv.URL}, Connections: 4,
		SSE:     &SSE{Events: []string{"message", "tick"}},
		Latency: &LatencySpec{Path: "ts", Unit: time.Millisecond},
	})
	eventually(t, "two events per stream", func() bool { return p.Stats().Received == 8 })
	time.Sleep(100 * time.Millisecond) // the 'other' events, if counted, would show now
	r := p.Drain()
	if r.Received != 8 || r.LatencyCount != 8 || r.SSE.Comments != 4 || r.Opened != 4 {
		t.Fatalf("report %+v, want 8 messages measured, 4 comments, 4 opened", r)
	}
}

func TestSSEValidation(t *testing.T) {
	cases := map[string]Config{
		"URLs":          {URLs: []string{"http://127.0.0.1:1/", "ws://127.0.0.1:1/"}, Connections: 1},
		"Heartbeat":     {URLs: []string{"http://127.0.0.1:1/"}, Connections: 1, Heartbeat: Heartbeat{Every: time.Second, Ping: true}},
		"Steps[0].Text": {URLs: []string{"http://127.0.0.1:1/"}, Connections: 1, Steps: []program.Step{send("hi")}},
		"SSE":           {URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1, SSE: &SSE{}},
		"IdleTimeout":   {URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1, IdleTimeout: time.Second},
		"SSE.Events[0]": {URLs: []string{"http://127.0.0.1:1/"}, Connections: 1, SSE: &SSE{Events: []string{""}}},
		"URLs[0]":       {URLs: []string{"http://127.0.0.1:1/"}, Connections: 1, Header: http.Header{"Accept": {"x"}}},
		"OnOpenSend":    {URLs: []string{"http://127.0.0.1:1/"}, Connections: 1, OnOpenSend: "x"},
		"Compression":   {URLs: []string{"https://127.0.0.1:1/"}, Connections: 1, Compression: true},
	}
	for field, cfg := range cases {
		errs := FieldErrors(cfg.Validate())
		if len(errs) != 1 || errs[0].Field != field {
			t.Errorf("%s: got %v, want one error on %s", field, errs, field)
		}
	}
}

// https:// runs on the TLS record layer of wss://, with TLS 1.3 and 1.2,
// and a chunked body (net/http chunks a streamed response).
func TestSSEOverTLS(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(streamUntilGone(": hi\n\n", "data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n"))
			srv.TLS = &tls.Config{MinVersion: version, MaxVersion: version}
			srv.StartTLS()
			t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			p := dial(t, Config{
				URLs: []string{srv.URL + "/events"}, Connections: 5,
				TLS:      &tls.Config{RootCAs: roots},
				Sequence: &SequenceSpec{Path: "n"},
			})
			eventually(t, "two events per stream", func() bool { return p.Stats().Received == 10 })
			seq, _ := p.Sequence()
			if st := p.Stats(); st.Open != 5 || st.Failed != 0 || seq.Gaps != 0 || seq.Last[2] != 5 {
				t.Fatalf("stats %+v, sequence %+v", st, seq)
			}
		})
	}
}

// Programs run on EventSource connections: an expect step takes an event
// (without a send before it there is no round trip to measure),
// and a close step ends the stream (no close handshake: the socket is let
// go), after which nothing more is counted.
func TestSSEStepsExpectAndClose(t *testing.T) {
	srv := sseServer(t, streamUntilGone("data: ready\n\n"))
	p := dial(t, Config{
		URLs: []string{srv.URL}, Connections: 4,
		Steps: []program.Step{expect("ready", false), {Kind: program.Close, Code: 1000}},
	})
	eventually(t, "every stream to close itself after its expect", func() bool {
		st := p.Stats()
		return st.Received == 4 && st.Open == 0
	})
	if st := p.Stats(); st.Dropped != 0 || st.Failed != 0 || st.Received != 4 {
		t.Fatalf("stats %+v: want 4 messages taken by expect, no drop, no failure", st)
	}
}

// lifetime churns EventSource connections: each stream lets go of its
// socket at the end of its lifetime and its slot reopens.
func TestSSELifetimeChurns(t *testing.T) {
	srv := sseServer(t, streamUntilGone("data: hello\n\n"))
	p := dial(t, Config{URLs: []string{srv.URL}, Connections: 3, Lifetime: Lifetime{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond}})
	eventually(t, "sessions to close themselves and reopen", func() bool {
		st := p.Stats()
		return st.Churn >= 6 && st.Received >= 9
	})
	if st := p.Stats(); st.Dropped != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v: churn is neither a drop nor a failure", st)
	}
}

// Per-connection variables in the URL and the headers reach each
// EventSource request, as they reach each upgrade.
func TestSSEPerConnectionRequest(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+r.Header.Get("Accept")] = true
		mu.Unlock()
		streamUntilGone()(w, r)
	})
	data, err := template.NewData([]any{map[string]any{"token": "a"}, map[string]any{"token": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	p := dial(t, Config{
		URLs: []string{srv.URL + "/sub?id={{conn}}"}, Connections: 2, Data: data,
		Header: http.Header{"Authorization": {"Bearer {{data.token}}"}},
	})
	if st := p.Stats(); st.Open != 2 {
		t.Fatalf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"/sub?id=0 Bearer a text/event-stream", "/sub?id=1 Bearer b text/event-stream"} {
		if !seen[want] {
			t.Errorf("no request %q among %v", want, seen)
		}
	}
}
