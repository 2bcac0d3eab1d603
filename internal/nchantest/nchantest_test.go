package nchantest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// collector is a WebSocket subscriber's handler: every text message goes
// to the channel.
type collector struct {
	gws.BuiltinEventHandler
	got chan string
}

func (c *collector) OnMessage(_ *gws.Conn, m *gws.Message) {
	c.got <- m.Data.String()
	m.Close()
}

// TestSubscriberGetsWhatIsPublished: a WebSocket subscriber on /sub gets
// the body POSTed to /pub of its channel, and only messages published
// after it joined; /status counts both.
func TestSubscriberGetsWhatIsPublished(t *testing.T) {
	s := Start(t, Options{})
	ctx := context.Background()
	publish := func(channel, body string) {
		t.Helper()
		resp, err := http.Post(s.PubURL(channel), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("publish: %s", resp.Status)
		}
	}
	publish("a", `{"seq":0}`) // before anyone subscribed: not replayed

	c := &collector{got: make(chan string, 10)}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: s.SubURL("a")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.NetConn().Close()
	go conn.ReadLoop()
	s.WaitSubscribers(t, 1)

	publish("b", `{"seq":99}`) // another channel
	publish("a", `{"seq":1}`)
	select {
	case m := <-c.got:
		if m != `{"seq":1}` {
			t.Fatalf("subscriber got %q, want the body published after it joined", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the subscriber")
	}
	if n, err := s.Published(ctx); err != nil || n != 3 {
		t.Fatalf("status: total published %d (%v), want 3", n, err)
	}
}

func TestStopTwiceIsFine(t *testing.T) {
	s := Start(t, Options{WorkerConnections: 100})
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(s.StatusURL()); err == nil {
		t.Fatal("nginx still answers after Stop")
	}
}

func TestParseStatusOfNchan136(t *testing.T) {
	// nchan 1.3.6 prints "last message id" without a line break after it.
	text := "queued messages: 1\nlast requested: -1 sec. ago\nactive subscribers: 0\n" +
		"last message id: 1796667196:0total published messages: 7\nstored messages: 1\nsubscribers: 2\n"
	st, err := ParseStatus(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"total published messages": 7, "subscribers": 2, "queued messages": 1, "last requested": -1} {
		if st[name] != want {
			t.Errorf("%s = %d, want %d (all: %v)", name, st[name], want, st)
		}
	}
}

// FuzzParseStatus: whatever a server answers on /status, the parser
// returns numbers or an error, never panics.
func FuzzParseStatus(f *testing.F) {
	f.Add("last message id: 1796667196:0total published messages: 7\nsubscribers: 2\n")
	f.Add("subscribers: none\n: 3\nx:\n")
	f.Fuzz(func(t *testing.T, text string) {
		st, err := ParseStatus(strings.NewReader(text))
		if err == nil && st == nil {
			t.Fatal("nil map without an error")
		}
	})
}
