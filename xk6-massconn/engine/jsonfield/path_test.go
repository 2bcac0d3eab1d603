package jsonfield

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParsePath(t *testing.T) {
	good := map[string][]step{
		"ts":                {{key: "ts", index: -1}},
		"a.b[0].c":          {{key: "a", index: -1}, {key: "b", index: -1}, {index: 0}, {key: "c", index: -1}},
		"[1].ts":            {{index: 1}, {key: "ts", index: -1}},
		"m[2][3]":           {{key: "m", index: -1}, {index: 2}, {index: 3}},
		"data.commit_stamp": {{key: "data", index: -1}, {key: "commit_stamp", index: -1}},
	}
	for text, want := range good {
		p, err := ParsePath(text)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", text, err)
			continue
		}
		if len(p.steps) != len(want) {
			t.Errorf("ParsePath(%q) = %+v, want %+v", text, p.steps, want)
			continue
		}
		for i := range want {
			if p.steps[i] != want[i] {
				t.Errorf("ParsePath(%q) = %+v, want %+v", text, p.steps, want)
			}
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "a[", "a[x]", "a[-1]", "a]", "a.[0]", "a[0]b"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
}

func TestLookup(t *testing.T) {
	msg := []byte(` {"x":"a.b","payload":{"data":{"ids":[1,2],"rows":[{"ts":1},{"ts":"2024-01-01T00:00:00Z"}]}},"n":null} `)
	tests := map[string]string{
		"x":                       `"a.b"`,
		"payload.data.ids":        `[1,2]`,
		"payload.data.ids[1]":     `2`,
		"payload.data.rows[1].ts": `"2024-01-01T00:00:00Z"`,
		"n":                       `null`,
	}
	for path, want := range tests {
		got, ok := mustPath(t, path).Lookup(msg)
		if !ok || string(got) != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, missing := range []string{"y", "payload.data.ids[2]", "x.y", "payload[0]", "payload.data.rows[0].ts.z"} {
		if got, ok := mustPath(t, missing).Lookup(msg); ok {
			t.Errorf("Lookup(%q) = %q, want absent", missing, got)
		}
	}
	// A path into the first element of a Socket.IO event array.
	if got, ok := mustPath(t, "[1].ts").Lookup([]byte(`["tick",{"ts":42}]`)); !ok || string(got) != "42" {
		t.Errorf("Lookup([1].ts) = %q, %v", got, ok)
	}
}

func TestTimestamp(t *testing.T) {
	ref := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC).UnixNano()
	tests := []struct {
		msg  string
		unit time.Duration
		want int64
		ok   bool
	}{
		{`{"ts":1704164645123456}`, time.Microsecond, ref, true},
		{`{"ts":1704164645123.456}`, time.Millisecond, ref, true},
		{`{"ts":"2024-01-02T03:04:05.123456Z"}`, time.Millisecond, ref, true},
		{`{"ts":"2024-01-02T05:04:05.123456+02:00"}`, time.Second, ref, true},
		{`{"ts":"2024-01-01T22:34:05.123456-04:30"}`, time.Second, ref, true},
		{`{"ts":"2024-01-02 03:04:05.123456+00"}`, time.Second, ref, true},
		{`{"ts":"2024-01-02 04:04:05.123456+0100"}`, time.Second, ref, true},
		{`{"ts":"2024-01-02T03:04:05.123456"}`, time.Second, ref, true},
		{`{"ts":"2024-01-02T03:04:05.1234561999Z"}`, time.Second, ref + 199, true},
		{`{"ts":"2024-01-02T03:04:05Z"}`, time.Second, ref - 123456000, true},
		{`{"ts":"yesterday"}`, time.Second, 0, false},
		{`{"ts":"2024-13-02T03:04:05Z"}`, time.Second, 0, false},
		{`{"ts":"2024-01-02T03:04:05+2"}`, time.Second, 0, false},
		{`{"ts":"2024-01-02T03:04:05.Z"}`, time.Second, 0, false},
		{`{"ts":true}`, time.Second, 0, false},
		{`{"ts":12x}`, time.Second, 0, false},
		{`{"other":1}`, time.Second, 0, false},
	}
	for _, tc := range tests {
		got, ok := Key("ts").Timestamp([]byte(tc.msg), tc.unit)
		diff := got - tc.want
		if ok != tc.ok || (ok && (diff > 1000 || diff < -1000)) { // float rounding of big numbers
			t.Errorf("Timestamp(%s, %v) = %d, %v; want %d, %v", tc.msg, tc.unit, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIterators(t *testing.T) {
	var keys []string
	m := Members([]byte(`{"a":1, "b" : [1,{"c":2}] ,"d":"x"}`))
	for m.Next() {
		keys = append(keys, string(m.Key())+"="+string(m.Value()))
	}
	if m.Malformed() || strings.Join(keys, " ") != `a=1 b=[1,{"c":2}] d="x"` {
		t.Errorf("members %q malformed=%v", keys, m.Malformed())
	}
	var elems []string
	e := Elements([]byte(`[null,"2","phoenix","heartbeat",{}]`))
	for e.Next() {
		elems = append(elems, string(e.Value()))
	}
	if e.Malformed() || strings.Join(elems, " ") != `null "2" "phoenix" "heartbeat" {}` {
		t.Errorf("elements %q", elems)
	}
	bad := Members([]byte(`{"a":1,`))
	for bad.Next() {
	}
	if !bad.Malformed() {
		t.Error("truncated object not reported malformed")
	}
}

func mustPath(t testing.TB, text string) Path {
	t.Helper()
	p, err := ParsePath(text)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzLookup checks the path walker never panics and agrees with
// encoding/json on messages encoding/json accepts (when keys are unique and
// unescaped, where the two are defined to agree).
func FuzzLookup(f *testing.F) {
	for _, s := range []string{
		`{"a":{"b":[{"c":1}]}}`, `{"a":{"b":[0,{"c":"2024-01-01T00:00:00Z"}]}}`, `{"a":[]}`,
		`{"a":{"b":{"c":[1]}}}`, `["x",{"a":1}]`, `{"a":{"b":[{"c":{"d":null}}]}}`,
	} {
		f.Add([]byte(s))
	}
	path := Path{steps: []step{{key: "a", index: -1}, {key: "b", index: -1}, {index: 1}, {key: "c", index: -1}}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, ok := path.Lookup(msg)
		_, _ = path.Timestamp(msg, time.Millisecond)
		for m := Members(msg); m.Next(); {
			_ = m.Value()
		}
		for e := Elements(msg); e.Next(); {
			_ = e.Value()
		}
		if !json.Valid(msg) || bytes.ContainsRune(msg, '\\') || hasDuplicateKeys(msg) {
			return
		}
		var doc any
		if err := json.Unmarshal(msg, &doc); err != nil {
			return
		}
		want, present := walk(doc)
		if present != ok {
			t.Fatalf("Lookup(%q) present=%v, encoding/json says %v", msg, ok, present)
		}
		if !ok {
			return
		}
		var gotDoc any
		if err := json.Unmarshal(got, &gotDoc); err != nil {
			t.Fatalf("Lookup(%q) = %q, not a JSON value: %v", msg, got, err)
		}
		a, _ := json.Marshal(gotDoc)
		b, _ := json.Marshal(want)
		if !bytes.Equal(a, b) {
			t.Fatalf("Lookup(%q) = %s, encoding/json finds %s", msg, a, b)
		}
	})
}

func walk(doc any) (any, bool) {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, false
	}
	if m, ok = m["a"].(map[string]any); !ok {
		return nil, false
	}
	arr, ok := m["b"].([]any)
	if !ok || len(arr) < 2 {
		return nil, false
	}
	if m, ok = arr[1].(map[string]any); !ok {
		return nil, false
	}
	v, ok := m["c"]
	return v, ok
}

// hasDuplicateKeys reports whether any object in msg repeats a key: there
// the scanner takes the first and encoding/json the last.
func hasDuplicateKeys(msg []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(msg))
	type frame struct {
		obj     bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.obj && top.wantKey {
				if k, ok := tok.(string); ok {
					if top.keys[k] {
						return true
					}
					top.keys[k] = true
					top.wantKey = false
					continue
				}
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
	}
}

// FuzzParseTime checks ParseTime never panics and agrees with time.Parse on
// every RFC 3339 string time.Parse accepts.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-01-02T03:04:05.123456Z", "2024-01-02 03:04:05+00", "1969-12-31T23:59:59.999-01:30", "0001-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseTime([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		// time.Parse also takes one-digit hours; the wire formats we read
		// always write two.
		if err != nil || want.Year() < 1678 || want.Year() > 2261 || len(s) < 19 || s[13] != ':' || s[16] != ':' || badZone(s) {
			return
		}
		if !ok || got != want.UnixNano() {
			t.Fatalf("ParseTime(%q) = %d, %v; time.Parse gives %d", s, got, ok, want.UnixNano())
		}
	})
}

// BenchmarkTimestamp measures the per-message cost of the latency path on a
// Supabase-shaped message, with the path present and absent.
func BenchmarkTimestamp(b *testing.B) {
	msg := []byte(`{"topic":"realtime:public:todos","event":"postgres_changes","payload":{"ids":[12345],"data":{"schema":"public","table":"todos","type":"INSERT","columns":[{"name":"id","type":"int8"},{"name":"title","type":"text"}],"record":{"id":42,"title":"hello world"},"errors":null,"commit_timestamp":"2024-01-02T03:04:05.123Z"}},"ref":null}`)
	present := mustPath(b, "payload.data.commit_timestamp")
	absent := mustPath(b, "payload.data.no_such_field")
	b.Run("present", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, ok := present.Timestamp(msg, time.Millisecond); !ok {
				b.Fatal("not found")
			}
		}
	})
	b.Run("absent", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, ok := absent.Timestamp(msg, time.Millisecond); ok {
				b.Fatal("found")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			var v struct {
				Payload struct {
					Data struct {
						CommitTimestamp string `json:"commit_timestamp"`
					} `json:"data"`
				} `json:"payload"`
			}
			if json.Unmarshal(msg, &v) != nil {
				b.Fatal("decode")
			}
			if _, err := time.Parse(time.RFC3339Nano, v.Payload.Data.CommitTimestamp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// badZone reports an offset time.Parse accepts although no clock shows it,
// such as "+00:60".
func badZone(s string) bool {
	z := s[len(s)-6:]
	if z[0] != '+' && z[0] != '-' || z[3] != ':' {
		return false
	}
	return z[1:3] > "23" || z[4:6] > "59"
}

// FuzzLookupKeys checks the one-pass lookup against one Lookup per key, on
// any bytes: the same value, found or not, for every key, including a key
// asked for twice.
func FuzzLookupKeys(f *testing.F) {
	for _, s := range []string{
		`{"topic":"Track","op":"INSERT","id":42,"ts":1795430400123456,"row":{"id":42}}`,
		`{"ts":"2024-01-01T00:00:00Z","id":1,"id":2}`, ` { "id" : [1,{"ts":2}] , "ts" : 3 } `,
		`{"a\u0041":1,"id":2}`, `{"id":1,"ts":}`, `{"topic":{"id":1},"id"`, `[{"id":1}]`, `{}`,
	} {
		f.Add([]byte(s))
	}
	keys := []string{"topic", "id", "ts", "id"}
	f.Fuzz(func(t *testing.T, msg []byte) {
		vals := make([][]byte, len(keys))
		found := LookupKeys(msg, keys, vals)
		for i, k := range keys {
			want, ok := Key(k).Lookup(msg)
			if got := found&(1<<i) != 0; got != ok || !bytes.Equal(vals[i], want) {
				t.Fatalf("LookupKeys(%q) key %q: %q found=%v; Lookup: %q found=%v", msg, k, vals[i], got, want, ok)
			}
		}
		if p, ok := Key("ts").TopKey(); !ok || p != "ts" {
			t.Fatalf("Key(ts).TopKey() = %q, %v", p, ok)
		}
	})
}
