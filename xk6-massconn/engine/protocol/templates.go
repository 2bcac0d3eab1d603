package protocol

import (
	"fmt"

	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// Templated is an Adapter whose options hold per-connection templates
// ({{conn}}, {{vu}}, {{data.FIELD}}). The engine checks each against the
// pool's data rows before any dial, naming the option on error.
type Templated interface {
	// Templates maps an option name ("token", "joinPayload") to its
	// parsed template.
	Templates() map[string]*template.Template
}

// VarsOf returns the template variables of c's connection. The engine's
// Conns carry them (a Vars method); any other Conn renders {{conn}} and
// {{vu}} as 0 and has no data.
func VarsOf(c Conn) template.Vars {
	if v, ok := c.(interface{ Vars() template.Vars }); ok {
		return v.Vars()
	}
	return template.Vars{}
}

// stringOption parses a string option that the adapter sends inside a
// JSON string: its JSON-quoted text, so that literal and data alike are
// escaped. The error names the option.
func stringOption(name, text string) (*template.Template, error) {
	t, err := template.Parse(string(quote(text)), template.JSONString)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// jsonOption parses a JSON-valued option (an object the script gave, as
// JSON text); variables may stand in any of its strings.
func jsonOption(name string, raw []byte) (*template.Template, error) {
	t, err := template.Parse(string(raw), template.JSONString)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// message is a protocol message with option templates inside, rendered
// when a connection opens; a message without variables is rendered once.
type message struct {
	t      *template.Template
	static []byte // t's text when t has no variable
}

func newMessage(parts ...*template.Template) message {
	t := template.Join(parts...)
	m := message{t: t}
	if t.Static() {
		m.static = t.Render(nil, template.Vars{})
	}
	return m
}

// bytes is the message for c's connection.
func (m *message) bytes(c Conn) []byte {
	if m.static != nil {
		return m.static
	}
	return m.t.Render(nil, VarsOf(c))
}

func lit(s string) *template.Template { return template.Literal(s) }

// noVariables refuses a per-connection variable in an option the adapter
// matches server messages against or sends from shared state (channel and
// topic names, the namespace): there it would be sent literally, not as
// the script meant.
func noVariables(option string, texts ...string) error {
	for i, text := range texts {
		if t, err := template.Parse(text, template.Raw); err == nil && !t.Static() {
			at := option
			if len(texts) > 1 {
				at = fmt.Sprintf("%s[%d]", option, i)
			}
			return fmt.Errorf("%s: per-connection variables are not supported here, got %q; they work in %s", at, text, templatedOptions)
		}
	}
	return nil
}

// templatedOptions names the adapter options that take variables, for
// noVariables' error.
const templatedOptions = "centrifugo token and data, socketio auth, phoenix joinPayload, graphql-ws query, variables and initPayload"
