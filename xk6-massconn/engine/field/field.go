// Package field holds the error type the engine and its program compiler
// return for a configuration field they reject. It names fields by their
// Go path only: callers that show fields under other names (the k6 binding
// shows the JS option names) render the message with their own names.
package field

import "fmt"

// Error is one rejected field. Field is its Go path in engine.Config:
// "Connections", "Heartbeat.Every", "URLs[2]", "Steps[3].Target". Reason
// and Fix name no other field except through Refs; see Message.
type Error struct {
	Field  string
	Value  any      // the value at fault; nil when showing it would not help
	Reason string   // what is wrong
	Fix    string   // how to fix it; each %s stands for the next of Refs
	Refs   []string // Go paths of the fields Fix names
}

// Error names the fields by their Go paths.
func (e *Error) Error() string {
	return e.Field + ": " + e.Message(func(path string) string { return path })
}

// Message is the reason, the value and the fix, with each field Fix
// refers to named by name(its Go path).
func (e *Error) Message(name func(path string) string) string {
	msg := e.Reason
	switch v := e.Value.(type) {
	case nil:
	case string:
		msg += fmt.Sprintf(", got %q", v)
	default:
		msg += fmt.Sprintf(", got %v", v)
	}
	if e.Fix != "" {
		names := make([]any, len(e.Refs))
		for i, r := range e.Refs {
			names[i] = name(r)
		}
		msg += "; " + fmt.Sprintf(e.Fix, names...)
	}
	return msg
}
