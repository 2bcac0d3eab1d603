package engine

import (
	"errors"
	"fmt"
)

// FieldError is one Config field that Validate (or Dial) rejects. Field is
// the field's Go path in Config: "Connections", "Heartbeat.Every",
// "URLs[2]", "Steps[3].Target". Reason and Fix name no other field except
// through Refs, so a caller that shows fields under other names (the k6
// binding shows the JS option names) renders the same message with its own
// names: see Message. Validate joins several with errors.Join; FieldErrors
// lists them.
type FieldError struct {
	Field  string
	Value  any      // the value at fault; nil when showing it would not help
	Reason string   // what is wrong
	Fix    string   // how to fix it; each %s stands for the next of Refs
	Refs   []string // Go paths of the fields Fix names
}

// Error names the fields by their Go paths.
func (e *FieldError) Error() string {
	return e.Field + ": " + e.Message(func(field string) string { return field })
}

// Message is the reason, the value and the fix, with each field Fix
// refers to named by name(its Go path).
func (e *FieldError) Message(name func(field string) string) string {
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

// FieldErrors returns the FieldErrors in err, in order, looking through
// errors.Join and wrapping; nil when there are none.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			out = append(out, fe)
		}
	}
	walk(err)
	return out
}

// fieldErrors collects the problems Validate finds.
type fieldErrors []error

// add records a problem of field; fix may refer to refs with %s.
func (errs *fieldErrors) add(field string, value any, reason, fix string, refs ...string) {
	*errs = append(*errs, &FieldError{Field: field, Value: value, Reason: reason, Fix: fix, Refs: refs})
}

func (errs fieldErrors) err() error { return errors.Join(errs...) }
