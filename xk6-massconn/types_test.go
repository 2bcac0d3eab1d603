package massconn

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
)

// tsInterfaces returns the property names of every `interface NAME {...}`
// in a TypeScript declaration file: the members at the interface's own
// brace depth, written `name:` or `name?:` at the start of a line.
func tsInterfaces(t *testing.T, src string) map[string][]string {
	t.Helper()
	head := regexp.MustCompile(`^\s*(?:export\s+)?interface\s+(\w+)\s*\{\s*$`)
	member := regexp.MustCompile(`^\s*(\w+)\??\s*:`)
	out := map[string][]string{}
	var name string
	depth := 0
	for _, line := range strings.Split(src, "\n") {
		code := line
		if i := strings.Index(code, "//"); i >= 0 {
			code = code[:i]
		}
		if name == "" {
			if m := head.FindStringSubmatch(code); m != nil {
				name, depth = m[1], 1
				out[name] = nil
			}
			continue
		}
		if depth == 1 && !strings.HasPrefix(strings.TrimSpace(code), "*") && !strings.HasPrefix(strings.TrimSpace(code), "/*") {
			if m := member.FindStringSubmatch(code); m != nil {
				out[name] = append(out[name], m[1])
			}
		}
		depth += strings.Count(code, "{") - strings.Count(code, "}")
		if depth == 0 {
			name = ""
		}
	}
	return out
}

// TestTypesMatchTheBinding fails when an option is added to the binding
// without its type in index.d.ts, or typed there but not accepted by
// connect(): each typed options object against the key table the binding
// checks scripts with.
func TestTypesMatchTheBinding(t *testing.T) {
	src, err := os.ReadFile("index.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	types := tsInterfaces(t, string(src))
	tables := map[string][]string{
		"ConnectOptions": connectKeys,
		"Heartbeat":      heartbeatKeys,
		"Reply":          replyKeys,
		"Latency":        latencyKeys,
		"Sequence":       sequenceKeys,
		"SSE":            sseKeys,
		"Range":          rangeKeys,
		"ExpectPath":     expectPathKeys,
		"SendStep":       stepKeys[program.Send],
		"ExpectStep":     stepKeys[program.Expect],
		"SleepStep":      stepKeys[program.Sleep],
		"GotoStep":       stepKeys[program.Goto],
		"CloseStep":      stepKeys[program.Close],
		"MQTTWill":       mqttWillKeys,
	}
	// Every adapter has its own typed interface and its name in ProtocolName.
	adapters := map[string]string{
		"centrifugo": "CentrifugoProtocol",
		"socketio":   "SocketIOProtocol",
		"phoenix":    "PhoenixProtocol",
		"graphql-ws": "GraphQLWSProtocol",
		"mqtt":       "MQTTProtocol",
	}
	union := regexp.MustCompile(`type ProtocolName = ([^;]*);`).FindStringSubmatch(string(src))
	for name, keys := range protocolKeys {
		iface, ok := adapters[name]
		if !ok {
			t.Errorf("protocol %q has no interface in index.d.ts: add one and name it in this test's adapters", name)
			continue
		}
		tables[iface] = keys
		if union == nil || !strings.Contains(union[1], "'"+name+"'") {
			t.Errorf("index.d.ts's ProtocolName lacks '%s'", name)
		}
	}
	for iface, keys := range tables {
		typed, ok := types[iface]
		if !ok {
			t.Errorf("index.d.ts has no interface %s", iface)
			continue
		}
		for _, k := range keys {
			if !slices.Contains(typed, k) {
				t.Errorf("option %q is accepted by connect() but missing from interface %s in index.d.ts", k, iface)
			}
		}
		for _, k := range typed {
			if !slices.Contains(keys, k) {
				t.Errorf("interface %s in index.d.ts types %q, which connect() rejects as unknown", iface, k)
			}
		}
	}
}

func TestTSInterfacesReadsMembers(t *testing.T) {
	got := tsInterfaces(t, `
  /** doc */
  export interface A {
    /** x: not a member */
    x: string;
    nested?: { inner: number };
    y?: number; // comment: z
  }
  interface B {
  }`)
	if !slices.Equal(got["A"], []string{"x", "nested", "y"}) || got["B"] != nil {
		t.Fatalf("got %v", got)
	}
	if _, ok := got["B"]; !ok {
		t.Fatal("B not found")
	}
}

// TestScriptsTypeCheck runs the TypeScript compiler (npm typescript, with
// k6's own @types/k6) over every example and k6script against index.d.ts:
// a misspelt option or a wrong type in a script we ship fails here, as it
// would in a user's editor.
func TestScriptsTypeCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tsc")
	}
	tsc := filepath.Join("typecheck", "node_modules", ".bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		t.Fatalf("tsc is not installed (%v): run `make xk6-massconn/typecheck/node_modules` (make unit-test does)", err)
	}
	out, err := exec.Command(tsc, "--noEmit", "-p", "typecheck").CombinedOutput()
	if err != nil {
		t.Fatalf("tsc found errors in the scripts (%v):\n%s", err, out)
	}
}
