package engine

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
)

// Waits below only let the servers' keep-alive deadlines pass (a client that
// does not answer pings, or sends no heartbeat, is closed by then and counted
// as a drop); no test asserts how long anything took.

func TestSocketIO(t *testing.T) {
	peer := startProtoPeer(t, "socketio")
	url := peer.url("ws", "/socket.io/")
	eachEngine(t, func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			opts    protocol.SocketIOOptions
			perPub  int64
			latency bool
		}{
			{"events tick", protocol.SocketIOOptions{Events: []string{"tick"}}, 1, true},
			{"every event", protocol.SocketIOOptions{}, 2, false},
			{"namespace with auth", protocol.SocketIOOptions{Namespace: "/feed", Auth: json.RawMessage(`{"token":"good"}`), Events: []string{"tick"}}, 1, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				const conns, pubs = 40, 25
				a, err := protocol.NewSocketIO(tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				p := dial(t, Config{URLs: []string{url}, Connections: conns, Protocol: a,
					Latency: &LatencySpec{Path: "ts", Unit: time.Millisecond}})
				peer.waitCount(t, conns)
				time.Sleep(2500 * time.Millisecond) // past pingInterval+pingTimeout, twice
				peer.publish(t, pubs)
				latencies := measured(t, p, conns*pubs*tc.perPub)
				s := p.Stats()
				if s.Received != conns*pubs*tc.perPub || s.Dropped != 0 || s.Failed != 0 || s.Open != conns {
					t.Fatalf("stats %+v", s)
				}
				// "noise" events carry no ts: only ticks are measured.
				if latencies != conns*pubs {
					t.Fatalf("measured %d latencies, want %d", latencies, conns*pubs)
				}
				if err := p.Close(5 * time.Second); err != nil {
					t.Fatal(err)
				}
				peer.waitCount(t, 0)
			})
		}
		t.Run("connect_error", func(t *testing.T) {
			a, err := protocol.NewSocketIO(protocol.SocketIOOptions{Auth: json.RawMessage(`{"token":"bad"}`)})
			if err != nil {
				t.Fatal(err)
			}
			p := dial(t, Config{URLs: []string{url}, Connections: 5, Protocol: a})
			eventually(t, "rejections", func() bool { return p.Stats().Failures[ReasonRejected] == 5 })
			if s := p.Stats(); s.Rejections["socketio_connect_error"] != 5 || s.Dropped != 0 || s.Open != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	})
}

func TestGraphQLWS(t *testing.T) {
	peer := startProtoPeer(t, "graphql")
	url := peer.url("ws", "/graphql")
	eachEngine(t, func(t *testing.T) {
		t.Run("subscription", func(t *testing.T) {
			const conns, pubs = 40, 25
			a, err := protocol.NewGraphQLWS(protocol.GraphQLWSOptions{
				Query: "subscription Ticks($from: Int) { tick(from: $from) { seq ts sent } }", Variables: json.RawMessage(`{"from":1}`),
				OperationName: "Ticks",
				InitPayload:   json.RawMessage(`{"token":"good"}`),
			})
			if err != nil {
				t.Fatal(err)
			}
			p := dial(t, Config{URLs: []string{url}, Connections: conns, Protocol: a,
				Latency: &LatencySpec{Path: "data.tick.ts", Unit: time.Millisecond}})
			peer.waitCount(t, conns)
			peer.publishMeasureClose(t, p, conns, pubs)
		})
		for _, tc := range []struct {
			name, code string
			opts       protocol.GraphQLWSOptions
		}{
			{"error message", "graphql-ws_error", protocol.GraphQLWSOptions{Query: "subscription { nope }"}},
			{"4403 close", "graphql-ws_4403", protocol.GraphQLWSOptions{Query: "subscription { tick { seq } }", InitPayload: json.RawMessage(`{"token":"bad"}`)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a, err := protocol.NewGraphQLWS(tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				p := dial(t, Config{URLs: []string{url}, Connections: 5, Protocol: a})
				eventually(t, "rejections", func() bool { return p.Stats().Failures[ReasonRejected] == 5 })
				if s := p.Stats(); s.Rejections[tc.code] != 5 || s.Dropped != 0 || s.Open != 0 {
					t.Fatalf("stats %+v", s)
				}
			})
		}
	})
}

// TestPhoenixPeerIsFaithful drives the Phoenix test peer with the official
// phoenix npm client: joins, a refused join, heartbeats and pushes must work
// as the client expects, or the peer would prove nothing about the adapter.
func TestPhoenixPeerIsFaithful(t *testing.T) {
	peer := startProtoPeer(t, "phoenix")
	for _, vsn := range []string{"2.0.0", "1.0.0"} {
		t.Run(vsn, func(t *testing.T) {
			const n = 10
			cmd := exec.Command("node", "phoenix_client.js", peer.url("ws", "/socket"), vsn, "10")
			cmd.Dir = protoPeersDir(t)
			out := &lineWriter{lines: make(chan string, 8)}
			cmd.Stdout = out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			select {
			case line := <-out.lines:
				if line != "ready" {
					t.Fatalf("official client: %s", line)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("official client never got ready")
			}
			peer.publish(t, n)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("official client: %v (%s)", err, strings.Join(out.all(), "; "))
			}
			if got := out.all(); len(got) == 0 || got[len(got)-1] != "received 10" {
				t.Fatalf("official client said %q", got)
			}
		})
	}
}

func TestPhoenix(t *testing.T) {
	peer := startProtoPeer(t, "phoenix")
	// The peer closes a connection that sends nothing for 1200 ms: only the
	// adapter's heartbeat keeps these open through the wait below.
	url := peer.url("ws", "/socket/websocket?timeout=1200")
	eachEngine(t, func(t *testing.T) {
		for _, vsn := range []string{"2.0.0", "1.0.0"} {
			t.Run(vsn, func(t *testing.T) {
				const conns, pubs = 40, 20
				a, err := protocol.NewPhoenix(protocol.PhoenixOptions{
					Vsn: vsn, Topics: []string{"realtime:public:todos"}, Heartbeat: 200 * time.Millisecond,
					JoinPayload: json.RawMessage(`{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos"}]},"access_token":"good"}`),
					Events:      []string{"postgres_changes"},
				})
				if err != nil {
					t.Fatal(err)
				}
				p := dial(t, Config{URLs: []string{url}, Connections: conns, Protocol: a,
					Latency: &LatencySpec{Path: "data.commit_timestamp", Unit: time.Millisecond}})
				peer.waitCount(t, conns)
				time.Sleep(2500 * time.Millisecond)
				// Join replies, "system" and "presence_state" pushes and
				// heartbeat replies are not application messages.
				peer.publishMeasureClose(t, p, conns, pubs)
			})
		}
		t.Run("join error", func(t *testing.T) {
			a, err := protocol.NewPhoenix(protocol.PhoenixOptions{Topics: []string{"realtime:x"}, JoinPayload: json.RawMessage(`{"access_token":"bad"}`)})
			if err != nil {
				t.Fatal(err)
			}
			p := dial(t, Config{URLs: []string{url}, Connections: 5, Protocol: a})
			eventually(t, "rejections", func() bool { return p.Stats().Failures[ReasonRejected] == 5 })
			if s := p.Stats(); s.Rejections["phoenix_join_error"] != 5 || s.Dropped != 0 || s.Open != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	})
}

// lineWriter collects a child's stdout lines.
type lineWriter struct {
	buf   []byte
	lines chan string
	seen  []string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.seen = append(w.seen, line)
		select {
		case w.lines <- line:
		default:
		}
	}
}

func (w *lineWriter) all() []string { return w.seen }

// TestBatchedRawMode: with batched, each line of a newline-delimited message
// is counted, measured and matched against replies on its own.
func TestBatchedRawMode(t *testing.T) {
	srv := startGWSServer(t)
	eachEngine(t, func(t *testing.T) {
		const conns = 10
		p := dial(t, Config{
			URLs: []string{srv.url("/echo")}, Connections: conns, Batched: true,
			// Echoed back as one message of four lines, one of them empty.
			OnOpenSend: "{\"ts\":1}\r\nping\n\n{\"ts\":2}",
			Replies:    []Reply{{Match: "ping", Send: "pong"}},
			Latency:    &LatencySpec{Field: "ts", Unit: time.Millisecond},
		})
		// 3 lines + the echoed "pong" per connection.
		latencies := measured(t, p, conns*4)
		if s := p.Stats(); s.Received != conns*4 || s.Sent != conns*2 || latencies != conns*2 {
			t.Fatalf("stats %+v, latencies %d", s, latencies)
		}
	})
}
