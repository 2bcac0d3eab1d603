package massconn

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grafana/sobek"

	"github.com/massconn/massconn/xk6-massconn/engine"
	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
)

// jsValue evaluates a JS expression in a real sobek runtime and exports it
// exactly as connect() receives its argument.
func jsValue(t *testing.T, expr string) any {
	t.Helper()
	v, err := sobek.New().RunString("(" + expr + ")")
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v.Export()
}

func TestParseConnectOptionsErrors(t *testing.T) {
	const url = `urls: ['ws://127.0.0.1:1/ws']`
	tests := []struct {
		name, js, want string
	}{
		{"not an object", `'ws://127.0.0.1:1/ws'`, "massconn.connect: expects an options object"},
		{"negative rate", `{` + url + `, connections: 1, rate: -5}`,
			"massconn.connect: option 'rate' must be a number >= 0, got -5"},
		{"rate as string", `{` + url + `, connections: 1, rate: '10'}`,
			`option 'rate' must be a number >= 0, got the string "10"`},
		{"typo", `{` + url + `, conections: 1}`,
			"massconn.connect: unknown option 'conections' (did you mean 'connections'?)"},
		{"unrelated unknown key", `{` + url + `, connections: 1, banana: 1}`, "unknown option 'banana'; known options are: urls,"},
		{"missing connections", `{` + url + `}`, "option 'connections' is required"},
		{"zero connections", `{` + url + `, connections: 0}`, "option 'connections' must be a whole number >= 1, got 0"},
		{"fractional connections", `{` + url + `, connections: 1.5}`, "option 'connections' must be a whole number >= 1, got 1.5"},
		{"missing urls", `{connections: 1}`, "option 'urls' is required"},
		{"urls not strings", `{urls: 5, connections: 1}`, "option 'urls' must be an array of strings, got 5"},
		{"one url not a string", `{urls: ['ws://a', 3], connections: 1}`, "option 'urls[1]' must be a string, got 3"},
		{"negative maxInFlight", `{` + url + `, connections: 1, maxInFlight: -1}`, "option 'maxInFlight' must be a whole number >= 0"},
		{"bad local address", `{` + url + `, connections: 1, localAddrs: ['127.0.0.2', 'localhost']}`,
			`option 'localAddrs[1]' must be an IP address such as '127.0.0.2', got "localhost"`},
		{"bad timeout", `{` + url + `, connections: 1, connectTimeout: 'soon'}`, "option 'connectTimeout' must be a duration"},
		{"zero timeout", `{` + url + `, connections: 1, connectTimeout: 0}`, "option 'connectTimeout' must be a positive duration"},
		{"header not a string", `{` + url + `, connections: 1, headers: {'X-Id': 7}}`, "option 'headers.X-Id' must be a string, got 7"},
		{"subprotocols not strings", `{` + url + `, connections: 1, subprotocols: [{}]}`, "option 'subprotocols[0]' must be a string, got an object"},
		{"onOpenSend not a string", `{` + url + `, connections: 1, onOpenSend: {join: 1}}`, "option 'onOpenSend' must be a string, got an object"},
		{"heartbeat without action", `{` + url + `, connections: 1, heartbeat: {every: '30s'}}`, "option 'heartbeat' has nothing to send every 30s; turn on heartbeat.ping or give a non-empty heartbeat.text"},
		{"heartbeat with both", `{` + url + `, connections: 1, heartbeat: {every: '30s', ping: true, text: 'x'}}`, "option 'heartbeat' sends a ping or a text, not both; choose heartbeat.ping or heartbeat.text"},
		{"heartbeat without every", `{` + url + `, connections: 1, heartbeat: {ping: true}}`, "option 'heartbeat.every' is required"},
		{"heartbeat typo", `{` + url + `, connections: 1, heartbeat: {evry: '1s', ping: true}}`,
			"unknown option 'heartbeat.evry' (did you mean 'heartbeat.every'?); known options of 'heartbeat' are: every, ping, text"},
		{"replies not an array", `{` + url + `, connections: 1, replies: {match: '2', send: '3'}}`, "option 'replies' must be an array"},
		{"reply without send", `{` + url + `, connections: 1, replies: [{match: '2', send: '3'}, {match: '4'}]}`, "option 'replies[1].send' is required"},
		{"reply with empty match", `{` + url + `, connections: 1, replies: [{match: '', send: '3'}]}`, "option 'replies[0].match' must not be empty"},
		{"latency without path", `{` + url + `, connections: 1, latency: {unit: 'us'}}`, "option 'latency.path' is required"},
		{"compression not a bool", `{` + url + `, connections: 1, compression: 'yes'}`, `option 'compression' must be true or false, got the string "yes"`},
		{"negative maxMessageSize", `{` + url + `, connections: 1, maxMessageSize: -1}`, "option 'maxMessageSize' must be a whole number >= 0, got -1"},
		{"maxMessageSize as text", `{` + url + `, connections: 1, maxMessageSize: '16MB'}`, `option 'maxMessageSize' must be a whole number >= 0, got the string "16MB"`},
		{"fractional sendQueueLimit", `{` + url + `, connections: 1, sendQueueLimit: 1.5}`, "option 'sendQueueLimit' must be a whole number >= 0, got 1.5"},
		{"latency unit", `{` + url + `, connections: 1, latency: {field: 'ts', unit: 'minutes'}}`,
			`option 'latency.unit' must be one of 'ns', 'us', 'ms', 's' (Unix epoch timestamp unit), got "minutes"`},
		{"reconnect not a bool", `{` + url + `, connections: 1, reconnect: 'yes'}`, `option 'reconnect' must be true or false, got the string "yes"`},
		{"tags not strings", `{` + url + `, connections: 1, tags: {run: 1}}`, "option 'tags.run' must be a string, got 1"},
		{"negative connOffset", `{` + url + `, connections: 1, connOffset: -3}`, "option 'connOffset' must be a whole number >= 0, got -3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOptions(jsValue(t, tt.js))
			if err == nil {
				t.Fatalf("no error for %s", tt.js)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseConnectOptionsFull(t *testing.T) {
	opts, err := parseConnectOptions(jsValue(t, `{
		urls: ['ws://127.0.0.1:8080/ws?topic=Track', 'ws://127.0.0.1:8081/ws'],
		connections: 20000,
		rate: 10000,
		maxInFlight: 2000,
		localAddrs: ['127.0.0.2', '127.0.0.3'],
		connectTimeout: '10s',
		headers: {'X-Run': 'r1'},
		subprotocols: ['chat'],
		onOpenSend: '{"join":"room-{{conn}}"}',
		heartbeat: { every: '30s', ping: true },
		replies: [{ match: '2', send: '3' }, { match: 'hello', send: 'hi', prefix: true }],
		latency: { field: 'ts', unit: 'us' },
		reconnect: true,
		sampleLimit: 500,
		connOffset: 7,
		tags: {run: 'r1'},
		compression: true,
		maxMessageSize: 1048576,
		sendQueueLimit: 65536,
	}`))
	if err != nil {
		t.Fatal(err)
	}
	c := opts.cfg
	checks := []struct {
		name      string
		got, want any
	}{
		{"urls", len(c.URLs), 2},
		{"connections", c.Connections, 20000},
		{"rate", c.Rate, 10000.0},
		{"maxInFlight", c.MaxInFlight, 2000},
		{"localAddrs", c.LocalAddrs[1], netip.MustParseAddr("127.0.0.3")},
		{"connectTimeout", c.ConnectTimeout, 10 * time.Second},
		{"headers", c.Header.Get("X-Run"), "r1"},
		{"subprotocols", c.Subprotocols[0], "chat"},
		{"onOpenSend", c.OnOpenSend, `{"join":"room-{{conn}}"}`},
		{"heartbeat", c.Heartbeat, engine.Heartbeat{Every: 30 * time.Second, Ping: true}},
		{"replies", c.Replies[1], engine.Reply{Match: "hello", Send: "hi", Prefix: true}},
		{"latency", *c.Latency, engine.LatencySpec{Field: "ts", Unit: time.Microsecond}},
		{"reconnect", c.Reconnect, true},
		{"sampleLimit", c.SampleLimit, 500},
		{"connOffset", opts.connOffset, int64(7)},
		{"tags", opts.tags["run"], "r1"},
		{"compression", c.Compression, true},
		{"maxMessageSize", c.MaxMessageSize, int64(1 << 20)},
		{"sendQueueLimit", c.SendQueueLimit, 65536},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the engine rejects what the binding accepted: %v", err)
	}
}

func TestParseConnectOptionsDefaults(t *testing.T) {
	opts, err := parseConnectOptions(jsValue(t, `{urls: 'ws://127.0.0.1:1', connections: 3, latency: {field: 'ts'}}`))
	if err != nil {
		t.Fatal(err)
	}
	if opts.connOffset != -1 {
		t.Errorf("connOffset: got %d, want -1 (automatic)", opts.connOffset)
	}
	if got := opts.cfg.Latency.Unit; got != time.Millisecond {
		t.Errorf("latency unit defaults to %v, want ms (JavaScript's Date.now())", got)
	}
	if len(opts.cfg.URLs) != 1 {
		t.Errorf("a lone URL string should be a list of one, got %v", opts.cfg.URLs)
	}
}

// The engine validates what only it can (URL syntax); its errors must read
// like the binding's own.
func TestEngineOptionErrorNamesTheOption(t *testing.T) {
	opts, err := parseConnectOptions(jsValue(t, `{urls: ['ftp://127.0.0.1:1/'], connections: 1}`))
	if err != nil {
		t.Fatal(err)
	}
	verr := opts.cfg.Validate()
	if verr == nil {
		t.Fatal("the engine accepted an ftp:// URL")
	}
	got := connectError(verr).Error()
	if !strings.HasPrefix(got, "massconn.connect: option 'urls[0]' ") {
		t.Fatalf("got %q, want it to name option 'urls[0]'", got)
	}
}

// checkOptions is what connect checks before it opens a socket: the
// binding's shape checks, then the engine's rules (engine.Dial runs
// Validate first) under the JS option names.
func checkOptions(raw any) error {
	opts, err := parseConnectOptions(raw)
	if err != nil {
		return err
	}
	if err := opts.cfg.Validate(); err != nil {
		return connectError(err)
	}
	return nil
}

// The engine's rules, checked there by Go field path
// (TestValidateNamesTheField), reach the script author under the JS option
// names: the first line names the option at fault.
func TestEngineRulesNameTheJSOption(t *testing.T) {
	graphQL := func(t *testing.T) protocol.Adapter {
		a, err := protocol.NewGraphQLWS(protocol.GraphQLWSOptions{Query: "subscription { tick }"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ok := engine.Config{URLs: []string{"ws://127.0.0.1:1/"}, Connections: 1}
	tests := []struct {
		option string
		mutate func(*engine.Config)
	}{
		{"urls", func(c *engine.Config) { c.URLs = nil }},
		{"urls[0]", func(c *engine.Config) { c.URLs = []string{"ftp://x/"} }},
		{"urls", func(c *engine.Config) { c.URLs = []string{"http://x/", "ws://x/"} }},
		{"steps[0].send", func(c *engine.Config) {
			c.URLs, c.Steps = []string{"http://x/"}, []program.Step{{Kind: program.Send, Text: "hi"}}
		}},
		{"idleTimeout", func(c *engine.Config) { c.IdleTimeout = time.Second }},
		{"sse", func(c *engine.Config) { c.SSE = &engine.SSE{} }},
		{"sse.events[0]", func(c *engine.Config) { c.URLs, c.SSE = []string{"https://x/"}, &engine.SSE{Events: []string{""}} }},
		{"connections", func(c *engine.Config) { c.Connections = 0 }},
		{"rate", func(c *engine.Config) { c.Rate = -1 }},
		{"maxInFlight", func(c *engine.Config) { c.MaxInFlight = -1 }},
		{"localAddrs[0]", func(c *engine.Config) { c.LocalAddrs = []netip.Addr{{}} }},
		{"connectTimeout", func(c *engine.Config) { c.ConnectTimeout = -time.Second }},
		{"heartbeat.every", func(c *engine.Config) { c.Heartbeat = engine.Heartbeat{Ping: true} }},
		{"heartbeat", func(c *engine.Config) { c.Heartbeat = engine.Heartbeat{Every: time.Second} }},
		{"replies[0].match", func(c *engine.Config) { c.Replies = []engine.Reply{{Send: "x"}} }},
		{"latency.path", func(c *engine.Config) { c.Latency = &engine.LatencySpec{Unit: time.Millisecond} }},
		{"latency.path", func(c *engine.Config) { c.Latency = &engine.LatencySpec{Path: "a..b", Unit: time.Millisecond} }},
		{"latency", func(c *engine.Config) { c.Latency = &engine.LatencySpec{Path: "a", Field: "a", Unit: time.Millisecond} }},
		{"batched", func(c *engine.Config) { c.Batched, c.Protocol = true, graphQL(t) }},
		{"replies", func(c *engine.Config) { c.Replies, c.Protocol = []engine.Reply{{Match: "2", Send: "3"}}, graphQL(t) }},
		{"latency.unit", func(c *engine.Config) { c.Latency = &engine.LatencySpec{Field: "ts"} }},
		{"headers", func(c *engine.Config) { c.Header = map[string][]string{"Sec-WebSocket-Key": {"x"}} }},
	}
	for _, tc := range tests {
		c := ok
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(connectError(err).Error(), "massconn.connect: option '"+tc.option+"' ") {
			t.Errorf("%s: got %v", tc.option, connectError(err))
		}
	}
}

// Every field of engine.Config a script sets has a JS name, so no engine
// error reaches a script author under a Go name.
func TestJSOptionsNameEveryField(t *testing.T) {
	setByBinding := map[string]bool{"VU": true, "ConnOffset": true, "TLS": true, "Resolver": true}
	cfg := reflect.TypeFor[engine.Config]()
	for i := range cfg.NumField() {
		f := cfg.Field(i)
		if setByBinding[f.Name] {
			continue
		}
		if got := jsOption(f.Name); got == f.Name {
			t.Errorf("engine.Config.%s has no JS option name in jsOptions", f.Name)
		}
	}
	if got := jsOption("Steps[3].Target"); got != "steps[3].goto" {
		t.Errorf("Steps[3].Target is %q, want steps[3].goto", got)
	}
	if got := jsOption("Replies[1].Match"); got != "replies[1].match" {
		t.Errorf("Replies[1].Match is %q, want replies[1].match", got)
	}
}
