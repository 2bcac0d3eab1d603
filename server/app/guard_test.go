package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/internal/wstest"
)

func TestOriginAndTokenGuardWS(t *testing.T) {
	a := startApp(t, newDatabase(t, shared), func(c *app.Config) {
		c.AllowedOrigins = []string{"https://app.example.com"}
		c.AuthToken = "s3cret"
	})
	base := "http://" + a.Addr()
	with := func(kv ...string) http.Header {
		h := wsHeaders("dGhlIHNhbXBsZSBub25jZQ==")
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		reason string
	}{
		{"foreign origin", "/ws", with("Origin", "https://evil.example", "Authorization", "Bearer s3cret"), http.StatusForbidden, `origin "https://evil.example" is not in --allowed-origins`},
		{"no token", "/ws", with("Origin", "https://app.example.com"), http.StatusUnauthorized, "Authorization: Bearer TOKEN"},
		{"wrong token", "/ws", with("Authorization", "Bearer nope"), http.StatusUnauthorized, "missing or wrong token"},
		{"bad after", "/ws?topic=Track&after=x1&access_token=s3cret", with(), http.StatusBadRequest, "after: position \"x1\""},
		{"two afters", "/ws?topic=Track&after=1&after=2&access_token=s3cret", with(), http.StatusBadRequest, "give after=POS once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := httpGet(t, base+tt.path, tt.header)
			if status != tt.status || !strings.Contains(body, tt.reason) {
				t.Errorf("got %d %q, want %d containing %q", status, body, tt.status, tt.reason)
			}
		})
	}
	// Allowed: a header token with the listed origin, or a query token
	// without any origin (not a browser).
	if _, _, err := wstest.DialErr(wsURL(a, "?access_token=s3cret")); err != nil {
		t.Errorf("query token refused: %v", err)
	}
	raw := wstest.RawHandshake(t, a.Addr(), "/ws?access_token=s3cret", nil)
	_ = raw.Close()
	waitMetric(t, base, `massconn_connections_rejected_total{reason="unauthorized",transport="ws"} 2`)
	waitMetric(t, base, `massconn_connections_rejected_total{reason="forbidden_origin",transport="ws"} 1`)
	waitMetric(t, base, `massconn_connections_rejected_total{reason="bad_after",transport="ws"} 2`)
	waitMetric(t, base, `massconn_connections_rejected_total{reason="unauthorized",transport="sse"} 0`)
}
