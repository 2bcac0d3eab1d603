package massconn

import (
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
)

func TestParseProtocolOptions(t *testing.T) {
	const base = `urls: ['ws://127.0.0.1:1/ws'], connections: 1`
	errs := []struct{ name, js, want string }{
		{"unknown name", `{` + base + `, protocol: 'stomp'}`, `option 'protocol.name' must be one of 'centrifugo', 'graphql-ws', 'mqtt', 'phoenix', 'socketio', got "stomp"`},
		{"mqtt version", `{` + base + `, protocol: {name: 'mqtt', version: 3}}`, "option 'protocol.version' must be '3.1.1' or '5', got \"3\""},
		{"mqtt qos", `{` + base + `, protocol: {name: 'mqtt', topics: ['t'], qos: 2}}`, "option 'protocol.qos' must be 0 to 1, got 2"},
		{"mqtt keepAlive", `{` + base + `, protocol: {name: 'mqtt', keepAlive: '1500ms'}}`, "option 'protocol.keepAlive' must be whole seconds"},
		{"mqtt clientId", `{` + base + `, protocol: {name: 'mqtt', clientId: 'c-{{seq}}'}}`, "option 'protocol.clientId' unknown variable {{seq}}"},
		{"mqtt will", `{` + base + `, protocol: {name: 'mqtt', will: {topic: 'w', paylod: 'x'}}}`, "unknown option 'protocol.will.paylod' (did you mean 'protocol.will.payload'?)"},
		{"mqtt password alone", `{` + base + `, protocol: {name: 'mqtt', password: 'p'}}`, "option 'protocol.password' MQTT 3.1.1 sends a password only with a username"},
		{"not a name", `{` + base + `, protocol: 3}`, "option 'protocol' must be a protocol name"},
		{"object without name", `{` + base + `, protocol: {channels: ['a']}}`, "option 'protocol.name' is required"},
		{"typo", `{` + base + `, protocol: {name: 'centrifugo', chanels: ['a']}}`, "unknown option 'protocol.chanels' (did you mean 'protocol.channels'?)"},
		{"phoenix without topics", `{` + base + `, protocol: 'phoenix'}`, "option 'protocol.topics' is required: name at least one topic"},
		{"phoenix vsn", `{` + base + `, protocol: {name: 'phoenix', topics: ['t'], vsn: '3'}}`, "option 'protocol.vsn' must be '2.0.0'"},
		{"phoenix heartbeat", `{` + base + `, protocol: {name: 'phoenix', topics: ['t'], heartbeat: 'often'}}`, "option 'protocol.heartbeat' must be a duration"},
		{"graphql without query", `{` + base + `, protocol: 'graphql-ws'}`, "option 'protocol.query' is required"},
		{"graphql variables", `{` + base + `, protocol: {name: 'graphql-ws', query: 'subscription { a }', variables: [1]}}`, "option 'protocol.variables' must be an object, got an array"},
		{"socketio namespace", `{` + base + `, protocol: {name: 'socketio', namespace: 'chat'}}`, "option 'protocol.namespace'"},
		{"socketio events", `{` + base + `, protocol: {name: 'socketio', events: [1]}}`, "option 'protocol.events[0]' must be a string"},
		{"latency both", `{` + base + `, latency: {path: 'a.b', field: 'ts'}}`, "option 'latency' has both a path and a field; set latency.path or latency.field, not both"},
		{"batched not bool", `{` + base + `, batched: 1}`, "option 'batched' must be true or false"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOptions(jsValue(t, tt.js))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\ndoes not contain %q", err, tt.want)
			}
		})
	}

	opts, err := parseConnectOptions(jsValue(t, `{`+base+`, latency: {path: 'data.commit_timestamp'},
		protocol: {name: 'phoenix', topics: ['realtime:public:todos'], heartbeat: '10s', vsn: '1.0.0',
			joinPayload: {config: {postgres_changes: [{event: 'INSERT', schema: 'public', table: 'todos'}]}}, events: ['postgres_changes']}}`))
	if err != nil {
		t.Fatal(err)
	}
	ph, ok := opts.cfg.Protocol.(*protocol.Phoenix)
	if !ok || ph.Heartbeat() != 10*time.Second {
		t.Fatalf("protocol %#v", opts.cfg.Protocol)
	}
	if l := opts.cfg.Latency; l == nil || l.Path != "data.commit_timestamp" || l.Unit != time.Millisecond {
		t.Fatalf("latency %+v", opts.cfg.Latency)
	}
	for _, js := range []string{
		`{` + base + `, protocol: 'centrifugo'}`,
		`{` + base + `, protocol: {name: 'mqtt', version: 5, clientId: 'c-{{vu}}-{{conn}}', username: 'u{{conn}}', password: 'p', keepAlive: '30s',
			cleanSession: false, topics: ['a/+', 'b'], qos: 1, will: {topic: 'w', payload: 'bye', qos: 2, retain: true}}}`,
		`{` + base + `, protocol: 'mqtt'}`,
		`{` + base + `, protocol: {name: 'centrifugo', token: 'x', data: {a: 1}, channels: 'news', client: 'k6'}}`,
		`{` + base + `, protocol: {name: 'socketio', namespace: '/feed', auth: {token: 't'}, events: ['tick']}}`,
		`{` + base + `, protocol: {name: 'graphql-ws', query: 'subscription { a }', variables: {x: 1}, operationName: 'A', initPayload: {k: 'v'}}}`,
		`{` + base + `, batched: true, replies: [{match: '{}', send: '{}'}], latency: {field: 'ts', unit: 'us'}}`,
	} {
		if _, err := parseConnectOptions(jsValue(t, js)); err != nil {
			t.Errorf("%s: %v", js, err)
		}
	}
}
