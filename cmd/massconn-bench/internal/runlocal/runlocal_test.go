package runlocal

import (
	"strings"
	"sync"
	"testing"
)

// Output arriving in pieces is labelled once per whole line.
func TestPrefixWriterLabelsWholeLines(t *testing.T) {
	var out strings.Builder
	w := &prefixWriter{mu: &sync.Mutex{}, w: &out, prefix: "[server] "}
	for _, piece := range []string{"listen", "ing on :8080\nlistener conn", "ected\n", "partial"} {
		if _, err := w.Write([]byte(piece)); err != nil {
			t.Fatal(err)
		}
	}
	want := "[server] listening on :8080\n[server] listener connected\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
