package engine

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
)

// Server-Sent Events: an http:// or https:// URL in Config.URLs opens an
// EventSource connection instead of a WebSocket (sse.go parses the stream,
// sse_http.go frames it, sse_linux.go runs it on the event loops). One
// event is one application message.

// SSE configures EventSource connections.
type SSE struct {
	// Events lists the event types counted as messages ("message" is the
	// type of an event without an event: line); empty = every event.
	Events []string
}

// Reasons of EventSource connections. An attempt whose response is not
// 200 fails with "http_<status>" (as a WebSocket upgrade does), one whose
// Content-Type is not text/event-stream with ReasonContentType; a 204
// stops the connection's reconnects, as browsers do. An open stream that
// ends is a drop: DropIdle after Config.IdleTimeout of silence,
// DropClosed when the server ended it, DropReset on a socket error.
const (
	ReasonContentType = "content_type"

	DropIdle   = "idle"
	DropClosed = "closed"
	DropReset  = "reset"
)

// DefaultSSERetry is the reconnection time of a stream whose server sent no
// retry: field, the value browsers use.
const DefaultSSERetry = 3 * time.Second

// SSEReport is what EventSource connections did since the previous Drain.
type SSEReport struct {
	// Drops counts the ends of open streams by reason (DropIdle, ...).
	Drops map[string]int64
	// Silences samples, per ended session, its longest stretch without a
	// received byte (event or comment); SilenceCount counts them and
	// SilenceMax is the exact maximum.
	Silences     []time.Duration
	SilenceCount int64
	SilenceMax   time.Duration
	Comments     int64 // comment lines (keep-alives) received
}

// usesSSE reports whether c's URLs are EventSource URLs (all of them:
// validateSSE refuses a mix).
func (c Config) usesSSE() bool {
	return len(c.URLs) > 0 && isSSEURL(c.URLs[0])
}

func isSSEURL(raw string) bool {
	scheme, _, _ := strings.Cut(raw, "://")
	return strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")
}

// validateSSE checks the options of EventSource connections, and refuses
// the ones that only a WebSocket has: an EventSource sends nothing after
// its request.
func (c Config) validateSSE(errs *fieldErrors) {
	if c.IdleTimeout < 0 {
		errs.add("IdleTimeout", c.IdleTimeout, "must be a positive duration", "e.g. 30s")
	}
	sse := 0
	for _, u := range c.URLs {
		if isSSEURL(u) {
			sse++
		}
	}
	if sse == 0 {
		if c.SSE != nil {
			errs.add("SSE", nil, "applies to http:// and https:// (EventSource) URLs only", "")
		}
		if c.IdleTimeout > 0 {
			errs.add("IdleTimeout", c.IdleTimeout, "applies to http:// and https:// (EventSource) URLs only", "")
		}
		return
	}
	if sse != len(c.URLs) {
		errs.add("URLs", nil, "mixes ws:// and http:// URLs", "open the EventSource and the WebSocket connections in two pools")
		return
	}
	if runtime.GOOS != "linux" {
		errs.add("URLs", nil, "http:// and https:// (EventSource) connections run in the epoll event loops, which are Linux only", "")
	}
	if s := c.SSE; s != nil {
		for i, e := range s.Events {
			if e == "" || strings.ContainsAny(e, "\r\n") {
				errs.add(fmt.Sprintf("SSE.Events[%d]", i), e, "must be an event type (one line, not empty)", "e.g. message")
			}
		}
	}
	notForSSE := func(field, what string) {
		errs.add(field, nil, fmt.Sprintf("is not available for http:// (EventSource) URLs: %s", what), "remove it, or use a ws:// URL")
	}
	if c.Protocol != nil {
		notForSSE("Protocol", "an EventSource speaks no protocol on top")
	}
	if c.Heartbeat.Every > 0 || c.Heartbeat.Ping || c.Heartbeat.Text != "" {
		notForSSE("Heartbeat", "an EventSource sends nothing after its request")
	}
	if len(c.Replies) > 0 {
		notForSSE("Replies", "an EventSource sends nothing after its request")
	}
	if c.OnOpenSend != "" {
		notForSSE("OnOpenSend", "an EventSource sends nothing after its request")
	}
	if len(c.Subprotocols) > 0 {
		notForSSE("Subprotocols", "they are a WebSocket handshake header")
	}
	if c.Compression {
		notForSSE("Compression", "permessage-deflate is a WebSocket extension")
	}
	if c.Batched {
		notForSSE("Batched", "one event is one message")
	}
	for i, s := range c.Steps {
		if s.Kind == program.Send {
			notForSSE(fmt.Sprintf("Steps[%d].Text", i), "an EventSource sends nothing after its request")
		}
	}
}

// sseShard holds one event loop's share of the EventSource counters; like
// shard, only that loop writes it.
type sseShard struct {
	comments atomic.Int64

	mu         sync.Mutex
	drops      map[string]int64 // since the previous Drain
	silence    reservoir
	silenceMax time.Duration
}

func (s *sseShard) dropped(reason string) {
	s.mu.Lock()
	if s.drops == nil {
		s.drops = map[string]int64{}
	}
	s.drops[reason]++
	s.mu.Unlock()
}

func (s *sseShard) silenceSample(d time.Duration, limit int, rng *uint64) {
	s.mu.Lock()
	s.silenceMax = max(s.silenceMax, d)
	s.silence.add(d, limit, rng)
	s.mu.Unlock()
}

// drainSSE fills r.SSE with what happened since the previous Drain; Drain
// calls it under drainMu.
func (p *Pool) drainSSE(r *Report) {
	if !p.cfg.usesSSE() {
		return
	}
	out := SSEReport{Drops: map[string]int64{}}
	parts := make([]reservoir, len(p.shards))
	for i := range p.shards {
		s := &p.shards[i].sse
		out.Comments += s.comments.Swap(0)
		s.mu.Lock()
		for reason, n := range s.drops {
			out.Drops[reason] += n
		}
		s.drops = nil
		parts[i] = s.silence.take()
		out.SilenceCount += parts[i].seen
		out.SilenceMax = max(out.SilenceMax, s.silenceMax)
		s.silenceMax = 0
		s.mu.Unlock()
	}
	out.Silences = mergeSamples(parts, p.cfg.SampleLimit, &p.drainRng)
	r.SSE = out
}

// Transport names what the pool's connections speak, for a metric tag:
// "sse" for http:// and https:// URLs, "ws" for ws:// and wss://.
func (p *Pool) Transport() string {
	if p.cfg.usesSSE() {
		return "sse"
	}
	return "ws"
}
