package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/goleak"

	"github.com/massconn/massconn/internal/nchantest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// subscriber collects the text messages of one WebSocket connection.
type subscriber struct {
	gws.BuiltinEventHandler
	got chan []byte
}

func (s *subscriber) OnMessage(_ *gws.Conn, m *gws.Message) {
	s.got <- append([]byte(nil), m.Bytes()...)
	m.Close()
}

// TestHTTPPublisherReachesNchanSubscribers: every message the loop records
// as published reaches a WebSocket subscriber of nginx+nchan carrying the
// recorded sequence number and its send time.
func TestHTTPPublisherReachesNchanSubscribers(t *testing.T) {
	srv := nchantest.Start(t, nchantest.Options{})
	sub := &subscriber{got: make(chan []byte, 100)}
	conn, _, err := gws.NewClient(sub, &gws.ClientOption{Addr: srv.SubURL("news")})
	if err != nil {
		t.Fatal(err)
	}
	go conn.ReadLoop()
	defer conn.NetConn().Close()
	srv.WaitSubscribers(t, 1)

	p, err := Config{URL: srv.PubURL("news"), Every: 10 * time.Millisecond, Count: 5}.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	loop := &Loop{Publisher: p, Every: 10 * time.Millisecond, Count: 5}
	loop.Run(context.Background())
	rec := loop.Record()
	if len(rec.Failures) != 0 || len(rec.Published) != 5 {
		t.Fatalf("record: %+v", rec)
	}
	for i, st := range rec.Published {
		var m struct{ Seq, Ts int64 }
		select {
		case b := <-sub.got:
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("message %q: %v", b, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d did not arrive", i+1)
		}
		if m.Seq != st.Seq || m.Seq != int64(i+1) || m.Ts != st.SentUS {
			t.Errorf("message %d is %+v, recorded as %+v", i+1, m, st)
		}
	}
	if rec.Target != "POST "+srv.PubURL("news") {
		t.Errorf("target %q", rec.Target)
	}
}

// TestRefusedPublishesAreCountedWithTheirReason: a URL the target answers
// with 404 gives one failure per attempt, each with the status, and a
// summary naming them: nothing is skipped.
func TestRefusedPublishesAreCountedWithTheirReason(t *testing.T) {
	srv := nchantest.Start(t, nchantest.Options{})
	url := "http://" + srv.Addr + "/no-such-location"
	p, err := Config{URL: url, Every: time.Millisecond}.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var log strings.Builder
	loop := &Loop{Publisher: p, Every: time.Millisecond, Count: 3, Log: &log}
	loop.Run(context.Background())
	rec := loop.Record()
	if len(rec.Published) != 0 || len(rec.Failures) != 3 {
		t.Fatalf("record: %+v", rec)
	}
	for i, f := range rec.Failures {
		if f.Attempt != int64(i+1) || !strings.Contains(f.Error, "404 Not Found") || !strings.Contains(f.Error, url) {
			t.Errorf("failure %d: %+v", i, f)
		}
	}
	if s := rec.Summary(); !strings.HasPrefix(s, "3 of 3 publishes to POST "+url+" failed: 3× ") || !strings.Contains(s, "404") {
		t.Errorf("summary %q", s)
	}
	if strings.Count(log.String(), "failed") != 3 {
		t.Errorf("log %q", log.String())
	}
	path := filepath.Join(t.TempDir(), File)
	if err := rec.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil || len(back.Failures) != 3 {
		t.Fatalf("read back %+v, %v", back, err)
	}
}

// TestMethodHeadersAndBody: the method, headers and rendered placeholders
// are what the target receives.
func TestMethodHeadersAndBody(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var bodies []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer ts.Close()
	p, err := Config{
		URL: ts.URL + "/api/publish", Method: "PUT", Every: time.Second,
		Body:    `{"n":{{seq}},"ms":{{now_ms}},"at":"{{now_iso}}"}`,
		Headers: []string{"X-API-Key: secret", "Content-Type: text/plain"},
	}.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	now := time.Date(2026, 12, 7, 18, 30, 1, 234567000, time.UTC)
	if seq, err := p.Publish(context.Background(), 7, now); err != nil || seq != 7 {
		t.Fatalf("publish: %d, %v", seq, err)
	}
	mu.Lock()
	defer mu.Unlock()
	r := got[0]
	if r.Method != "PUT" || r.URL.Path != "/api/publish" || r.Header.Get("X-API-Key") != "secret" || r.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("request %s %s %v", r.Method, r.URL, r.Header)
	}
	if want := fmt.Sprintf(`{"n":7,"ms":%d,"at":"2026-12-07T18:30:01.234567Z"}`, now.UnixMilli()); bodies[0] != want {
		t.Errorf("body %s, want %s", bodies[0], want)
	}
}

// TestBadConfigurationNamesTheFlag: each mistake is refused at start with
// one line naming the flag to fix.
func TestBadConfigurationNamesTheFlag(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:1/pub", Every: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ws scheme", func(c *Config) { c.URL = "ws://127.0.0.1/pub" }, "--publish-url"},
		{"no host", func(c *Config) { c.URL = "http:///pub" }, "--publish-url"},
		{"header without colon", func(c *Config) { c.Headers = []string{"Authorization Bearer x"} }, "--publish-header"},
		{"unknown placeholder", func(c *Config) { c.Body = `{"n":{{sequence}}}` }, "--publish-body"},
		{"unclosed placeholder", func(c *Config) { c.Body = `{"n":{{seq}` }, "--publish-body"},
		{"method", func(c *Config) { c.Method = "post it" }, "--publish-method"},
		{"interval", func(c *Config) { c.Every = 0 }, "--publish-every"},
		{"count", func(c *Config) { c.Count = -1 }, "--publish-count"},
		{"both publishers", func(c *Config) { c.InsertSQL = "INSERT INTO t DEFAULT VALUES RETURNING id" }, "--publish-url and --insert-sql"},
		{"sql without database", func(c *Config) { c.URL, c.InsertSQL = "", "INSERT INTO t DEFAULT VALUES RETURNING id" }, "--database-url"},
		{"none", func(c *Config) { c.URL = "" }, "--publish-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			p, err := c.New(context.Background())
			if err == nil {
				p.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q does not name %s on one line", err, tc.want)
			}
		})
	}
}
