package engine

import (
	"bytes"
	"fmt"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

// This file is the message layer both engines share: what happens to a
// received text message (raw mode or a protocol adapter), how an
// application message is counted and measured, and what a protocol's close
// code means. The event loops and the portable engine each implement
// protocol.Conn over their own write path and call in here.

// messageLayer is what a pool prepares once for its message path.
type messageLayer struct {
	latency       jsonfield.Path // zero: no latency measurement
	latUnit       time.Duration
	replySend     [][]byte // Replies[i].Send, converted once
	heartbeatText []byte
	// adapterBeat is set when the heartbeat period is the adapter's own
	// keep-alive (Phoenix) rather than a ping or a fixed text.
	adapterBeat bool
	// binary is set for a protocol.Binary adapter (MQTT): its messages
	// travel as binary WebSocket messages, in both directions.
	binary bool
}

// validateMessages checks the fields of the message layer; Validate calls it.
func (c Config) validateMessages(errs *fieldErrors) {
	if l := c.Latency; l != nil {
		switch {
		case l.Field != "" && l.Path != "":
			errs.add("Latency", nil, "has both a path and a field", "set %s or %s, not both (a field ts is the same as the path ts)",
				"Latency.Path", "Latency.Field")
		case l.Field == "" && l.Path == "":
			errs.add("Latency.Path", nil, "is required: the field holding the server's send time in each message",
				"e.g. ts or data.commit_timestamp (a number of %s since the Unix epoch, or an ISO 8601 string)", "Latency.Unit")
		case l.Path != "":
			if _, err := jsonfield.ParsePath(l.Path); err != nil {
				errs.add("Latency.Path", nil, err.Error(), "")
			}
		}
		if l.Unit <= 0 {
			errs.add("Latency.Unit", l.Unit, "must be a positive unit", "ns, us, ms or s")
		}
	}
	a := c.Protocol
	if a == nil {
		return
	}
	if c.Batched {
		errs.add("Batched", nil, fmt.Sprintf("applies to the raw mode only: the %s adapter splits batches itself", a.Name()), "")
	}
	if len(c.Replies) > 0 {
		errs.add("Replies", nil, fmt.Sprintf("apply to the raw mode only: the %s adapter answers the protocol's pings itself", a.Name()), "")
	}
	if a.Heartbeat() > 0 && c.Heartbeat.Every > 0 {
		period := "Protocol.Heartbeat"
		if protocol.IsBinary(a) {
			period = "Protocol.KeepAlive" // MQTT's name for it
		}
		errs.add("Heartbeat", nil, fmt.Sprintf("is not used: the %s adapter sends its own heartbeat every %v", a.Name(), a.Heartbeat()),
			"set its period in %s", period)
	}
	for i, raw := range c.URLs {
		if _, err := a.PrepareURL(raw); err != nil {
			errs.add(fmt.Sprintf("URLs[%d]", i), nil, err.Error(), "")
		}
	}
}

// withProtocol applies what the adapter needs to the configuration: its URL
// parameters, its subprotocol and its keep-alive period.
func (c Config) withProtocol() (Config, bool) {
	a := c.Protocol
	if a == nil {
		return c, false
	}
	urls := make([]string, len(c.URLs))
	for i, raw := range c.URLs {
		urls[i], _ = a.PrepareURL(raw) // validated
	}
	c.URLs = urls
	if len(c.Subprotocols) == 0 {
		c.Subprotocols = a.Subprotocols()
	}
	if every := a.Heartbeat(); every > 0 && c.Heartbeat.Every == 0 {
		c.Heartbeat = Heartbeat{Every: every}
		return c, true
	}
	return c, false
}

func newMessageLayer(c Config, adapterBeat bool) messageLayer {
	m := messageLayer{adapterBeat: adapterBeat}
	if c.Protocol != nil {
		m.binary = protocol.IsBinary(c.Protocol)
	}
	if l := c.Latency; l != nil {
		m.latUnit = l.Unit
		if l.Path != "" {
			m.latency, _ = jsonfield.ParsePath(l.Path) // validated
		} else {
			m.latency = jsonfield.Key(l.Field)
		}
	}
	m.heartbeatText = []byte(c.Heartbeat.Text)
	for _, r := range c.Replies {
		m.replySend = append(m.replySend, []byte(r.Send))
	}
	return m
}

// message handles one received, reassembled and inflated data message.
// An adapter gets the messages of an open session in its own kind (text,
// or binary for a Binary adapter) and nothing else. In raw mode a text
// message of an open session is read; anything else (binary, or text
// arriving while the session ends) is only counted, since there every
// message is an application message.
func (p *Pool) message(s *shard, st *protocol.State, text, open bool, msg []byte, out protocol.Conn) {
	if a := p.cfg.Protocol; a != nil {
		if open && text != p.msgs.binary {
			a.Message(st, msg, out)
		}
		return
	}
	if !text || !open {
		s.received.Add(1)
		return
	}
	p.text(msg, out)
}

// dataOp is the opcode of the messages the pool sends: binary for a
// Binary adapter, text otherwise.
func (p *Pool) dataOp() byte {
	if p.msgs.binary {
		return wsproto.OpBinary
	}
	return wsproto.OpText
}

// lineEnd and carriageReturn split a batched raw-mode message into lines
// (LF or CRLF).
var (
	lineEnd        = []byte{'\n'}
	carriageReturn = []byte{'\r'}
)

// text handles one received raw-mode text message of an open connection.
func (p *Pool) text(msg []byte, out protocol.Conn) {
	if !p.cfg.Batched {
		p.raw(msg, out)
		return
	}
	for len(msg) > 0 {
		var line []byte
		line, msg, _ = bytes.Cut(msg, lineEnd)
		if line = bytes.TrimSuffix(line, carriageReturn); len(line) > 0 {
			p.raw(line, out)
		}
	}
}

// raw counts one raw-mode message and answers it if a reply matches.
func (p *Pool) raw(msg []byte, out protocol.Conn) {
	out.Deliver(msg)
	for i := range p.cfg.Replies {
		r := &p.cfg.Replies[i]
		if string(msg) == r.Match || (r.Prefix && len(msg) >= len(r.Match) && string(msg[:len(r.Match)]) == r.Match) {
			out.Send(p.msgs.replySend[i])
			return
		}
	}
}

// oneScan is the fields deliver reads from every application message, when
// each is one top-level key: then one pass over the message finds them all
// (jsonfield.LookupKeys) instead of a pass per field. With the benchmark's
// latency on ts and sequence check on id per topic, that is one pass
// instead of three.
type oneScan struct {
	keys                   []string
	latency, number, group int // index in keys, -1 = not read
}

// newOneScan prepares the one pass, or returns nil when a field in use is
// not a single top-level key (or fewer than two fields are read).
func newOneScan(latency jsonfield.Path, seq *sequencer) *oneScan {
	o := &oneScan{latency: -1, number: -1, group: -1}
	add := func(p jsonfield.Path, at *int) bool {
		if p.IsZero() {
			return true
		}
		k, ok := p.TopKey()
		*at = len(o.keys)
		o.keys = append(o.keys, k)
		return ok
	}
	ok := add(latency, &o.latency)
	if seq != nil {
		ok = add(seq.path, &o.number) && ok
		ok = add(seq.per, &o.group) && ok
	}
	if !ok || len(o.keys) < 2 {
		return nil
	}
	return o
}

// deliver counts one application message of connection idx, checks its
// sequence number and measures its latency.
func (p *Pool) deliver(s *shard, idx int64, wall int64, payload []byte) {
	s.received.Add(1)
	if o := p.scan; o != nil {
		p.deliverScanned(s, o, idx, wall, payload)
		return
	}
	if p.seq != nil {
		p.seq.observe(s, idx, payload)
	}
	m := &p.msgs
	if m.latency.IsZero() || len(payload) == 0 {
		return
	}
	if ts, ok := m.latency.Timestamp(payload, m.latUnit); ok {
		s.latencySample(max(time.Duration(wall-ts), 0), p.cfg.SampleLimit)
	}
}

// deliverScanned is deliver's checks with the fields read in one pass.
func (p *Pool) deliverScanned(s *shard, o *oneScan, idx int64, wall int64, payload []byte) {
	var vals [3][]byte
	found := jsonfield.LookupKeys(payload, o.keys, vals[:len(o.keys)])
	at := func(i int) ([]byte, bool) {
		if i < 0 || found&(1<<i) == 0 {
			return nil, false
		}
		return vals[i], true
	}
	if p.seq != nil {
		n, nOK := at(o.number)
		g, gOK := at(o.group)
		p.seq.observeValues(s, idx, n, nOK, g, gOK)
	}
	if raw, ok := at(o.latency); ok {
		if ts, ok := jsonfield.TimestampValue(raw, p.msgs.latUnit); ok {
			s.latencySample(max(time.Duration(wall-ts), 0), p.cfg.SampleLimit)
		}
	}
}

// serverClosed counts the end of a session the server closed with code:
// the protocol's refusal (a rejection; the session ended) or a drop with
// that code. It reports whether it was a refusal, which the engines do
// not redial: the server said no, and asking again at once would only
// repeat the answer.
func (p *Pool) serverClosed(s *shard, st *protocol.State, code int, session time.Duration) (refused bool) {
	if a := p.cfg.Protocol; a != nil {
		if name, ok := a.Closed(st, code); ok {
			s.reject(name)
			s.endSession(session, p.cfg.SampleLimit)
			return true
		}
	}
	s.drop(code, session, p.cfg.SampleLimit)
	return false
}

// opened starts the message layer of connection idx once the WebSocket
// handshake is done: the OnOpenSend message first, then the adapter's
// opening on a fresh protocol state.
func (p *Pool) opened(st *protocol.State, idx int64, out protocol.Conn) {
	if msg := p.onOpenMessage(idx); msg != nil {
		out.Send(msg)
	}
	*st = protocol.State{}
	if a := p.cfg.Protocol; a != nil {
		a.Open(st, out)
	}
}

// beatText sends one text heartbeat on an open connection: the fixed text
// or the adapter's keep-alive. (Ping heartbeats are frames each engine
// sends itself.)
func (p *Pool) beatText(st *protocol.State, out protocol.Conn) {
	if p.msgs.adapterBeat {
		p.cfg.Protocol.Beat(st, out)
		return
	}
	out.Send(p.msgs.heartbeatText)
}
