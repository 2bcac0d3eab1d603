// Package massconn is the k6 binding of the connection engine: the
// JavaScript module k6/x/massconn. One VU call opens and holds many
// WebSocket connections in Go; their numbers flow into k6's metrics.
package massconn

import "go.k6.io/k6/js/modules"

func init() {
	modules.Register("k6/x/massconn", New())
}
