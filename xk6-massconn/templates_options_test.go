package massconn

import (
	"strings"
	"testing"

	"github.com/grafana/sobek"
)

// TestDataAndTemplateOptions: data rows from a JS array reach the engine,
// and a template the rows cannot fill is an error of the option that
// holds it, under its JS name (protocol.token, not Protocol.token).
func TestDataAndTemplateOptions(t *testing.T) {
	const url = `urls: ['ws://127.0.0.1:1/ws'], connections: 2`
	opts, err := parseConnectOptions(jsValue(t, `{`+url+`, data: [{id: 1, jwt: 'a'}, {id: 2, jwt: 'b'}],
		protocol: {name: 'centrifugo', token: '{{data.jwt}}'}}`))
	if err != nil {
		t.Fatal(err)
	}
	if opts.cfg.Data.Len() != 2 {
		t.Fatalf("data rows %d, want 2", opts.cfg.Data.Len())
	}
	if err := opts.cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, tc := range []struct{ js, want string }{
		{`{` + url + `, protocol: {name: 'centrifugo', token: '{{data.jwt}}'}}`,
			"massconn.connect: option 'protocol.token' uses {{data.jwt}} but connect() has no data"},
		{`{` + url + `, data: ['a'], protocol: {name: 'phoenix', topics: ['t'], joinPayload: {t: '{{data.jwt}}'}}}`,
			"massconn.connect: option 'protocol.joinPayload' uses {{data.jwt}} but the data rows are strings"},
		{`{` + url + `, data: []}`, "massconn.connect: option 'data' has no rows"},
		{`{` + url + `, data: ['a', 3]}`, "massconn.connect: option 'data[1]' must be a string or an object"},
	} {
		opts, err := parseConnectOptions(jsValue(t, tc.js))
		if err == nil {
			err = opts.cfg.Validate()
			if err != nil {
				err = connectError(err)
			}
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line starting %q", tc.js, err, tc.want)
		}
	}
}

// TestExportOptionsReadsRowsOneByOne: connect()'s argument with data rows
// from an array or any array-like object (as a SharedArray is) gives the
// same rows, and the other options as Export gives them.
func TestExportOptionsReadsRowsOneByOne(t *testing.T) {
	rt := sobek.New()
	for _, js := range []string{
		`({urls: ['ws://127.0.0.1:1/'], connections: 3, data: ['a', 'b']})`,
		`({urls: ['ws://127.0.0.1:1/'], connections: 3, data: {length: 2, 0: 'a', 1: 'b'}})`,
	} {
		v, err := rt.RunString(js)
		if err != nil {
			t.Fatal(err)
		}
		opts, err := parseConnectOptions(exportOptions(v))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		if opts.cfg.Connections != 3 || opts.cfg.Data.Len() != 2 {
			t.Fatalf("%s: connections %d, rows %d", js, opts.cfg.Connections, opts.cfg.Data.Len())
		}
	}
	for js, want := range map[string]string{
		`({urls: ['ws://127.0.0.1:1/'], connections: 1, data: 'tokens.csv'})`:      "option 'data' must be an array of strings or objects",
		`({urls: ['ws://127.0.0.1:1/'], connections: 1, data: {length: 1, 0: 7}})`: "option 'data[0]' must be a string or an object",
		`({urls: ['ws://127.0.0.1:1/'], connections: 1, data: [{a: 'x'}, 'y']})`:   "option 'data[1]' is a string but [0] is an object",
	} {
		v, err := rt.RunString(js)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseConnectOptions(exportOptions(v)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", js, err, want)
		}
	}
}
