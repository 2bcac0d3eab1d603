package protocol

import (
	"encoding/json"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
)

// record is a Conn that keeps what an adapter did, for checking its parsing
// of messages captured from the real servers (the end-to-end tests against
// those servers are in package engine).
type record struct {
	sent      []string
	delivered []string
	rejected  []string
	dropped   []int
	kept      []byte
	vu, conn  int64
}

func (r *record) Send(b []byte)       { r.sent = append(r.sent, string(b)) }
func (r *record) Deliver(b []byte)    { r.delivered = append(r.delivered, string(b)) }
func (r *record) Reject(code string)  { r.rejected = append(r.rejected, code) }
func (r *record) Drop(code int)       { r.dropped = append(r.dropped, code) }
func (r *record) Vars() template.Vars { return template.Vars{VU: r.vu, Conn: r.conn} }
func (r *record) Kept() []byte        { return r.kept }
func (r *record) Keep(b []byte) bool  { r.kept = append([]byte(nil), b...); return true }

func TestCentrifugoBatch(t *testing.T) {
	a, err := NewCentrifugo(CentrifugoOptions{Token: "jwt", Data: json.RawMessage(`{"v":1}`), Channels: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	var st State
	var r record
	a.Open(&st, &r)
	if want := `{"id":1,"connect":{"name":"massconn","token":"jwt","data":{"v":1}}}`; r.sent[0] != want {
		t.Fatalf("connect %s, want %s", r.sent[0], want)
	}
	a.Message(&st, []byte(`{"id":1,"connect":{"client":"c","version":"6","ping":1,"pong":true}}`), &r)
	if r.sent[1] != `{"id":2,"subscribe":{"channel":"a"}}`+"\n"+`{"id":3,"subscribe":{"channel":"b"}}` {
		t.Fatalf("subscribe %q", r.sent[1])
	}
	// A ping between two publications in one frame, as Centrifugo writes them.
	a.Message(&st, []byte(`{"push":{"channel":"a","pub":{"data":{"ts":1},"offset":1}}}`+"\n{ }\n"+`{"push":{"channel":"a","pub":{"data":{"ts":2}}}}`), &r)
	if strings.Join(r.delivered, " ") != `{"ts":1} {"ts":2}` || r.sent[2] != "{}" || len(r.sent) != 3 {
		t.Fatalf("delivered %q sent %q", r.delivered, r.sent)
	}
	a.Message(&st, []byte(`{"id":3,"error":{"code":103,"message":"permission denied"}}`), &r)
	if len(r.rejected) != 1 || r.rejected[0] != "centrifugo_103" {
		t.Fatalf("rejected %q", r.rejected)
	}
	if code, ok := a.Closed(&State{}, 3500); !ok || code != "centrifugo_3500" {
		t.Fatalf("close 3500 before connect: %q %v", code, ok)
	}
	if _, ok := a.Closed(&st, 3501); ok {
		t.Fatal("a disconnect after connect counted as a refusal")
	}
}

func TestSocketIOPackets(t *testing.T) {
	a, err := NewSocketIO(SocketIOOptions{Namespace: "/feed", Auth: json.RawMessage(`{"t":1}`), Events: []string{"tick"}})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := a.PrepareURL("ws://h/socket.io/?x=1"); u != "ws://h/socket.io/?x=1&EIO=4&transport=websocket" {
		t.Fatalf("url %s", u)
	}
	// Variables stay as written: the engine renders them per connection.
	if u, _ := a.PrepareURL("ws://h/socket.io/{{conn}}?u={{data.user}}"); u != "ws://h/socket.io/{{conn}}?u={{data.user}}&EIO=4&transport=websocket" {
		t.Fatalf("url %s", u)
	}
	if u, _ := a.PrepareURL("ws://h/socket.io/?EIO=4&transport=websocket"); u != "ws://h/socket.io/?EIO=4&transport=websocket" {
		t.Fatalf("url %s", u)
	}
	var st State
	var r record
	for _, m := range []string{`0{"sid":"x","pingInterval":25000}`, "2", `40/feed,{"sid":"y"}`,
		`42/feed,["tick",{"ts":1},"more"]`, `42/feed,7["tick",{"ts":2}]`, `42/feed,["noise",{}]`, `42["tick",{"ts":3}]`, `42/feed,["tick"]`} {
		a.Message(&st, []byte(m), &r)
	}
	if strings.Join(r.sent, " ") != `40/feed,{"t":1} 3` {
		t.Fatalf("sent %q", r.sent)
	}
	if strings.Join(r.delivered, " ") != `{"ts":1} {"ts":2} ` || len(r.delivered) != 3 {
		t.Fatalf("delivered %q", r.delivered)
	}
	a.Message(&st, []byte(`44/feed,{"message":"unauthorized"}`), &r)
	if len(r.rejected) != 1 || r.rejected[0] != "socketio_connect_error" {
		t.Fatalf("rejected %q", r.rejected)
	}
}

func TestPhoenixMessages(t *testing.T) {
	for _, vsn := range []string{"2.0.0", "1.0.0"} {
		a, err := NewPhoenix(PhoenixOptions{Vsn: vsn, Topics: []string{"room:a", "room:b"}, JoinPayload: json.RawMessage(`{"k":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		var st State
		var r record
		a.Open(&st, &r)
		a.Beat(&st, &r)
		a.Beat(&st, &r)
		enc := func(joinRef, ref, topic, event, payload string) string {
			if vsn == "2.0.0" {
				return "[" + joinRef + "," + ref + "," + topic + "," + event + "," + payload + "]"
			}
			return `{"join_ref":` + joinRef + `,"ref":` + ref + `,"topic":` + topic + `,"event":` + event + `,"payload":` + payload + `}`
		}
		want := []string{
			enc(`"1"`, `"1"`, `"room:a"`, `"phx_join"`, `{"k":1}`),
			enc(`"2"`, `"2"`, `"room:b"`, `"phx_join"`, `{"k":1}`),
			enc(`null`, `"3"`, `"phoenix"`, `"heartbeat"`, `{}`),
			enc(`null`, `"4"`, `"phoenix"`, `"heartbeat"`, `{}`),
		}
		for i := range want {
			var got, exp any
			if json.Unmarshal([]byte(r.sent[i]), &got) != nil || json.Unmarshal([]byte(want[i]), &exp) != nil {
				t.Fatalf("%s: not JSON: %s", vsn, r.sent[i])
			}
			g, _ := json.Marshal(got)
			e, _ := json.Marshal(exp)
			if string(g) != string(e) {
				t.Fatalf("%s: sent %s, want %s", vsn, g, e)
			}
		}
		for _, m := range []string{
			enc(`"1"`, `"1"`, `"room:a"`, `"phx_reply"`, `{"status":"ok","response":{}}`),
			enc(`null`, `"3"`, `"phoenix"`, `"phx_reply"`, `{"status":"ok","response":{}}`),
			enc(`"1"`, `null`, `"room:a"`, `"new_msg"`, `{"ts":1}`),
			enc(`"1"`, `null`, `"room:a"`, `"phx_close"`, `{}`),
			enc(`null`, `null`, `"room:c"`, `"new_msg"`, `{"ts":2}`),
			enc(`"2"`, `null`, `"room:b"`, `"new_msg"`, `{"ts":3}`),
			enc(`null`, `"3"`, `"phoenix"`, `"phx_reply"`, `{"status":"error","response":{}}`),
		} {
			a.Message(&st, []byte(m), &r)
		}
		if strings.Join(r.delivered, " ") != `{"ts":1} {"ts":3}` || len(r.rejected) != 0 {
			t.Fatalf("%s: delivered %q rejected %q", vsn, r.delivered, r.rejected)
		}
		a.Message(&st, []byte(enc(`"2"`, `"2"`, `"room:b"`, `"phx_reply"`, `{"status":"error","response":{"reason":"unauthorized"}}`)), &r)
		if len(r.rejected) != 1 || r.rejected[0] != "phoenix_join_error" {
			t.Fatalf("%s: rejected %q", vsn, r.rejected)
		}
	}
	// After 65,535 heartbeats the ref wraps past the join refs.
	wrap, _ := NewPhoenix(PhoenixOptions{Topics: []string{"a", "b"}})
	st := State{Ref: 65535}
	var r record
	wrap.Beat(&st, &r)
	if st.Ref != 3 || !strings.Contains(r.sent[0], `"3"`) {
		t.Fatalf("wrapped ref %d, sent %s", st.Ref, r.sent[0])
	}
	a, _ := NewPhoenix(PhoenixOptions{Topics: []string{"t"}})
	if u, _ := a.PrepareURL("wss://x.supabase.co/realtime/v1/websocket?apikey=k"); u != "wss://x.supabase.co/realtime/v1/websocket?apikey=k&vsn=2.0.0" {
		t.Fatalf("url %s", u)
	}
	if _, err := a.PrepareURL("ws://h/socket/websocket?vsn=1.0.0"); err == nil {
		t.Fatal("a URL asking for another vsn was accepted")
	}
	if a.Heartbeat() != 30*time.Second {
		t.Fatalf("default heartbeat %v", a.Heartbeat())
	}
}

func TestGraphQLWSMessages(t *testing.T) {
	a, err := NewGraphQLWS(GraphQLWSOptions{Query: `subscription { tick { ts } }`, Variables: json.RawMessage(`{"a":1}`), InitPayload: json.RawMessage(`{"token":"t"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var st State
	var r record
	a.Open(&st, &r)
	for _, m := range []string{`{"type":"connection_ack"}`, `{"type":"ping"}`, `{"id":"1","type":"next","payload":{"data":{"tick":{"ts":1}}}}`, `{"type":"pong"}`, `{"id":"1","type":"complete"}`} {
		a.Message(&st, []byte(m), &r)
	}
	want := []string{`{"type":"connection_init","payload":{"token":"t"}}`, `{"id":"1","type":"subscribe","payload":{"query":"subscription { tick { ts } }","variables":{"a":1}}}`, `{"type":"pong"}`}
	if strings.Join(r.sent, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sent %q", r.sent)
	}
	if len(r.delivered) != 1 || r.delivered[0] != `{"data":{"tick":{"ts":1}}}` {
		t.Fatalf("delivered %q", r.delivered)
	}
	a.Message(&st, []byte(`{"id":"1","type":"error","payload":[{"message":"x"}]}`), &r)
	if len(r.rejected) != 1 || r.rejected[0] != "graphql-ws_error" {
		t.Fatalf("rejected %q", r.rejected)
	}
	if code, ok := a.Closed(&st, 4401); !ok || code != "graphql-ws_4401" {
		t.Fatalf("close 4401: %q %v", code, ok)
	}
}

func adapters(t testing.TB) []Adapter {
	c, _ := NewCentrifugo(CentrifugoOptions{Channels: []string{"a"}})
	s, _ := NewSocketIO(SocketIOOptions{Events: []string{"tick"}})
	s2, _ := NewSocketIO(SocketIOOptions{Namespace: "/n"})
	p2, _ := NewPhoenix(PhoenixOptions{Topics: []string{"t"}})
	p1, _ := NewPhoenix(PhoenixOptions{Topics: []string{"t"}, Vsn: "1.0.0"})
	g, err := NewGraphQLWS(GraphQLWSOptions{Query: "subscription { a }"})
	if err != nil {
		t.Fatal(err)
	}
	return []Adapter{c, s, s2, p2, p1, g}
}

// FuzzMessage feeds every adapter arbitrary server messages: no panic, and
// whatever is delivered is a sub-slice that is valid JSON whenever the whole
// message was.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{
		`{}`, "{\"push\":{\"pub\":{\"data\":{\"ts\":1}}}}\n{}", `{"id":1,"error":{"code":101}}`,
		`0{"sid":"x"}`, "2", `40`, `42["tick",{"ts":1}]`, `42/n,3["x"]`, `44{"message":"no"}`,
		`[null,null,"t","e",{"ts":1}]`, `["1","1","t","phx_reply",{"status":"error"}]`,
		`{"topic":"t","event":"e","payload":{},"ref":null}`, `{"type":"next","payload":{"data":1}}`, `{"type":"ping"}`,
	} {
		f.Add([]byte(s))
	}
	all := adapters(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		whole := json.Valid(msg)
		for _, a := range all {
			var st State
			var r record
			a.Open(&st, &r)
			st.Phase = 1
			a.Message(&st, msg, &r)
			a.Message(&State{}, msg, &r)
			if whole {
				for _, d := range r.delivered {
					if d != "" && !json.Valid([]byte(d)) {
						t.Fatalf("%s delivered %q from %q", a.Name(), d, msg)
					}
				}
			}
		}
	})
}

// measure is a Conn that reads the latency path from every delivered
// payload, as the engine does.
type measure struct {
	record
	path     jsonfield.Path
	measured int
}

func (m *measure) Send([]byte) {}
func (m *measure) Deliver(p []byte) {
	if _, ok := m.path.Timestamp(p, time.Millisecond); ok {
		m.measured++
	}
}

// BenchmarkMessage is the per-message cost of unwrapping each protocol's
// envelope and reading the latency path from the payload.
func BenchmarkMessage(b *testing.B) {
	all := adapters(b)
	cases := []struct {
		a         Adapter
		msg, path string
	}{
		{all[0], "{\"push\":{\"channel\":\"a\",\"pub\":{\"data\":{\"seq\":1,\"ts\":1704164645123},\"offset\":7}}}\n{}\n{\"push\":{\"channel\":\"a\",\"pub\":{\"data\":{\"seq\":2,\"ts\":1704164645124}}}}", "ts"},
		{all[1], `42["tick",{"seq":1,"ts":1704164645123}]`, "ts"},
		{all[3], `[null,null,"t","postgres_changes",{"ids":[1],"data":{"schema":"public","table":"todos","type":"INSERT","record":{"id":1},"commit_timestamp":"2024-01-02T03:04:05.123Z"}}]`, "data.commit_timestamp"},
		{all[5], `{"id":"1","type":"next","payload":{"data":{"tick":{"seq":1,"ts":1704164645123}}}}`, "data.tick.ts"},
	}
	for _, tc := range cases {
		msg := []byte(tc.msg)
		path, err := jsonfield.ParsePath(tc.path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.a.Name(), func(b *testing.B) {
			st := State{Phase: 1}
			m := &measure{path: path}
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				tc.a.Message(&st, msg, m)
			}
			if m.measured == 0 {
				b.Fatal("nothing measured")
			}
		})
	}
}
