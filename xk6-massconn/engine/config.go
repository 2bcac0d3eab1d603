// Package engine opens and holds many WebSocket client connections without a
// goroutine or a JavaScript runtime per connection. It knows nothing of k6:
// the k6 binding (package massconn, one directory up) turns its counters and
// reports into k6 metrics.
package engine

import (
	"crypto/tls"
	"net/http"
	"net/netip"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/program"
	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// Config describes one pool: a batch of connections opened by one call.
type Config struct {
	URLs           []string     // ws:// or wss:// targets (or http:// and https:// EventSource ones, see SSE), used round-robin
	Connections    int          // how many connections to open
	Rate           float64      // new connection attempts per second; 0 = as fast as allowed
	MaxInFlight    int          // handshakes in progress at once; 0 = default (1000)
	LocalAddrs     []netip.Addr // source addresses, used round-robin; empty = kernel's choice
	ConnectTimeout time.Duration
	Header         http.Header
	Subprotocols   []string
	TLS            *tls.Config // wss:// only; nil = system roots, server name from the URL
	// Resolver gives each target's addresses (resolve.go); nil = Go's
	// default resolver, one address per target.
	Resolver Resolver

	// OnOpenSend is a text message sent once after the handshake.
	OnOpenSend string

	// Per-connection templates (package template): in OnOpenSend, URLs
	// (path and query), Header values and the Protocol adapter's options,
	// {{conn}} is the connection's index, ConnOffset + its slot in the
	// pool (a reconnect of the slot keeps it), {{vu}} is VU, and {{data}}
	// or {{data.FIELD}} is a cell of row {{conn}} mod Data.Len() of Data.
	ConnOffset int64
	VU         int64
	Data       *template.Data // nil = no rows; a template naming them is an error

	Heartbeat Heartbeat
	Replies   []Reply
	Latency   *LatencySpec  // nil: no latency measurement
	Sequence  *SequenceSpec // nil: no sequence check (see sequence.go)

	// Protocol speaks a realtime protocol on top of WebSocket (see package
	// protocol); nil is the raw mode, where every text message counts and
	// Replies answer them.
	Protocol protocol.Adapter
	// Batched (raw mode) treats a text message as newline-delimited
	// messages: each non-empty line is counted, measured and matched
	// against Replies on its own.
	Batched   bool
	Reconnect bool // reopen a connection that dropped after it was open

	// MaxMessageSize bounds a received message (after reassembly and
	// inflation); 0 = DefaultMaxMessageSize. Over it the client closes
	// with 1009 and counts ReasonProtocol.
	MaxMessageSize int64
	// SendQueueLimit bounds the bytes waiting for a connection's socket
	// to take them; 0 = DefaultSendQueueLimit. Over it the connection is
	// closed and counted as ReasonBackpressure.
	SendQueueLimit int
	// Compression offers permessage-deflate without context takeover
	// (wsproto.DeflateOffer). A server that accepts it but insists on
	// context takeover fails the attempt with ReasonCompression.
	Compression bool

	// Steps is a program every connection runs from the moment its session
	// opens (see package program); nil = none. Lifetime makes sessions close
	// themselves and reopen (churn); it implies Reconnect.
	Steps    []program.Step
	Lifetime Lifetime

	// SSE: EventSource connections (http:// and https:// URLs, see
	// sse_config.go). SSE filters their events by type (nil: every
	// event); IdleTimeout drops a stream silent for that long (0: never).
	SSE         *SSE
	IdleTimeout time.Duration

	// SampleLimit bounds how many duration values (latency, connecting,
	// session) one Drain returns per kind; counts stay exact.
	SampleLimit int
}

// Heartbeat sends a ping frame or a text message on every open connection at
// a fixed interval. Every == 0 disables it.
type Heartbeat struct {
	Every time.Duration
	Ping  bool
	Text  string
}

// Reply answers a server text message that equals Match (or starts with it,
// when Prefix is set) with Send.
type Reply struct {
	Match  string
	Prefix bool
	Send   string
}

// LatencySpec reads a server timestamp from every application message (the
// whole JSON text message in raw mode, the adapter's payload otherwise) and
// measures now minus that timestamp. Path is a dotted path with array
// indices ("data.commit_timestamp", "rows[0].ts"); Field names a top-level
// field literally. Set one of them. A number counts Unit since the Unix
// epoch; a string is read as RFC 3339 / ISO 8601 whatever the Unit.
type LatencySpec struct {
	Field string
	Path  string
	Unit  time.Duration // time.Microsecond for "us", time.Millisecond for "ms", ...
}

// Failure reasons, as reported in Stats.Failures and Report.Failures.
// HTTP handshake rejections are reported as "http_<status>", e.g. "http_503".
const (
	ReasonTimeout      = "timeout"
	ReasonRefused      = "refused"
	ReasonReset        = "reset"
	ReasonAddrNotAvail = "eaddrnotavail"
	ReasonTooManyFiles = "emfile"
	ReasonHandshake    = "handshake"
	ReasonProtocol     = "protocol"
	ReasonTLS          = "tls"
	// ReasonRejected is a refusal at the protocol level (a connect error,
	// a join error, ...); Stats.Rejections and Report.Rejections count it
	// by the protocol's code, e.g. "centrifugo_3500".
	ReasonRejected     = "rejected"
	ReasonBackpressure = "backpressure"
	ReasonCompression  = "compression"
	// ReasonContentType: see sse_config.go.
)

// Stats is a snapshot of a pool's exact counters.
type Stats struct {
	Attempted int64
	Open      int64
	Failed    int64
	Dropped   int64
	Received  int64
	Sent      int64
	Failures  map[string]int64
	// Rejections splits Failures["rejected"] by the protocol's code.
	Rejections map[string]int64
	RTTCount   int64 // expect steps answered (Config.Steps)
	Churn      int64 // sessions that closed themselves to reopen (Config.Lifetime)
}

// Report holds what happened since the previous Drain. Counts are exact;
// the duration slices are uniform samples bounded by Config.SampleLimit.
type Report struct {
	Attempted     int64           // connection attempts started (first ones and reconnects)
	Opened        int64           // handshakes completed
	Connecting    []time.Duration // sample of TCP connect + handshake durations
	Failures      map[string]int64
	Rejections    map[string]int64 // Failures["rejected"] by the protocol's code
	Drops         map[int]int64    // unexpected closes after open, by close code (1006 = no close frame)
	SessionsEnded int64
	Sessions      []time.Duration // sample of durations of sessions that ended
	Received      int64           // messages
	Sent          int64
	BytesReceived int64
	BytesSent     int64
	LatencyCount  int64
	Latencies     []time.Duration // sample
	LatencyMax    time.Duration
	// Programs (Config.Steps): RTTCount expect steps were answered, RTTs
	// samples the time from the previous send step to the answer.
	RTTCount int64
	RTTs     []time.Duration
	RTTMax   time.Duration
	// Heartbeat pings (Heartbeat.Ping): PingCount were answered by a
	// pong, Pings samples their round trips (ping.go).
	PingCount int64
	Pings     []time.Duration
	PingMax   time.Duration
	Churn     int64          // sessions that closed themselves to reopen (Config.Lifetime)
	Sequence  SequenceCounts // the sequence check's counters, when it is on
	SSE       SSEReport      // EventSource connections only (sse_config.go)
}
