package template

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestParseAndRender(t *testing.T) {
	strs, err := NewData([]any{"tok-a", "tok-b", "tok-c"})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := NewData([]any{
		map[string]any{"user": "alice", "n": int64(7)},
		map[string]any{"user": `bo"b`, "n": 1.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		esc  Escape
		vars Vars
		want string
	}{
		{"plain", Raw, Vars{}, "plain"},
		{"", Raw, Vars{}, ""},
		{"{{conn}}", Raw, Vars{Conn: 42}, "42"},
		{"u-{{vu}}-c-{{conn}}", Raw, Vars{Conn: 3, VU: 9}, "u-9-c-3"},
		{"{{data}}", Raw, Vars{Conn: 4, Data: strs}, "tok-b"}, // row 4 mod 3
		{"Bearer {{data}}", Header, Vars{Conn: 2, Data: strs}, "Bearer tok-c"},
		{"{{data.user}}:{{data.n}}", Raw, Vars{Conn: 0, Data: objs}, "alice:7"},
		{"{{data.user}}:{{data.n}}", Raw, Vars{Conn: 1, Data: objs}, `bo"b:1.5`},
		{`{"sub":"{{data.user}}"}`, JSONString, Vars{Conn: 1, Data: objs}, `{"sub":"bo\"b"}`},
		{"/ws?u={{data.user}}", Query, Vars{Conn: 1, Data: objs}, "/ws?u=bo%22b"},
		{"{single} and }} alone", Raw, Vars{}, "{single} and }} alone"},
	} {
		tpl, err := Parse(tc.text, tc.esc)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.text, err)
		}
		if err := tpl.Check(tc.vars.Data); err != nil {
			t.Fatalf("Check(%q): %v", tc.text, err)
		}
		if got := string(tpl.Render(nil, tc.vars)); got != tc.want {
			t.Errorf("Render(%q, %+v) = %q, want %q", tc.text, tc.vars, got, tc.want)
		}
		if static := !strings.Contains(tc.text, "{{"); tpl.Static() != static {
			t.Errorf("Static(%q) = %v", tc.text, tpl.Static())
		}
	}
}

func TestParseErrors(t *testing.T) {
	for text, want := range map[string]string{
		"{{conn":        "'{{' without '}}' at offset 0",
		"ab{{vu}}{{x}}": "unknown variable {{x}}",
		"{{data.}}":     "name a field after 'data.'",
		"{{ conn }}":    "unknown variable {{ conn }}",
		"{{seq}}":       "known: {{conn}}, {{vu}}, {{data}}, {{data.FIELD}}",
	} {
		_, err := Parse(text, Raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", text, err, want)
		}
	}
}

func TestCheckNamesTheProblem(t *testing.T) {
	strs, _ := NewData([]any{"a", "b"})
	objs, _ := NewData([]any{map[string]any{"token": "x"}, map[string]any{"token": "y", "sub": "u2"}})
	broken, _ := NewData([]any{"ok", "line\r\nX-Evil: 1"})
	for _, tc := range []struct {
		text string
		esc  Escape
		data *Data
		want string
	}{
		{"{{data.x}}", Raw, nil, "uses {{data.x}} but connect() has no data: pass data: [...]"},
		{"{{data}}", Raw, objs, "the data rows are objects: name a field, e.g. {{data.sub}}"},
		{"{{data.token}}", Raw, strs, "the data rows are strings: use {{data}}"},
		{"{{data.tok}}", Raw, objs, `no data row has the field "tok"; fields: sub, token`},
		{"{{data.sub}}", Raw, objs, `1 data rows have no field "sub", e.g. data[0]`},
		{"{{data}}", Header, broken, "line break"},
	} {
		tpl, err := Parse(tc.text, tc.esc)
		if err != nil {
			t.Fatal(err)
		}
		if err := tpl.Check(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%q) = %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}

func TestNewDataErrors(t *testing.T) {
	for _, tc := range []struct {
		rows []any
		want string
	}{
		{nil, "has no rows"},
		{[]any{"a", map[string]any{}}, "[1]: is an object but [0] is a string"},
		{[]any{map[string]any{}, "a"}, "[1]: is a string but [0] is an object"},
		{[]any{int64(1)}, "[0]: must be a string or an object, got int64"},
	} {
		if _, err := NewData(tc.rows); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewData(%v) = %v, want an error containing %q", tc.rows, err, tc.want)
		}
	}
}

func TestObjectValuesAsText(t *testing.T) {
	d, err := NewData([]any{map[string]any{"b": true, "o": map[string]any{"k": "v"}, "nil": nil}})
	if err != nil {
		t.Fatal(err)
	}
	tpl, _ := Parse("{{data.b}} {{data.o}} {{data.nil}}", Raw)
	if got := string(tpl.Render(nil, Vars{Data: d})); got != `true {"k":"v"} null` {
		t.Errorf("got %q", got)
	}
}

// FuzzParse: any text parses or fails without panicking; a parsed
// template renders its literal text back when it has no variable, and a
// JSONString template of a JSON string stays valid JSON whatever the data.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "x", "{{conn}}", "{{data.a}}{{vu}}", "{{", "}}{{", "{{data.}}", "a{{data}}b"} {
		f.Add(s, "value\"\\\x01é")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		tpl, err := Parse(text, Raw)
		if err != nil {
			return
		}
		if tpl.Static() && string(tpl.Render(nil, Vars{})) != text {
			t.Fatalf("static %q rendered %q", text, tpl.Render(nil, Vars{}))
		}
		d, _ := NewData([]any{value})
		js, err := Parse(`{"k":"`+strings.ReplaceAll(text, `"`, "")+`{{data}}"}`, JSONString)
		if err != nil || strings.ContainsAny(text, "\\\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f") {
			return
		}
		out := js.Render(nil, Vars{Data: d, Conn: 5, VU: 1})
		var v map[string]string
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("JSONString render %q is not JSON: %v", out, err)
		}
		if q := appendQueryEscaped(nil, []byte(value)); string(q) != url.QueryEscape(value) {
			t.Fatalf("query escape %q = %q, want %q", value, q, url.QueryEscape(value))
		}
	})
}

// BenchmarkRender is the per-dial cost: a connect command with a token
// from object rows, as the centrifugo adapter renders it.
func BenchmarkRender(b *testing.B) {
	rows := make([]any, 10000)
	for i := range rows {
		rows[i] = map[string]any{"token": strings.Repeat("x", 150), "sub": "user"}
	}
	d, err := NewData(rows)
	if err != nil {
		b.Fatal(err)
	}
	tpl, _ := Parse(`{"id":1,"connect":{"name":"massconn","token":"{{data.token}}","data":{"c":"{{conn}}","vu":"{{vu}}"}}}`, JSONString)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = tpl.Render(buf[:0], Vars{Conn: int64(i), VU: 1, Data: d})
	}
}

func TestJoinKeepsEachEscape(t *testing.T) {
	d, _ := NewData([]any{`a"b c`})
	js, _ := Parse(`"{{data}}"`, JSONString)
	q, _ := Parse(`?x={{data}}`, Query)
	j := Join(Literal("{{not a var}}"), js, q)
	if got := string(j.Render(nil, Vars{Data: d})); got != `{{not a var}}"a\"b c"?x=a%22b+c` {
		t.Errorf("got %q", got)
	}
	if j.Static() || !Literal("{{x}}").Static() {
		t.Error("Static is wrong")
	}
}
