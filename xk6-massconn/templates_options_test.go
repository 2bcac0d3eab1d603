package massconn

import (
	"strings"
	"testing"
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
