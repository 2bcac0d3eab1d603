package massconn

import (
	"strings"
	"testing"
)

func TestParseSequenceOption(t *testing.T) {
	const base = `urls: ['ws://127.0.0.1:1/ws'], connections: 1`
	opts, err := parseConnectOptions(jsValue(t, `{`+base+`, sequence: {path: 'row.id', per: 'topic'}}`))
	if err != nil {
		t.Fatal(err)
	}
	if sq := opts.cfg.Sequence; sq == nil || sq.Path != "row.id" || sq.Per != "topic" {
		t.Fatalf("sequence %+v", opts.cfg.Sequence)
	}
	for _, tt := range []struct{ js, want string }{
		{`sequence: 'id'`, "option 'sequence' must be an object such as {path: 'id', per: 'topic'}"},
		{`sequence: {per: 'topic'}`, "option 'sequence.path' is required"},
		{`sequence: {path: 'id', pre: 'topic'}`, "unknown option 'sequence.pre' (did you mean 'sequence.per'?)"},
		{`sequence: {path: 7}`, "option 'sequence.path' must be a string"},
	} {
		err := checkOptions(jsValue(t, `{`+base+`, `+tt.js+`}`))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.js, err, tt.want)
		}
	}
}
