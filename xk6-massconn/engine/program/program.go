// Package program runs a small per-connection script (send, expect, sleep,
// goto, close) without a JavaScript runtime per connection. A pool compiles
// its steps once into an immutable Program that every connection and every
// event loop share; what one connection needs to remember is a State of 32
// bytes: its position, its loop counters, one timer and the time of its
// last send.
//
// The package knows nothing of sockets: the engine calls Start when a
// session opens, Message for every application message, and Tick from its
// periodic scan, and the program acts through the Host the engine passes.
package program

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine/field"
	"github.com/massconn/massconn/xk6-massconn/engine/jsonfield"
	conntemplate "github.com/massconn/massconn/xk6-massconn/engine/template"
)

// Kind is what a step does.
type Kind uint8

// Step kinds.
const (
	Send Kind = iota + 1
	Expect
	Sleep
	Goto
	Close
)

// What an expect does when its timeout passes.
const (
	OnTimeoutContinue = "continue"
	OnTimeoutClose    = "close"
)

// MaxCountedGotos bounds how many goto steps with Times one program may
// hold: each has a counter in every connection's State.
const MaxCountedGotos = 3

// MaxSteps bounds a program's length (positions are 16-bit).
const MaxSteps = 4096

// Step is one step as the user wrote it; Compile checks and prepares it.
type Step struct {
	Kind Kind

	// Send: Text is a template; with Binary it is base64 of the payload.
	Text   string
	Binary bool
	// QoS is the delivery level a protocol with levels gives the message
	// (MQTT: 0 or 1); 0 for every other protocol.
	QoS uint8

	// Expect: Match is the message (or its start, with Prefix); with Path,
	// the JSON value at Path must equal Equals (a string value is compared
	// without its quotes, any other value as its JSON text).
	Match     string
	Prefix    bool
	Path      string
	Equals    string
	Timeout   time.Duration // 0 = wait forever
	OnTimeout string        // OnTimeoutContinue (default) or OnTimeoutClose

	// Sleep: a fixed time (Min == Max) or uniform in [Min, Max].
	Min, Max time.Duration

	// Goto: jump to step Target; with Times > 0, only that many times,
	// then fall through (the counter resets, so an enclosing loop can run
	// it again).
	Target int
	Times  int

	// Close: the close code sent (1000 when 0).
	Code int
}

// Program is a compiled, immutable list of steps.
type Program struct {
	steps []step
}

type step struct {
	kind    Kind
	binary  bool
	qos     uint8
	prefix  bool
	onClose bool // expect: close on timeout
	counter int8 // goto: index into State.Loops, -1 = unbounded
	tmpl    template
	payload []byte // binary send, or expect match / equals
	path    jsonfield.Path
	timeout int64 // ns
	min     int64 // ns
	span    int64 // ns: max - min
	target  uint16
	times   uint16
	code    int
}

// Len is the number of steps.
func (p *Program) Len() int { return len(p.steps) }

// StepError is one problem Compile finds, naming the step by its index
// and the Step field by its Go name (Field "" is the step, or with Step -1
// the whole program).
type StepError struct {
	Step   int    // index in the steps; -1 = the program as a whole
	Field  string // Go name of the Step field at fault, e.g. "Target"
	Value  any    // the value at fault; nil when showing it would not help
	Reason string
	Fix    string   // each %s stands for the next of Refs
	Refs   []string // Go names of the Step fields Fix names
}

// FieldError places the problem in the engine's Config, whose Steps field
// holds the program: "Steps[3].Target".
func (e *StepError) FieldError() *field.Error {
	refs := make([]string, len(e.Refs))
	for i, r := range e.Refs {
		refs[i] = e.path(r)
	}
	return &field.Error{Field: e.path(e.Field), Value: e.Value, Reason: e.Reason, Fix: e.Fix, Refs: refs}
}

func (e *StepError) path(stepField string) string {
	p := "Steps"
	if e.Step >= 0 {
		p = fmt.Sprintf("Steps[%d]", e.Step)
	}
	if stepField != "" {
		p += "." + stepField
	}
	return p
}

func (e *StepError) Error() string { return e.FieldError().Error() }

// Compile checks every step and prepares the program. Its error joins
// StepErrors (errors.Join), one per problem: "Steps[3].Target: target 9 is
// past the end (the program has 6 steps: 0-5)".
func Compile(steps []Step) (*Program, error) {
	var errs []error
	bad := func(e StepError) { errs = append(errs, &e) }
	if len(steps) == 0 {
		return nil, &StepError{Step: -1, Reason: "the program is empty", Fix: "give at least one step, such as a send"}
	}
	if len(steps) > MaxSteps {
		return nil, &StepError{Step: -1, Reason: fmt.Sprintf("has %d steps, at most %d", len(steps), MaxSteps)}
	}
	p := &Program{steps: make([]step, len(steps))}
	counted := 0
	for i, s := range steps {
		out := &p.steps[i]
		out.kind = s.Kind
		switch s.Kind {
		case Send:
			if s.Binary {
				b, err := base64.StdEncoding.DecodeString(s.Text)
				if err != nil {
					bad(StepError{Step: i, Field: "Text", Reason: fmt.Sprintf("is not base64: %v", err),
						Fix: "give base64 text, or turn off %s for a text message", Refs: []string{"Binary"}})
				}
				out.binary, out.payload = true, b
				break
			}
			t, err := parseTemplate(s.Text)
			if err != nil {
				bad(StepError{Step: i, Field: "Text", Reason: err.Error()})
			}
			out.tmpl, out.qos = t, s.QoS
		case Expect:
			switch {
			case s.Path != "":
				path, err := jsonfield.ParsePath(s.Path)
				if err != nil {
					bad(StepError{Step: i, Field: "Path", Reason: err.Error()})
				}
				if s.Match != "" || s.Prefix {
					bad(StepError{Step: i, Field: "Match", Reason: "is set together with a JSON path",
						Fix: "compare the whole message (%s) or one field (%s and %s), not both", Refs: []string{"Match", "Path", "Equals"}})
				}
				out.path = path
				out.tmpl, out.payload = expectTemplate(i, "Equals", s.Equals, bad)
			case s.Equals != "":
				bad(StepError{Step: i, Field: "Equals", Reason: "needs a path: the JSON field to compare",
					Fix: "set %s, e.g. type", Refs: []string{"Path"}})
			case s.Match == "" && !s.Prefix:
				// An empty match without prefix would wait for an empty
				// message; an expect that takes any message is written
				// {expect: '', prefix: true}.
				bad(StepError{Step: i, Field: "Match", Reason: "must not be empty",
					Fix: "turn on %s with an empty text to take any message", Refs: []string{"Prefix"}})
			default:
				out.tmpl, out.payload = expectTemplate(i, "Match", s.Match, bad)
				out.prefix = s.Prefix
			}
			if s.Timeout < 0 {
				bad(StepError{Step: i, Field: "Timeout", Value: s.Timeout, Reason: "must be a duration >= 0", Fix: "e.g. 5s"})
			}
			out.timeout = int64(s.Timeout)
			switch s.OnTimeout {
			case "", OnTimeoutContinue:
			case OnTimeoutClose:
				out.onClose = true
			default:
				bad(StepError{Step: i, Field: "OnTimeout", Value: s.OnTimeout,
					Reason: fmt.Sprintf("must be '%s' or '%s'", OnTimeoutContinue, OnTimeoutClose)})
			}
			if s.OnTimeout != "" && s.Timeout == 0 {
				bad(StepError{Step: i, Field: "OnTimeout", Reason: "needs a timeout", Fix: "set %s", Refs: []string{"Timeout"}})
			}
		case Sleep:
			if s.Min < 0 || s.Max < s.Min {
				bad(StepError{Step: i, Field: "Min", Reason: fmt.Sprintf("needs 0 <= min <= max, got min %v max %v", s.Min, s.Max)})
			}
			out.min, out.span = int64(s.Min), int64(s.Max-s.Min)
		case Goto:
			switch {
			case s.Target < 0:
				bad(StepError{Step: i, Field: "Target", Reason: fmt.Sprintf("target %d is negative", s.Target), Fix: "steps are numbered from 0"})
			case s.Target >= len(steps):
				bad(StepError{Step: i, Field: "Target",
					Reason: fmt.Sprintf("target %d is past the end (the program has %d steps: 0-%d)", s.Target, len(steps), len(steps)-1)})
			}
			if s.Times < 0 || s.Times > 65535 {
				bad(StepError{Step: i, Field: "Times", Value: s.Times, Reason: "must be between 1 and 65535", Fix: "or 0 for a loop without end"})
			}
			out.target, out.times, out.counter = uint16(s.Target), uint16(s.Times), -1
			if s.Times > 0 {
				if counted == MaxCountedGotos {
					bad(StepError{Step: i, Field: "Times", Reason: fmt.Sprintf("at most %d gotos with times per program", MaxCountedGotos)})
				}
				out.counter = int8(counted)
				counted++
			} else if s.Target <= i && !blocksBetween(steps, s.Target, i) {
				bad(StepError{Step: i, Field: "Target",
					Reason: fmt.Sprintf("loops to step %d without an expect or a sleep in between: it would spin", s.Target),
					Fix:    "add a sleep step such as 1s, or set %s", Refs: []string{"Times"}})
			}
		case Close:
			code := s.Code
			if code == 0 {
				code = 1000
			}
			if code != 1000 && (code < 3000 || code > 4999) {
				bad(StepError{Step: i, Field: "Code", Reason: fmt.Sprintf("code %d: a client may send 1000 or an application code 3000-4999", code)})
			}
			out.code = code
		default:
			bad(StepError{Step: i, Field: "Kind", Reason: "a step needs one of send, expect, sleep, goto, close"})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// expectTemplate compiles an expect's text: a literal (returned as
// payload, compared as it is) or a template of {{conn}}, {{vu}}, {{data}}
// and {{seq}}
// (the seq of the previous send), rendered per comparison.
func expectTemplate(i int, field, text string, bad func(StepError)) (template, []byte) {
	t, err := parseTemplate(text)
	if err != nil {
		bad(StepError{Step: i, Field: field, Reason: err.Error()})
		return template{}, nil
	}
	if len(t.parts) <= 1 && (len(t.parts) == 0 || t.parts[0].kind == litPart) {
		return template{}, []byte(text)
	}
	for _, p := range t.parts {
		if p.kind == nowMsVar || p.kind == nowUsVar || p.kind == randVar {
			bad(StepError{Step: i, Field: field, Reason: "only {{conn}}, {{vu}}, {{data}} and {{seq}} can be expected: the others change on every use"})
		}
	}
	return t, nil
}

// CheckData tells whether every row of d has what the program's
// {{data}} and {{data.FIELD}} variables name (d nil: the program names
// none), so that no step renders an empty value. Its errors name the step.
func (p *Program) CheckData(d *conntemplate.Data) error {
	var errs []error
	for i, s := range p.steps {
		for _, part := range s.tmpl.parts {
			if part.kind != dataVar {
				continue
			}
			if err := part.data.Check(d); err != nil {
				field := "Text"
				if s.kind == Expect {
					field = "Match"
					if !s.path.IsZero() {
						field = "Equals"
					}
				}
				errs = append(errs, &StepError{Step: i, Field: field, Reason: err.Error()})
				break
			}
		}
	}
	return errors.Join(errs...)
}

// blocksBetween reports whether steps[from..to] holds an expect or a sleep.
func blocksBetween(steps []Step, from, to int) bool {
	for _, s := range steps[from : to+1] {
		if s.Kind == Expect || s.Kind == Sleep {
			return true
		}
	}
	return false
}

// State is one connection's position in the program. The engine keeps it
// inside its connection and zeroes it when a session opens.
type State struct {
	LastSend int64 // mono ns of the last send step; 0 = none yet
	Wake     int64 // mono ns: end of a sleep, or an expect's timeout; 0 = none
	Seq      uint32
	PC       uint16 // current step; == Len() when the program has ended
	Loops    [MaxCountedGotos]uint16
	// LifeEnd is the session's lifetime end in ms of the engine's
	// monotonic clock (0 = none): 32 bits hold 49 days.
	LifeEnd uint32
}

// Host is what a program can do on its connection. The engine implements
// it; calls happen on the connection's own goroutine or event loop.
type Host interface {
	// SendText sends a text message (through the protocol adapter, if
	// any, at the step's QoS); SendBinary a binary one.
	SendText(b []byte, qos uint8)
	SendBinary(b []byte)
	// Close starts the close handshake with code; the program stops.
	Close(code int)
	// RTT records one request/response time.
	RTT(d time.Duration)
	// ExpectTimeout counts one expect that timed out.
	ExpectTimeout()
}

// Env is what templates and random draws need on this call.
type Env struct {
	Now  int64 // monotonic ns (timers, RTT)
	Wall int64 // Unix ns ({{now_ms}}, {{now_us}})
	Conn int64
	VU   int64
	Rng  *uint64            // the caller's generator
	Data *conntemplate.Data // rows of {{data}}; CheckData has checked them
	Buf  *[]byte            // scratch for rendered messages, owned by the caller
	Host Host               // where the program acts
}

// maxRun bounds the steps one call runs, as a guard: Compile already
// rejects loops without an expect or a sleep, but counted gotos can nest.
const maxRun = 1 << 16

// Start runs a newly opened session's program up to its first wait.
func (p *Program) Start(st *State, e *Env) {
	life := st.LifeEnd
	*st = State{LifeEnd: life}
	p.run(st, e)
}

// Waiting reports whether the program waits for a message.
func (p *Program) Waiting(st *State) bool {
	return int(st.PC) < len(p.steps) && p.steps[st.PC].kind == Expect
}

// Message offers an application message to the program; it reports whether
// an expect took it (the message's RTT was recorded).
func (p *Program) Message(st *State, msg []byte, e *Env) bool {
	if !p.Waiting(st) {
		return false
	}
	s := &p.steps[st.PC]
	if !s.matches(msg, st, e) {
		return false
	}
	if st.LastSend != 0 {
		e.Host.RTT(time.Duration(max(e.Now-st.LastSend, 0)))
	}
	st.Wake = 0
	st.PC++
	p.run(st, e)
	return true
}

// Tick runs timers that are due: the end of a sleep, an expect's timeout.
// The engine calls it from its periodic scan.
func (p *Program) Tick(st *State, e *Env) {
	if st.Wake == 0 || e.Now < st.Wake || int(st.PC) >= len(p.steps) {
		return
	}
	st.Wake = 0
	s := &p.steps[st.PC]
	if s.kind == Expect {
		e.Host.ExpectTimeout()
		if s.onClose {
			st.PC = uint16(len(p.steps))
			e.Host.Close(1000)
			return
		}
	}
	st.PC++
	p.run(st, e)
}

// run executes steps from st.PC until one waits or the program ends.
func (p *Program) run(st *State, e *Env) {
	for n := 0; int(st.PC) < len(p.steps) && n < maxRun; n++ {
		s := &p.steps[st.PC]
		switch s.kind {
		case Send:
			if s.binary {
				e.Host.SendBinary(s.payload)
			} else {
				*e.Buf = s.tmpl.render((*e.Buf)[:0], st.Seq, e)
				e.Host.SendText(*e.Buf, s.qos)
			}
			st.Seq++
			st.LastSend = e.Now
		case Expect:
			if s.timeout > 0 {
				st.Wake = e.Now + s.timeout
			}
			return
		case Sleep:
			d := s.min
			if s.span > 0 {
				d += int64(next(e.Rng) % uint64(s.span+1))
			}
			if d > 0 {
				st.Wake = e.Now + d
				return
			}
		case Goto:
			if s.counter < 0 {
				st.PC = s.target
				continue
			}
			c := &st.Loops[s.counter]
			if *c < s.times {
				*c++
				st.PC = s.target
				continue
			}
			*c = 0
		case Close:
			st.PC = uint16(len(p.steps))
			e.Host.Close(s.code)
			return
		}
		st.PC++
	}
}

func (s *step) matches(msg []byte, st *State, e *Env) bool {
	want := s.payload
	if s.tmpl.parts != nil {
		var buf [64]byte
		want = s.tmpl.render(buf[:0], st.Seq-1, e)
	}
	if !s.path.IsZero() {
		v, ok := s.path.Lookup(msg)
		if !ok {
			return false
		}
		if str, isStr := jsonfield.String(v); isStr {
			return bytes.Equal(str, want)
		}
		return bytes.Equal(v, want)
	}
	if s.prefix {
		return bytes.HasPrefix(msg, want)
	}
	return bytes.Equal(msg, want)
}

// next is splitmix64, the engine's generator.
func next(s *uint64) uint64 {
	*s += 0x9E3779B97F4A7C15
	z := *s
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Uniform draws a duration uniformly in [lo, hi] from rng.
func Uniform(rng *uint64, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(next(rng)%uint64(hi-lo+1))
}

// template is a message with variables, split once at Compile.
type template struct {
	parts []part
}

type varKind uint8

const (
	litPart varKind = iota
	connVar
	vuVar
	seqVar
	nowMsVar
	nowUsVar
	randVar
	dataVar
)

type part struct {
	kind varKind
	lit  []byte
	n    uint64                 // rand:N
	data *conntemplate.Template // {{data}} or {{data.FIELD}}, rendered by the shared template package
}

// Variables lists the names a template may use, for error messages.
const Variables = "{{conn}}, {{vu}}, {{data}}, {{data.FIELD}}, {{seq}}, {{now_ms}}, {{now_us}}, {{rand:N}}"

func parseTemplate(text string) (template, error) {
	var t template
	err := conntemplate.Scan(text, func(lit string) {
		t.parts = append(t.parts, part{lit: []byte(lit)})
	}, func(name string) error {
		p, err := variable(name)
		t.parts = append(t.parts, p)
		return err
	})
	if err != nil {
		if strings.HasPrefix(err.Error(), "'{{'") {
			err = fmt.Errorf("%w of %q", err, text)
		}
		return template{}, err
	}
	return t, nil
}

// variable is the part a {{name}} of a send or expect text stands for.
func variable(name string) (part, error) {
	var p part
	switch {
	case name == "conn":
		p.kind = connVar
	case name == "vu":
		p.kind = vuVar
	case name == "seq":
		p.kind = seqVar
	case name == "now_ms":
		p.kind = nowMsVar
	case name == "now_us":
		p.kind = nowUsVar
	case name == "data" || strings.HasPrefix(name, "data."):
		// The connection's data row, as for URLs and headers: the same
		// parser and renderer, so {{data}} means one thing everywhere.
		t, err := conntemplate.Parse("{{"+name+"}}", conntemplate.Raw)
		if err != nil {
			return p, err
		}
		p.kind, p.data = dataVar, t
	case strings.HasPrefix(name, "rand:"):
		n, err := strconv.ParseUint(name[len("rand:"):], 10, 63)
		if err != nil || n == 0 {
			return p, fmt.Errorf("{{%s}}: N must be a positive integer, e.g. {{rand:100}} for 0-99", name)
		}
		p.kind, p.n = randVar, n
	default:
		return p, fmt.Errorf("unknown variable {{%s}}; known: %s", name, Variables)
	}
	return p, nil
}

// render appends the message; seq is the value of {{seq}}.
func (t *template) render(dst []byte, seq uint32, e *Env) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		switch p.kind {
		case litPart:
			dst = append(dst, p.lit...)
		case connVar:
			dst = strconv.AppendInt(dst, e.Conn, 10)
		case vuVar:
			dst = strconv.AppendInt(dst, e.VU, 10)
		case seqVar:
			dst = strconv.AppendUint(dst, uint64(seq), 10)
		case nowMsVar:
			dst = strconv.AppendInt(dst, e.Wall/int64(time.Millisecond), 10)
		case nowUsVar:
			dst = strconv.AppendInt(dst, e.Wall/int64(time.Microsecond), 10)
		case randVar:
			dst = strconv.AppendUint(dst, next(e.Rng)%p.n, 10)
		case dataVar:
			dst = p.data.Render(dst, conntemplate.Vars{Conn: e.Conn, Data: e.Data})
		}
	}
	return dst
}
