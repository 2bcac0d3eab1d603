package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
)

// Every problem Validate finds is a FieldError, and its message names the
// other fields it refers to through the caller's names, never its own.
func TestFieldErrorsRenderWithTheCallersNames(t *testing.T) {
	err := Config{
		URLs: []string{"ws://127.0.0.1:1/"}, Connections: 0,
		Heartbeat: Heartbeat{Every: time.Second, Ping: true, Text: "x"},
		Steps:     []program.Step{{Kind: program.Goto, Target: 5}},
	}.Validate()
	fes := FieldErrors(err)
	var fields []string
	for _, fe := range fes {
		fields = append(fields, fe.Field)
	}
	if got, want := strings.Join(fields, ","), "Connections,Heartbeat,Steps[0].Target"; got != want {
		t.Fatalf("fields %s, want %s (from %v)", got, want, err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "Connections" {
		t.Fatalf("errors.As found %+v", fe)
	}
	upper := func(path string) string { return "<" + strings.ToLower(path) + ">" }
	msg := fes[1].Message(upper)
	if !strings.Contains(msg, "<heartbeat.ping>") || !strings.Contains(msg, "<heartbeat.text>") || strings.Contains(msg, "Heartbeat.") {
		t.Fatalf("message %q does not name the fields through the caller's names", msg)
	}
	if got := fes[0].Message(upper); got != "must be a whole number >= 1, got 0" {
		t.Fatalf("message %q", got)
	}
}
