//go:build linux

package engine

import (
	"context"
	"crypto/tls"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/internal/centrifugotest"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// Programs run against servers nobody here wrote: the npm ws echo peer,
// Socket.IO 4 and Centrifugo v6. Counts are exact; no test asserts how long
// anything took (RTT values are only checked to be positive and below the
// time the test waited).

func send(text string) program.Step { return program.Step{Kind: program.Send, Text: text} }

func expect(match string, prefix bool) program.Step {
	return program.Step{Kind: program.Expect, Match: match, Prefix: prefix, Timeout: 20 * time.Second}
}

// drainAll drains p until cond holds on the sum of the reports.
func drainAll(t *testing.T, p *Pool, what string, cond func(sum *Report, s Stats) bool) Report {
	t.Helper()
	var sum Report
	sum.Failures = map[string]int64{}
	eventually(t, what, func() bool {
		r := p.Drain()
		sum.RTTCount += r.RTTCount
		sum.RTTs = append(sum.RTTs, r.RTTs...)
		sum.RTTMax = max(sum.RTTMax, r.RTTMax)
		sum.Churn += r.Churn
		sum.Opened += r.Opened
		sum.SessionsEnded += r.SessionsEnded
		for k, v := range r.Failures {
			sum.Failures[k] += v
		}
		return cond(&sum, p.Stats())
	})
	return sum
}

func TestProgramEveryStepKind(t *testing.T) {
	base := testpeer.WSPeer(t)
	const n = 20
	began := time.Now()
	p := dial(t, Config{
		URLs: []string{base + "/"}, Connections: n, VU: 7, ConnOffset: 100,
		Steps: []program.Step{
			// 0: templates; the echo comes back and path+equals reads it.
			send(`{"conn":{{conn}},"vu":{{vu}},"seq":{{seq}},"ms":{{now_ms}},"us":{{now_us}},"room":{{rand:10}}}`),
			{Kind: program.Expect, Path: "vu", Equals: "7", Timeout: 20 * time.Second},
			// 2: think time, then a loop of three request/response rounds.
			{Kind: program.Sleep, Min: 10 * time.Millisecond, Max: 50 * time.Millisecond},
			send("round {{seq}}"),
			expect("round ", true),
			{Kind: program.Goto, Target: 2, Times: 2},
			// 6: a binary message (echoed; binary messages are counted but
			// not offered to expect), then the exact echo of a text.
			{Kind: program.Send, Text: "AAECAw==", Binary: true},
			send("last"),
			expect("last", false),
			{Kind: program.Close, Code: 1000},
		},
	})
	// Per connection: 5 text sends + 1 binary; 5 echoes expected (4 RTT
	// samples from sends, the path expect too: 5), 6 messages received.
	sum := drainAll(t, p, "every program to close its session", func(r *Report, s Stats) bool {
		return r.SessionsEnded == n
	})
	waited := time.Since(began)
	s := p.Stats()
	if s.Sent != n*6 || s.Received != n*6 || s.Failed != 0 || s.Dropped != 0 || s.Open != 0 {
		t.Fatalf("stats %+v", s)
	}
	if sum.RTTCount != n*5 || s.RTTCount != n*5 || len(sum.RTTs) != n*5 || len(sum.Failures) != 0 {
		t.Fatalf("rtt count %d (stats %d), %d samples, failures %v", sum.RTTCount, s.RTTCount, len(sum.RTTs), sum.Failures)
	}
	for _, d := range sum.RTTs {
		if d <= 0 || d > waited {
			t.Fatalf("rtt %v outside (0, %v]", d, waited)
		}
	}
}

func TestProgramExpectTimeout(t *testing.T) {
	base := testpeer.WSPeer(t)
	const n = 10
	t.Run("continue", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{base + "/"}, Connections: n, Steps: []program.Step{
			send("hello"),
			{Kind: program.Expect, Match: "never sent", Timeout: 300 * time.Millisecond}, // the echo "hello" does not match
			send("after"),
			expect("after", false),
		}})
		sum := drainAll(t, p, "every program to time out once and finish", func(r *Report, _ Stats) bool {
			return r.RTTCount == n && r.Failures[ReasonExpectTimeout] == n
		})
		s := p.Stats()
		if s.Failures[ReasonExpectTimeout] != n || s.Open != n || s.Failed != 0 || s.Sent != 2*n || s.Received != 2*n {
			t.Fatalf("stats %+v, report %+v", s, sum)
		}
	})
	t.Run("close", func(t *testing.T) {
		p := dial(t, Config{URLs: []string{base + "/"}, Connections: n, Steps: []program.Step{
			{Kind: program.Expect, Match: "never sent", Timeout: 300 * time.Millisecond, OnTimeout: program.OnTimeoutClose},
			send("not reached"),
		}})
		drainAll(t, p, "every session to close after its timeout", func(r *Report, _ Stats) bool {
			return r.SessionsEnded == n && r.Failures[ReasonExpectTimeout] == n
		})
		if s := p.Stats(); s.Sent != 0 || s.Dropped != 0 || s.Open != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestProgramGotoTimes(t *testing.T) {
	base := testpeer.WSPeer(t)
	const n, times = 10, 4
	p := dial(t, Config{URLs: []string{base + "/"}, Connections: n, Steps: []program.Step{
		send("tick {{seq}}"),
		expect("tick ", true),
		{Kind: program.Goto, Target: 0, Times: times},
		send("done"),
		expect("done", false),
	}})
	want := int64(n * (times + 2))
	drainAll(t, p, "every round", func(r *Report, _ Stats) bool { return r.RTTCount == want })
	// The program has ended: nothing more is sent.
	time.Sleep(300 * time.Millisecond)
	if s := p.Stats(); s.Sent != want || s.Received != want || s.RTTCount != want || s.Open != n {
		t.Fatalf("stats %+v, want %d sends", s, want)
	}
}

// TestLifetimeChurn keeps slots busy with sessions that live 200-600 ms:
// over a hold of a few seconds each slot opens about hold / mean lifetime
// sessions. The bounds are wide (the scan's 100 ms granularity and the
// reopen's handshake add to each cycle); the count must be exact between
// the engine's counters.
func TestLifetimeChurn(t *testing.T) {
	base := testpeer.WSPeer(t)
	const slots = 30
	const hold = 3 * time.Second
	lt := Lifetime{Min: 200 * time.Millisecond, Max: 600 * time.Millisecond}
	p := dial(t, Config{URLs: []string{base + "/"}, Connections: slots, Lifetime: lt, MaxInFlight: 10, Rate: 2000,
		Steps: []program.Step{send("hi {{conn}}"), expect("hi ", true)}})
	time.Sleep(hold)
	if err := p.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	r := p.Drain()
	mean := (lt.Min + lt.Max) / 2
	expected := float64(slots) * float64(hold) / float64(mean)
	t.Logf("churn %d (expected about %.0f), sessions %d, attempted %d, rtt %d, stats %+v", s.Churn, expected, r.Opened, s.Attempted, s.RTTCount, s)
	if float64(s.Churn) < expected/4 || float64(s.Churn) > expected*1.5 {
		t.Fatalf("churn %d outside [%.0f, %.0f]", s.Churn, expected/4, expected*1.5)
	}
	if s.Failed != 0 || s.Dropped != 0 || s.Open != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Each reopen followed a self-close; attempts still in their
	// handshake when the pool closed were abandoned (at most one per slot).
	if s.Attempted < s.Churn || s.Attempted > slots+s.Churn || r.Opened > s.Attempted || r.Opened < s.Attempted-slots {
		t.Fatalf("opened %d attempted %d churn %d", r.Opened, s.Attempted, s.Churn)
	}
	// Every session ran its program: its send went out on open, and its
	// echo was taken by the expect (but for sessions the close cut short).
	// A slot's first session lives a random fraction of its draw, so on a
	// busy machine its lifetime can pass before its echo arrives: the echo
	// then reaches a closing session and counts as received, not as an
	// RTT. So RTTs <= received <= sent, not received == RTTs (a clean-clone
	// CI run saw received 182, rtt 180).
	if s.Sent != r.Opened || s.RTTCount > s.Received || s.Received > s.Sent || s.RTTCount < r.Opened-slots {
		t.Fatalf("sessions %d: sent %d received %d rtt %d", r.Opened, s.Sent, s.Received, s.RTTCount)
	}
	if r.Churn != s.Churn || r.SessionsEnded != r.Opened {
		t.Fatalf("report %+v vs stats %+v", r, s)
	}
}

// TestProgramOverWSS runs a program and churn over TLS (the npm ws peer
// over https), where the event loops run the record layer.
func TestProgramOverWSS(t *testing.T) {
	cert := testpeer.NewCert(t)
	base := testpeer.WSPeer(t, "TLS_CERT="+cert.CertFile, "TLS_KEY="+cert.KeyFile)
	const slots = 10
	p := dial(t, Config{URLs: []string{base + "/"}, Connections: slots, TLS: &tls.Config{RootCAs: cert.Roots},
		Lifetime: Lifetime{Min: 300 * time.Millisecond, Max: 500 * time.Millisecond},
		Steps: []program.Step{
			send("q{{seq}}"),
			{Kind: program.Expect, Match: "q{{seq}}", Timeout: 20 * time.Second},
			{Kind: program.Goto, Target: 0, Times: 2},
		}})
	drainAll(t, p, "sessions to churn over TLS", func(r *Report, s Stats) bool { return s.Churn >= 2*slots })
	if err := p.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	// Every session that ran its three rounds was answered three times;
	// sessions cut by the close may have fewer.
	if s.Failed != 0 || s.Dropped != 0 || s.Failures[ReasonExpectTimeout] != 0 || s.RTTCount < 3*s.Churn || s.RTTCount > 3*s.Attempted {
		t.Fatalf("stats %+v", s)
	}
}

func TestProgramRejectedBeforeDialing(t *testing.T) {
	_, err := Dial(context.Background(), Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1, Steps: []program.Step{
		send("a"), send("b"), expect("b", false), {Kind: program.Goto, Target: 9},
	}})
	if err == nil || !strings.Contains(err.Error(), "Steps[3].Target: target 9 is past the end") {
		t.Fatalf("Dial: %v", err)
	}
	_, err = Dial(context.Background(), Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1, Lifetime: Lifetime{Min: time.Second}})
	if err == nil || !strings.Contains(err.Error(), "Lifetime:") {
		t.Fatalf("Dial: %v", err)
	}
}

func TestProgramSocketIOAck(t *testing.T) {
	peer := startProtoPeer(t, "socketio")
	for _, ns := range []string{"/", "/feed"} {
		t.Run(ns, func(t *testing.T) {
			const n, rounds = 20, 3
			a, err := protocol.NewSocketIO(protocol.SocketIOOptions{Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			p := dial(t, Config{URLs: []string{peer.url("ws", "/socket.io/")}, Connections: n, Protocol: a, Steps: []program.Step{
				// Connected to the namespace before the first event:
				// wait for nothing but a short think time, then loop.
				{Kind: program.Sleep, Min: 300 * time.Millisecond, Max: 300 * time.Millisecond},
				send(`["echo",{"seq":{{seq}},"who":"c{{conn}}"}]`),
				{Kind: program.Expect, Path: "who", Equals: "c{{conn}}", Timeout: 20 * time.Second},
				{Kind: program.Goto, Target: 1, Times: rounds - 1},
			}})
			want := int64(n * rounds)
			sum := drainAll(t, p, "every acknowledgement", func(r *Report, _ Stats) bool { return r.RTTCount == want })
			s := p.Stats()
			// Acknowledgements are answers, not application messages:
			// nothing is received, only the events are sent (plus the
			// adapter's namespace connect and pongs).
			if s.Failed != 0 || s.Dropped != 0 || s.Open != n || s.Received != 0 || len(sum.Failures) != 0 || s.Sent < want {
				t.Fatalf("stats %+v, failures %v", s, sum.Failures)
			}
			for _, d := range sum.RTTs {
				if d <= 0 {
					t.Fatalf("rtt %v", d)
				}
			}
		})
	}
}

func TestProgramCentrifugoPublish(t *testing.T) {
	srv := centrifugotest.Start(t)
	const n = 20
	ch := "chat-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	a, err := protocol.NewCentrifugo(protocol.CentrifugoOptions{Channels: []string{ch}})
	if err != nil {
		t.Fatal(err)
	}
	p := dial(t, Config{URLs: []string{srv.WS}, Connections: n, Protocol: a, Steps: []program.Step{
		// Start once every client is subscribed: the test publishes "go".
		{Kind: program.Expect, Path: "go", Equals: "true"},
		// Each client publishes; its own publication comes back through
		// the server. n publications reach every subscriber: the expect
		// waits for this connection's own, by its index.
		send(`{"from":"c{{conn}}"}`),
		{Kind: program.Expect, Path: "from", Equals: "c{{conn}}", Timeout: 20 * time.Second},
	}})
	eventually(t, "subscriptions", func() bool { return srv.Subscribed(ch) == n })
	srv.Publish(t, ch, map[string]any{"go": true})
	sum := drainAll(t, p, "every publish round trip", func(r *Report, _ Stats) bool { return r.RTTCount == n })
	s := p.Stats()
	if s.Failed != 0 || s.Dropped != 0 || s.Open != n || len(sum.Failures) != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Every client got the "go" and all n publications; its own one was
	// taken by the expect and still counts as received.
	eventually(t, "every publication everywhere", func() bool { return p.Stats().Received == n*(1+n) })
}

// TestConnSize is the structural check of the per-connection cost of
// programs: the program's state is 32 bytes inside the engine's connection,
// and the connection stays within 192 bytes (144 without a program when
// this was written: 64 bytes of headroom, one or two Go size classes).
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(program.State{}); s > 32 {
		t.Fatalf("program.State is %d bytes, over 32", s)
	}
	if s := unsafe.Sizeof(conn{}); s > 192 {
		t.Fatalf("conn is %d bytes, over 192", s)
	}
	t.Logf("conn %d bytes, program.State %d", unsafe.Sizeof(conn{}), unsafe.Sizeof(program.State{}))
}
