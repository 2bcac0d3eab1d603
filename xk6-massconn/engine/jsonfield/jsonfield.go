// Package jsonfield finds fields in JSON without decoding it: a top-level
// number (Number), a dotted path with array indexes (Path) and a member
// walk (Members). The latency and sequence options read a field of every
// received message; at a million messages a second a full decode per
// message would cost more than everything else the engine does.
package jsonfield

import "strconv"

// maxDepth bounds nesting while skipping values so that hostile input cannot
// make the scanner do unbounded bookkeeping.
const maxDepth = 64

// Number returns the value of the top-level field named name when msg is a
// JSON object and that field holds a number. Keys written with escape
// sequences never match. Malformed input returns false; the scanner stops at
// the matching field, so garbage after it goes unnoticed, which is fine for a
// measurement.
func Number(msg []byte, name string) (float64, bool) {
	s := scanner{b: msg}
	s.space()
	if !s.seekKey(name) {
		return 0, false
	}
	return s.number()
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string and returns its raw bytes; plain is false when it
// contained an escape.
func (s *scanner) str() (raw []byte, plain, ok bool) {
	if !s.eat('"') {
		return nil, false, false
	}
	start := s.i
	plain = true
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, plain, true
		case '\\':
			plain = false
			s.i += 2
		default:
			s.i++
		}
	}
	return nil, false, false
}

func (s *scanner) number() (float64, bool) {
	start := s.i
	integer := true
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= '0' && c <= '9' {
			s.i++
			continue
		}
		if c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			integer = false
			s.i++
			continue
		}
		break
	}
	tok := s.b[start:s.i]
	if integer {
		// The common case, an integer timestamp: no allocation.
		neg := len(tok) > 0 && tok[0] == '-'
		if neg {
			tok = tok[1:]
		}
		if len(tok) == 0 || len(tok) > 18 {
			return s.slowNumber(start)
		}
		var v int64
		for _, c := range tok {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return float64(v), true
	}
	return s.slowNumber(start)
}

func (s *scanner) slowNumber(start int) (float64, bool) {
	v, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	return v, err == nil
}

// skipValue consumes any JSON value, checking only as much structure as it
// needs to find where the value ends.
func (s *scanner) skipValue(depth int) bool {
	if depth > maxDepth || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{', '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		s.space()
		if s.eat(closer) {
			return true
		}
		for {
			s.space()
			if c == '{' {
				if _, _, ok := s.str(); !ok {
					return false
				}
				s.space()
				if !s.eat(':') {
					return false
				}
				s.space()
			}
			if !s.skipValue(depth + 1) {
				return false
			}
			s.space()
			if s.eat(closer) {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	default:
		// Numbers and the literals true, false, null.
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.i > start
			}
			s.i++
		}
		return s.i > start
	}
}
