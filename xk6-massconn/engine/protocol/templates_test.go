package protocol

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// userConn is a record that carries a connection's template variables,
// as the engine's Conns do.
type userConn struct {
	record
	vars template.Vars
}

func (u *userConn) Vars() template.Vars { return u.vars }

// TestAdaptersRenderPerConnection: every string-valued adapter option
// renders {{conn}}, {{vu}} and {{data.FIELD}} for the connection that
// opens, JSON-escaped where it stands inside a JSON string.
func TestAdaptersRenderPerConnection(t *testing.T) {
	data, err := template.NewData([]any{
		map[string]any{"token": "jwt-0", "user": "u0"},
		map[string]any{"token": `jwt"1`, "user": "u1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := NewCentrifugo(CentrifugoOptions{Token: "{{data.token}}", Data: json.RawMessage(`{"c":"{{conn}}","vu":"{{vu}}"}`)})
	if err != nil {
		t.Fatal(err)
	}
	phx, err := NewPhoenix(PhoenixOptions{Topics: []string{"room:{x}"}, JoinPayload: json.RawMessage(`{"access_token":"{{data.token}}"}`)})
	if err != nil {
		t.Fatal(err)
	}
	sio, err := NewSocketIO(SocketIOOptions{Auth: json.RawMessage(`{"token":"{{data.token}}"}`)})
	if err != nil {
		t.Fatal(err)
	}
	gql, err := NewGraphQLWS(GraphQLWSOptions{Query: "subscription { feed(user: \"{{data.user}}\") }",
		Variables: json.RawMessage(`{"u":"{{data.user}}"}`), InitPayload: json.RawMessage(`{"t":"{{data.token}}"}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a    Adapter
		msgs []string // opening messages; socket.io's follows the Engine.IO open
		want string   // in the opening messages of connection 3 (row 1) of VU 7
	}{
		{cf, nil, `{"id":1,"connect":{"name":"massconn","token":"jwt\"1","data":{"c":"3","vu":"7"}}}`},
		{phx, nil, `["1","1","room:{x}","phx_join",{"access_token":"jwt\"1"}]`},
		{sio, []string{`0{"sid":"s"}`}, `40{"token":"jwt\"1"}`},
		{gql, []string{`{"type":"connection_ack"}`}, `{"type":"connection_init","payload":{"t":"jwt\"1"}}`},
		{gql, []string{`{"type":"connection_ack"}`}, `{"id":"1","type":"subscribe","payload":{"query":"subscription { feed(user: \"u1\") }","variables":{"u":"u1"}}}`},
	} {
		if err := checkAll(tc.a, data); err != nil {
			t.Fatalf("%s: %v", tc.a.Name(), err)
		}
		c := &userConn{vars: template.Vars{Conn: 3, VU: 7, Data: data}}
		var st State
		tc.a.Open(&st, c)
		for _, m := range tc.msgs {
			tc.a.Message(&st, []byte(m), c)
		}
		found := false
		for _, s := range c.sent {
			found = found || s == tc.want
			if !json.Valid([]byte(s)) && !strings.HasPrefix(s, "40") {
				t.Errorf("%s sent invalid JSON %s", tc.a.Name(), s)
			}
		}
		if !found {
			t.Errorf("%s sent %q, want %s among them", tc.a.Name(), c.sent, tc.want)
		}
	}
}

func checkAll(a Adapter, d *template.Data) error {
	for _, t := range a.(Templated).Templates() {
		if err := t.Check(d); err != nil {
			return err
		}
	}
	return nil
}

// TestAdapterOptionErrorsNameTheOption: a bad variable is an error of the
// option it stands in.
func TestAdapterOptionErrorsNameTheOption(t *testing.T) {
	_, err := NewCentrifugo(CentrifugoOptions{Token: "{{nope}}"})
	if err == nil || !strings.HasPrefix(err.Error(), "token: unknown variable {{nope}}") {
		t.Errorf("centrifugo: %v", err)
	}
	_, err = NewPhoenix(PhoenixOptions{Topics: []string{"t"}, JoinPayload: json.RawMessage(`{"a":"{{data"}`)})
	if err == nil || !strings.HasPrefix(err.Error(), "joinPayload: '{{' without '}}'") {
		t.Errorf("phoenix: %v", err)
	}
	_, err = NewGraphQLWS(GraphQLWSOptions{Query: "q {{conn}", InitPayload: nil})
	if err == nil || !strings.HasPrefix(err.Error(), "query: ") {
		t.Errorf("graphql-ws: %v", err)
	}
}

func TestVariablesWhereTheyCannotStand(t *testing.T) {
	for _, tc := range []struct {
		make func() error
		want string
	}{
		{func() error {
			_, err := NewCentrifugo(CentrifugoOptions{Channels: []string{"a", "user:{{conn}}"}})
			return err
		}, "channels[1]: per-connection variables are not supported here"},
		{func() error { _, err := NewPhoenix(PhoenixOptions{Topics: []string{"room:{{data.r}}"}}); return err }, "topics: per-connection variables"},
		{func() error { _, err := NewSocketIO(SocketIOOptions{Namespace: "/{{vu}}"}); return err }, "namespace: per-connection variables"},
	} {
		if err := tc.make(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
