// Package template renders the strings that differ per connection: option
// text with {{conn}}, {{vu}}, {{data}} and {{data.FIELD}} in it (URLs,
// header values, onOpenSend, adapter tokens and payloads). A Template is
// parsed once per pool and rendered when a connection dials or opens, so
// nothing rendered is kept per connection: a held connection costs its
// index, which the engine has anyway.
//
// {{conn}} is the connection's index, unique across the whole test (the
// engine's Config.ConnOffset plus its slot in the pool; a reconnect of the
// slot keeps it). {{vu}} is the VU that opened the pool. {{data}} and
// {{data.FIELD}} are a cell of row conn mod len(rows) of the pool's Data.
package template

import (
	"fmt"
	"strconv"
	"strings"
)

// Escape says how a value from Data is written into the rendered text.
// {{conn}} and {{vu}} are decimal digits, the same under every escape.
type Escape uint8

const (
	// Raw writes data values as they are.
	Raw Escape = iota
	// JSONString writes data values escaped for the inside of a JSON
	// string literal: the template is (part of) JSON text, such as a
	// marshaled payload option, and every variable stands inside a string.
	JSONString
	// Query percent-encodes data values as a URL query component.
	Query
	// Header writes data values as they are; Check refuses a data cell
	// with a line break, which would end the header.
	Header
)

// Variables lists the names a template may use, for error messages.
const Variables = "{{conn}}, {{vu}}, {{data}}, {{data.FIELD}}"

type kind uint8

const (
	literal kind = iota
	connVar
	vuVar
	dataVar // field "" = the whole row of string rows
)

type part struct {
	kind  kind
	esc   Escape // how a data value is written
	lit   []byte
	field string
}

// Template is a parsed text. The zero value renders nothing.
type Template struct {
	parts []part
	text  string
}

// Literal is a template of text without variables, whatever it holds.
func Literal(text string) *Template {
	return &Template{parts: []part{{lit: []byte(text)}}, text: text}
}

// Join is the templates one after the other, each keeping its escape: a
// protocol message is literal framing joined with option templates.
func Join(ts ...*Template) *Template {
	out := &Template{}
	for _, t := range ts {
		out.parts = append(out.parts, t.parts...)
		out.text += t.text
	}
	return out
}

// Parse reads text, in which {{conn}}, {{vu}}, {{data}} and {{data.FIELD}}
// are variables. Any other {{...}} is an error, as is a '{{' without '}}'.
func Parse(text string, esc Escape) (*Template, error) {
	t := &Template{text: text}
	err := Scan(text, func(lit string) {
		t.parts = append(t.parts, part{lit: []byte(lit)})
	}, func(name string) error {
		p, err := variable(name)
		p.esc = esc
		t.parts = append(t.parts, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Scan splits text into literal runs and {{name}}s, in order: the one
// syntax of every template of the engine (these and the programs' send
// steps, whose variables differ). It stops at the first error of
// variable, or at a '{{' without '}}'.
func Scan(text string, literal func(string), variable func(name string) error) error {
	rest := text
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			literal(rest)
			return nil
		}
		if i > 0 {
			literal(rest[:i])
		}
		end := strings.Index(rest[i:], "}}")
		if end < 0 {
			return fmt.Errorf("'{{' without '}}' at offset %d", len(text)-len(rest)+i)
		}
		if err := variable(rest[i+2 : i+end]); err != nil {
			return err
		}
		rest = rest[i+end+2:]
	}
	return nil
}

func variable(name string) (part, error) {
	switch {
	case name == "conn":
		return part{kind: connVar}, nil
	case name == "vu":
		return part{kind: vuVar}, nil
	case name == "data":
		return part{kind: dataVar}, nil
	case strings.HasPrefix(name, "data."):
		field := name[len("data."):]
		if field == "" || strings.ContainsAny(field, "{} ") {
			return part{}, fmt.Errorf("{{%s}}: name a field after 'data.', e.g. {{data.token}}", name)
		}
		return part{kind: dataVar, field: field}, nil
	}
	return part{}, fmt.Errorf("unknown variable {{%s}}; known: %s", name, Variables)
}

// Static reports whether t has no variable: it renders the same text for
// every connection.
func (t *Template) Static() bool {
	for _, p := range t.parts {
		if p.kind != literal {
			return false
		}
	}
	return true
}

// Text is the text t was parsed from.
func (t *Template) Text() string { return t.text }

// Vars are the values of one connection's variables.
type Vars struct {
	Conn int64 // {{conn}}: the connection's index across the test
	VU   int64 // {{vu}}
	Data *Data // rows of {{data}}; nil = none (Check refuses templates that need them)
}

// Render appends t's text for v to dst.
func (t *Template) Render(dst []byte, v Vars) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		switch p.kind {
		case literal:
			dst = append(dst, p.lit...)
		case connVar:
			dst = strconv.AppendInt(dst, v.Conn, 10)
		case vuVar:
			dst = strconv.AppendInt(dst, v.VU, 10)
		case dataVar:
			dst = appendValue(dst, p.esc, v.Data.cell(p.field, v.Conn))
		}
	}
	return dst
}

// RenderString is Render into a new string, for the paths that need one
// (the portable engine's URL and headers).
func (t *Template) RenderString(v Vars) string { return string(t.Render(nil, v)) }

func appendValue(dst []byte, esc Escape, val []byte) []byte {
	switch esc {
	case JSONString:
		return appendJSONEscaped(dst, val)
	case Query:
		return appendQueryEscaped(dst, val)
	}
	return append(dst, val...)
}
