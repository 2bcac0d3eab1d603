package engine

import (
	"errors"

	"github.com/massconn/massconn/xk6-massconn/engine/field"
)

// FieldError is one Config field that Validate (or Dial) rejects, named
// by its Go path ("Heartbeat.Every", "Steps[3].Target"); see field.Error.
// Validate joins several with errors.Join; FieldErrors lists them.
type FieldError = field.Error

// FieldErrors returns the FieldErrors in err, in order, looking through
// errors.Join and wrapping; nil when there are none.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	for _, e := range unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	return out
}

// unjoin flattens the errors joined (errors.Join) in err.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, unjoin(e)...)
	}
	return out
}

// fieldErrors collects the problems Validate finds.
type fieldErrors []error

// add records a problem of field; fix may refer to refs with %s.
func (errs *fieldErrors) add(field string, value any, reason, fix string, refs ...string) {
	*errs = append(*errs, &FieldError{Field: field, Value: value, Reason: reason, Fix: fix, Refs: refs})
}

func (errs fieldErrors) err() error { return errors.Join(errs...) }
