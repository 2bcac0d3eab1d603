package jsonfield

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Path is a compiled dotted path such as "payload.data[0].ts": object keys
// separated by dots, array indices in brackets. Lookups walk the message
// once, skipping every value off the path without decoding it.
type Path struct {
	steps []step
	text  string
}

// step is one object key (index < 0) or one array index.
type step struct {
	key   string
	index int
}

// ParsePath compiles a path. Keys are taken literally between dots and
// brackets; a key holding '.', '[' or ']' cannot be named.
func ParsePath(text string) (Path, error) {
	if text == "" {
		return Path{}, errors.New("the path is empty; name a field such as 'ts' or 'data.ts'")
	}
	p := Path{text: text}
	rest := text
	first := true
	for rest != "" {
		switch rest[0] {
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return Path{}, fmt.Errorf("path %q: '[' without a closing ']'", text)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 {
				return Path{}, fmt.Errorf("path %q: %q is not an array index such as [0]", text, rest[:end+1])
			}
			p.steps = append(p.steps, step{index: n})
			rest = rest[end+1:]
		case '.':
			if first {
				return Path{}, fmt.Errorf("path %q: starts with '.'", text)
			}
			rest = rest[1:]
			fallthrough
		default:
			if !first && text[len(text)-len(rest)-1] != '.' {
				return Path{}, fmt.Errorf("path %q: a '.' must separate ']' from the next key", text)
			}
			end := strings.IndexAny(rest, ".[]")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return Path{}, fmt.Errorf("path %q: empty key (two dots in a row, or a dot before '[' or at the end)", text)
			}
			if rest[end:] != "" && rest[end] == ']' {
				return Path{}, fmt.Errorf("path %q: ']' without '['", text)
			}
			p.steps = append(p.steps, step{key: rest[:end], index: -1})
			rest = rest[end:]
		}
		first = false
	}
	return p, nil
}

// Key is the path of one top-level field, taken literally (dots included).
func Key(name string) Path {
	return Path{steps: []step{{key: name, index: -1}}, text: name}
}

// String returns the path as written.
func (p Path) String() string { return p.text }

// IsZero reports whether p was never compiled.
func (p Path) IsZero() bool { return len(p.steps) == 0 }

// Lookup returns the raw JSON bytes of the value at p inside msg (a
// sub-slice of msg, no copy). Keys written with escape sequences never
// match; the first of duplicate keys wins.
func (p Path) Lookup(msg []byte) ([]byte, bool) {
	s := scanner{b: msg}
	for _, st := range p.steps {
		s.space()
		var ok bool
		if st.index < 0 {
			ok = s.seekKey(st.key)
		} else {
			ok = s.seekIndex(st.index)
		}
		if !ok {
			return nil, false
		}
	}
	s.space()
	start := s.i
	if !s.skipValue(0) {
		return nil, false
	}
	return msg[start:s.i], true
}

// seekKey leaves the scanner at the value of key in the object it is at.
func (s *scanner) seekKey(key string) bool {
	if !s.eat('{') {
		return false
	}
	for {
		s.space()
		if s.eat('}') {
			return false
		}
		k, plain, ok := s.str()
		if !ok {
			return false
		}
		s.space()
		if !s.eat(':') {
			return false
		}
		s.space()
		if plain && string(k) == key {
			return true
		}
		if !s.skipValue(0) {
			return false
		}
		s.space()
		if !s.eat(',') {
			return false
		}
	}
}

// seekIndex leaves the scanner at element n of the array it is at.
func (s *scanner) seekIndex(n int) bool {
	if !s.eat('[') {
		return false
	}
	for i := 0; ; i++ {
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			return false
		}
		if i == n {
			return true
		}
		if !s.skipValue(0) {
			return false
		}
		s.space()
		if !s.eat(',') {
			return false
		}
	}
}

// Members iterates over the members of a JSON object without decoding it:
//
//	for m := jsonfield.Members(msg); m.Next(); { m.Key(), m.Value() }
//
// Err reports whether the iteration stopped on malformed input.
type MemberIter struct {
	s     scanner
	key   []byte
	plain bool
	val   []byte
	state uint8 // iterBefore, iterInside, iterDone or iterMalformed
}

// Members starts iterating over the object in raw.
func Members(raw []byte) MemberIter { return MemberIter{s: scanner{b: raw}} }

// Next advances to the next member.
func (m *MemberIter) Next() bool {
	s := &m.s
	if !s.nextItem(&m.state, '{', '}') {
		return false
	}
	k, plain, ok := s.str()
	if !ok {
		m.state = iterMalformed
		return false
	}
	s.space()
	if !s.eat(':') {
		m.state = iterMalformed
		return false
	}
	s.space()
	start := s.i
	if !s.skipValue(0) {
		m.state = iterMalformed
		return false
	}
	m.key, m.plain, m.val = k, plain, s.b[start:s.i]
	return true
}

// Key returns the member's key as written; it is only meaningful to compare
// when KeyIs holds for plain keys.
func (m *MemberIter) Key() []byte { return m.key }

// KeyIs reports whether the member's key, written without escapes, is name.
func (m *MemberIter) KeyIs(name string) bool { return m.plain && string(m.key) == name }

// Value returns the member's raw JSON value.
func (m *MemberIter) Value() []byte { return m.val }

// Malformed reports whether the iteration stopped on input that is not a
// JSON object.
func (m *MemberIter) Malformed() bool { return m.state == iterMalformed }

// ElementIter iterates over the elements of a JSON array.
type ElementIter struct {
	s     scanner
	val   []byte
	state uint8
}

// Elements starts iterating over the array in raw.
func Elements(raw []byte) ElementIter { return ElementIter{s: scanner{b: raw}} }

// Next advances to the next element.
func (e *ElementIter) Next() bool {
	s := &e.s
	if !s.nextItem(&e.state, '[', ']') {
		return false
	}
	start := s.i
	if !s.skipValue(0) {
		e.state = iterMalformed
		return false
	}
	e.val = s.b[start:s.i]
	return true
}

// Value returns the element's raw JSON value.
func (e *ElementIter) Value() []byte { return e.val }

// Malformed reports whether the iteration stopped on input that is not a
// JSON array.
func (e *ElementIter) Malformed() bool { return e.state == iterMalformed }

// String returns the contents of a raw JSON string without escapes, or
// false when raw is not a string or holds an escape sequence (protocol
// names and event names never need one).
func String(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' || c == '"' {
			return nil, false
		}
	}
	return inner, true
}

// Int returns a raw JSON integer (such as an error code) or false.
func Int(raw []byte) (int64, bool) {
	if len(raw) == 0 || len(raw) > 18 {
		return 0, false
	}
	neg := raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// IsNull reports whether raw is the JSON literal null (or absent).
func IsNull(raw []byte) bool { return len(raw) == 0 || string(raw) == "null" }

// Iterator states shared by MemberIter and ElementIter.
const (
	iterBefore    = 0 // before the opening bracket
	iterInside    = 1 // after the opening bracket or an item
	iterDone      = 2 // after the closing bracket
	iterMalformed = 3 // stopped on input that is not the container
)

// nextItem moves past the opening bracket (first call) or the separator
// after the previous item, and reports whether an item follows. It records
// the end of the container or malformed input in *state.
func (s *scanner) nextItem(state *uint8, open, close byte) bool {
	switch *state {
	case iterBefore:
		s.space()
		if !s.eat(open) {
			*state = iterMalformed
			return false
		}
		*state = iterInside
		s.space()
		if s.eat(close) {
			*state = iterDone
			return false
		}
	case iterInside:
		s.space()
		if s.eat(close) {
			*state = iterDone
			return false
		}
		if !s.eat(',') {
			*state = iterMalformed
			return false
		}
		s.space()
	default:
		return false
	}
	return true
}

// TopKey returns the key of a path that is one top-level key (as Key
// makes, or ParsePath of a plain name), for LookupKeys.
func (p Path) TopKey() (string, bool) {
	if len(p.steps) != 1 || p.steps[0].index >= 0 {
		return "", false
	}
	return p.steps[0].key, true
}

// LookupKeys looks up several top-level keys in one pass over msg: vals[i]
// is what Key(keys[i]).Lookup(msg) returns, and bit i of the result is set
// when it found one. The pass stops once every key is found, or where a
// lookup of a key not found yet would stop. Up to 64 keys; vals must be as
// long as keys.
func LookupKeys(msg []byte, keys []string, vals [][]byte) (found uint64) {
	want := uint64(1)<<len(keys) - 1
	s := scanner{b: msg}
	s.space()
	if !s.eat('{') {
		return 0
	}
	for {
		s.space()
		if s.eat('}') {
			return found
		}
		k, plain, ok := s.str()
		if !ok {
			return found
		}
		s.space()
		if !s.eat(':') {
			return found
		}
		s.space()
		start := s.i
		if !s.skipValue(0) {
			return found
		}
		if plain {
			for i, key := range keys {
				if found&(1<<i) == 0 && string(k) == key {
					vals[i] = msg[start:s.i]
					found |= 1 << i
				}
			}
			if found == want {
				return found
			}
		}
		s.space()
		if !s.eat(',') {
			return found
		}
	}
}
