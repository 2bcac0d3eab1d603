package jsonfield

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestNumber(t *testing.T) {
	tests := []struct {
		msg   string
		field string
		want  float64
		ok    bool
	}{
		{`{"ts":1700000000123456}`, "ts", 1700000000123456, true},
		{` { "a" : "x\"ts" , "ts" : -12 } `, "ts", -12, true},
		{`{"a":{"ts":1},"b":[1,{"ts":2}],"ts":3}`, "ts", 3, true},
		{`{"ts":1.5e3}`, "ts", 1500, true},
		{`{"ts":"123"}`, "ts", 0, false},
		{`{"t\u0073":5}`, "ts", 0, false},
		{`{"a":1}`, "ts", 0, false},
		{`[{"ts":1}]`, "ts", 0, false},
		{`{"a":tru`, "ts", 0, false},
		{`{"ts":}`, "ts", 0, false},
		{`{"ts":99999999999999999999}`, "ts", 1e20, true},
		{``, "ts", 0, false},
	}
	for _, tc := range tests {
		got, ok := Number([]byte(tc.msg), tc.field)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Number(%q, %q) = %v, %v; want %v, %v", tc.msg, tc.field, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzNumber checks the scanner never panics and, whenever encoding/json
// agrees the input is an object with a numeric top-level field of that name,
// finds the same value.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{`{"ts":1}`, `{"x":[1,2,{"ts":3}],"ts":4.5}`, `{"ts":-0}`, `{`, `{"a":"\"","ts":1e2}`, `{"ts":1,"ts":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, ok := Number(msg, "ts")
		var obj map[string]json.RawMessage
		if json.Unmarshal(msg, &obj) != nil {
			return
		}
		// Duplicate keys: encoding/json keeps the last, the scanner the first.
		if countKey(msg) != 1 {
			return
		}
		raw, present := obj["ts"]
		var want float64
		if !present || json.Unmarshal(raw, &want) != nil {
			if ok {
				t.Fatalf("Number(%q) = %v, true; encoding/json finds no numeric ts", msg, got)
			}
			return
		}
		if !ok || got != want {
			t.Fatalf("Number(%q) = %v, %v; encoding/json says %v", msg, got, ok, want)
		}
	})
}

// countKey counts top-level "ts" keys as encoding/json decodes them.
func countKey(msg []byte) int {
	dec := json.NewDecoder(bytes.NewReader(msg))
	n, depth, expectKey := 0, 0, false
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
				expectKey = v == '{' && depth == 1
			} else {
				depth--
				expectKey = depth == 1
			}
			continue
		case string:
			if depth == 1 && expectKey && v == "ts" {
				n++
			}
		}
		if depth == 1 {
			expectKey = !expectKey
		}
	}
}
