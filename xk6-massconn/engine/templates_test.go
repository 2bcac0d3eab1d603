package engine

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
	"github.com/massconn/massconn/xk6-massconn/internal/centrifugotest"
)

// TestPerConnectionURLAndHeaders: a server that records each upgrade
// request (and refuses it) sees every connection's own path, query and
// header, rendered from its index and its data row, escaped for where
// they stand.
func TestPerConnectionURLAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI()+" "+strings.Join(r.Header.Values("X-User"), ","))
		mu.Unlock()
		http.Error(w, "recorded", http.StatusForbidden)
	}))
	defer srv.Close()
	rows, err := template.NewData([]any{"a b", "c&d", "e"})
	if err != nil {
		t.Fatal(err)
	}
	eachEngine(t, func(t *testing.T) {
		mu.Lock()
		seen = nil
		mu.Unlock()
		const n, offset = 6, 100
		p := dial(t, Config{
			URLs:        []string{"ws" + strings.TrimPrefix(srv.URL, "http") + "/u/{{conn}}?t={{data}}&vu={{vu}}"},
			Header:      http.Header{"X-User": {"user-{{data}}-{{conn}}", "static"}},
			Connections: n, ConnOffset: offset, VU: 3, Data: rows,
		})
		if s := p.Stats(); s.Failures["http_403"] != n {
			t.Fatalf("stats %+v", s)
		}
		var want []string
		for i := int64(offset); i < offset+n; i++ {
			row := []string{"a+b", "c%26d", "e"}[i%3]
			raw := []string{"a b", "c&d", "e"}[i%3]
			want = append(want, fmt.Sprintf("/u/%d?t=%s&vu=3 user-%s-%d,static", i, row, raw, i))
		}
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(seen)
		slices.Sort(want)
		if !slices.Equal(seen, want) {
			t.Fatalf("requests\n%q\nwant\n%q", seen, want)
		}
	})
}

// TestTemplateErrorsBeforeDial: a template that names data the pool does
// not have, or a variable where none may stand, is a FieldError naming the
// option, from Validate, before any socket is opened.
func TestTemplateErrorsBeforeDial(t *testing.T) {
	users, _ := template.NewData([]any{map[string]any{"token": "t"}})
	cf, err := protocol.NewCentrifugo(protocol.CentrifugoOptions{Token: "{{data.jwt}}"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg   Config
		field string
		want  string
	}{
		{Config{OnOpenSend: "{{data.x}}"}, "OnOpenSend", "uses {{data.x}} but connect() has no data"},
		{Config{OnOpenSend: "{{nope}}"}, "OnOpenSend", "unknown variable {{nope}}"},
		{Config{Header: http.Header{"X-T": {"{{data}}"}}, Data: users}, "Header", "the data rows are objects"},
		{Config{Protocol: cf, Data: users}, "Protocol.token", `no data row has the field "jwt"; fields: token`},
		{Config{Protocol: cf}, "Protocol.token", "connect() has no data"},
		{Config{URLs: []string{"ws://h{{conn}}.example/"}}, "URLs[0]", "not in the host"},
		{Config{URLs: []string{"ws://h/{{data.token}}"}}, "URLs[0]", "connect() has no data"},
	} {
		cfg := tc.cfg
		if cfg.URLs == nil {
			cfg.URLs = []string{"ws://127.0.0.1:9/"}
		}
		cfg.Connections = 1
		fields := FieldErrors(cfg.Validate())
		if len(fields) != 1 || fields[0].Field != tc.field || !strings.Contains(fields[0].Error(), tc.want) {
			t.Errorf("%+v: got %v, want one error of %s containing %q", tc.cfg, fields, tc.field, tc.want)
		}
	}
}

// TestCentrifugoUserPerConnection: a JWT per connection from data rows
// (sub = a different user each) makes Centrifugo count as many users as
// connections; with fewer rows than connections, connection i uses row
// i mod len, and the users are as many as the rows.
func TestCentrifugoUserPerConnection(t *testing.T) {
	srv := centrifugotest.Start(t)
	eachEngine(t, func(t *testing.T) {
		for _, tc := range []struct{ conns, rows int }{{40, 40}, {30, 7}} {
			t.Run(fmt.Sprintf("%d conns %d rows", tc.conns, tc.rows), func(t *testing.T) {
				exp := time.Now().Add(time.Hour)
				rows := make([]any, tc.rows)
				for i := range rows {
					rows[i] = map[string]any{"jwt": centrifugotest.HS256(centrifugotest.Secret, fmt.Sprintf("user-%d", i), exp)}
				}
				data, err := template.NewData(rows)
				if err != nil {
					t.Fatal(err)
				}
				a, err := protocol.NewCentrifugo(protocol.CentrifugoOptions{Token: "{{data.jwt}}"})
				if err != nil {
					t.Fatal(err)
				}
				p := dial(t, Config{URLs: []string{srv.WS}, Connections: tc.conns, Protocol: a, Data: data})
				var info centrifugotest.Info
				eventually(t, "every client counted", func() bool {
					info, _ = srv.Info()
					return info.Clients == tc.conns && p.Stats().Open == int64(tc.conns)
				})
				if info.Users != tc.rows {
					t.Fatalf("Centrifugo counts %d users for %d connections with %d tokens (%+v)", info.Users, tc.conns, tc.rows, info)
				}
				if err := p.Close(5 * time.Second); err != nil {
					t.Fatal(err)
				}
				eventually(t, "clients gone", func() bool { info, _ = srv.Info(); return info.Clients == 0 })
			})
		}
	})
}
