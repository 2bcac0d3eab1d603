package wsapi

import (
	_ "embed"
	"net/http"
)

//go:embed status.html
var statusPage []byte

// serveStatusPage serves a page that polls /healthz every second, so the
// numbers move without a reload.
func serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(statusPage)
}
