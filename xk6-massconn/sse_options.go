package massconn

import (
	"github.com/massconn/massconn/xk6-massconn/engine"
)

// sseKeys are the keys of sse: {...} (index.d.ts's SSE).
var sseKeys = []string{"events"}

// parseSSEOptions reads the options of EventSource (http:// and https://)
// pools: sse: {events: [...]} and idleTimeout. The engine checks that they
// are used with such URLs only.
func parseSSEOptions(m map[string]any, c *engine.Config) error {
	if v, ok := m["idleTimeout"]; ok {
		d, err := duration("idleTimeout", v)
		if err != nil {
			return err
		}
		c.IdleTimeout = d
	}
	v, ok := m["sse"]
	if !ok || v == nil {
		return nil
	}
	sm, ok := v.(map[string]any)
	if !ok {
		return badOption("sse", "must be an object such as {events: ['message', 'update']}, got %s", describe(v))
	}
	if err := checkKeys("sse.", sm, sseKeys); err != nil {
		return err
	}
	events, err := stringList("sse.events", sm["events"], true)
	if err != nil {
		return err
	}
	c.SSE = &engine.SSE{Events: events}
	return nil
}
