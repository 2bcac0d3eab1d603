package program

import (
	"errors"
	conntemplate "github.com/massconn/massconn/xk6-massconn/engine/template"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// recorder is a Host that keeps what the program did, to check the
// interpreter on its own; the engine tests run programs against real
// servers.
type recorder struct {
	sent     []string
	binary   [][]byte
	closed   int
	rtts     []time.Duration
	timeouts int
}

func (r *recorder) SendText(b []byte, _ uint8) { r.sent = append(r.sent, string(b)) }
func (r *recorder) SendBinary(b []byte)        { r.binary = append(r.binary, append([]byte(nil), b...)) }
func (r *recorder) Close(code int)             { r.closed = code }
func (r *recorder) RTT(d time.Duration)        { r.rtts = append(r.rtts, d) }
func (r *recorder) ExpectTimeout()             { r.timeouts++ }

func mustCompile(t *testing.T, steps []Step) *Program {
	t.Helper()
	p, err := Compile(steps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newEnv(r *recorder) *Env {
	rng := uint64(1)
	var buf []byte
	return &Env{Now: 1000, Wall: 1_700_000_000_123_456_789, Conn: 42, VU: 7, Rng: &rng, Buf: &buf, Host: r}
}

func TestTemplates(t *testing.T) {
	p := mustCompile(t, []Step{
		{Kind: Send, Text: `{"c":{{conn}},"vu":{{vu}},"seq":{{seq}},"ms":{{now_ms}},"us":{{now_us}},"r":"{{rand:3}}"}`},
		{Kind: Send, Text: "seq {{seq}}"},
		{Kind: Send, Text: "AAEC", Binary: true},
	})
	r := &recorder{}
	var st State
	p.Start(&st, newEnv(r))
	if len(r.sent) != 2 {
		t.Fatalf("sent %q", r.sent)
	}
	first := r.sent[0]
	if !strings.HasPrefix(first, `{"c":42,"vu":7,"seq":0,"ms":1700000000123,"us":1700000000123456,"r":"`) {
		t.Fatalf("rendered %s", first)
	}
	if rr := first[len(first)-3 : len(first)-2]; rr != "0" && rr != "1" && rr != "2" {
		t.Fatalf("rand:3 gave %s", rr)
	}
	if r.sent[1] != "seq 1" || string(r.binary[0]) != "\x00\x01\x02" || st.Seq != 3 || int(st.PC) != p.Len() {
		t.Fatalf("sent %q binary %v state %+v", r.sent, r.binary, st)
	}
}

func TestExpectRTTAndTimeout(t *testing.T) {
	p := mustCompile(t, []Step{
		{Kind: Send, Text: "a"},
		{Kind: Expect, Match: `{"type":`, Prefix: true, Timeout: time.Second},
		{Kind: Send, Text: "b"},
		{Kind: Expect, Path: "data.type", Equals: "joined", Timeout: time.Second},
		{Kind: Expect, Path: "n", Equals: "3", Timeout: time.Second, OnTimeout: OnTimeoutClose},
		{Kind: Send, Text: "never"},
	})
	r := &recorder{}
	e := newEnv(r)
	var st State
	p.Start(&st, e)
	e.Now += 500
	if p.Message(&st, []byte(`nope`), e) {
		t.Fatal("a non-matching message was taken")
	}
	if !p.Message(&st, []byte(`{"type":"x"}`), e) || len(r.rtts) != 1 || r.rtts[0] != 500 {
		t.Fatalf("rtts %v", r.rtts)
	}
	e.Now += 7
	if p.Message(&st, []byte(`{"data":{"type":"left"}}`), e) || !p.Message(&st, []byte(`{"data":{"type":"joined"}}`), e) {
		t.Fatal("path+equals on a string")
	}
	if r.rtts[1] != 7 {
		t.Fatalf("rtts %v", r.rtts)
	}
	// The numeric expect times out and closes.
	p.Tick(&st, e) // not due
	if r.timeouts != 0 {
		t.Fatal("timed out early")
	}
	e.Now += int64(time.Second)
	p.Tick(&st, e)
	if r.timeouts != 1 || r.closed != 1000 || len(r.sent) != 2 {
		t.Fatalf("timeouts %d closed %d sent %q", r.timeouts, r.closed, r.sent)
	}
}

func TestExpectTemplate(t *testing.T) {
	p := mustCompile(t, []Step{
		{Kind: Send, Text: "q{{seq}}"},
		{Kind: Send, Text: "q{{seq}}"},
		{Kind: Expect, Path: "who", Equals: "c{{conn}}-{{vu}}-{{seq}}"},
		{Kind: Expect, Match: "c{{conn}}:", Prefix: true},
	})
	r := &recorder{}
	e := newEnv(r)
	var st State
	p.Start(&st, e)
	if p.Message(&st, []byte(`{"who":"c42-7-0"}`), e) || !p.Message(&st, []byte(`{"who":"c42-7-1"}`), e) {
		t.Fatal("equals with {{seq}} of the previous send")
	}
	if p.Message(&st, []byte(`c4:x`), e) || !p.Message(&st, []byte(`c42:x`), e) {
		t.Fatal("prefix with {{conn}}")
	}
	if _, err := Compile([]Step{{Kind: Expect, Match: "{{rand:3}}"}}); err == nil {
		t.Fatal("rand in an expect was accepted")
	}
}

func TestGotoTimesNested(t *testing.T) {
	p := mustCompile(t, []Step{
		{Kind: Send, Text: "outer"},
		{Kind: Send, Text: "inner"},
		{Kind: Goto, Target: 1, Times: 2}, // inner x3 per outer
		{Kind: Goto, Target: 0, Times: 1}, // outer x2
		{Kind: Close, Code: 4000},
	})
	r := &recorder{}
	var st State
	p.Start(&st, newEnv(r))
	want := "outer inner inner inner outer inner inner inner"
	if got := strings.Join(r.sent, " "); got != want || r.closed != 4000 {
		t.Fatalf("sent %q closed %d", got, r.closed)
	}
}

func TestSleepUniform(t *testing.T) {
	p := mustCompile(t, []Step{{Kind: Sleep, Min: 10, Max: 20}, {Kind: Send, Text: "x"}, {Kind: Goto, Target: 0}})
	r := &recorder{}
	e := newEnv(r)
	var st State
	p.Start(&st, e)
	for range 100 {
		d := st.Wake - e.Now
		if d < 10 || d > 20 {
			t.Fatalf("sleep %d outside [10,20]", d)
		}
		e.Now = st.Wake
		p.Tick(&st, e)
	}
	if len(r.sent) != 100 {
		t.Fatalf("sent %d", len(r.sent))
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		steps []Step
		want  string
	}{
		{nil, "Steps: the program is empty"},
		{[]Step{{Kind: Send}, {Kind: Send}, {Kind: Send}, {Kind: Goto, Target: 9}}, "Steps[3].Target: target 9 is past the end"},
		{[]Step{{Kind: Send, Text: "x"}, {Kind: Goto, Target: 0}}, "Steps[1].Target: loops to step 0 without an expect or a sleep"},
		{[]Step{{Kind: Send, Text: "{{nope}}"}}, "Steps[0].Text: unknown variable {{nope}}"},
		{[]Step{{Kind: Send, Text: "{{rand:0}}"}}, "Steps[0].Text: {{rand:0}}: N must be a positive integer"},
		{[]Step{{Kind: Send, Text: "{{conn"}}, "Steps[0].Text: '{{' without '}}'"},
		{[]Step{{Kind: Send, Text: "!!", Binary: true}}, "Steps[0].Text: is not base64"},
		{[]Step{{Kind: Expect}}, "Steps[0].Match: must not be empty"},
		{[]Step{{Kind: Expect, Equals: "x"}}, "Steps[0].Equals: needs a path"},
		{[]Step{{Kind: Expect, Path: "a..b"}}, "Steps[0].Path:"},
		{[]Step{{Kind: Expect, Match: "x", OnTimeout: "retry", Timeout: 1}}, "Steps[0].OnTimeout: must be 'continue' or 'close'"},
		{[]Step{{Kind: Sleep, Min: 2, Max: 1}}, "Steps[0].Min: needs 0 <= min <= max"},
		{[]Step{{Kind: Close, Code: 1006}}, "Steps[0].Code: code 1006"},
		{[]Step{{}}, "Steps[0].Kind: a step needs one of"},
		{[]Step{{Kind: Sleep, Min: 1, Max: 1}, {Kind: Goto, Times: 1}, {Kind: Goto, Times: 1}, {Kind: Goto, Times: 1}, {Kind: Goto, Times: 1}},
			"Steps[4].Times: at most 3 gotos with times"},
	} {
		_, err := Compile(tc.steps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%+v) = %v, want an error containing %q", tc.steps, err, tc.want)
		}
		var se *StepError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%+v) = %v, not a StepError", tc.steps, err)
		}
	}
}

// TestStateSize is a structural check of the per-connection cost: the
// state every connection carries for its program stays at 32 bytes.
func TestStateSize(t *testing.T) {
	if s := unsafe.Sizeof(State{}); s > 32 {
		t.Fatalf("program.State is %d bytes, the budget is 32", s)
	}
}

func BenchmarkMessageRound(b *testing.B) {
	p, err := Compile([]Step{
		{Kind: Send, Text: `{"msg":"hi","seq":{{seq}},"ts":{{now_us}},"room":{{rand:100}}}`},
		{Kind: Expect, Match: `{"msg":"hi"`, Prefix: true, Timeout: time.Second},
		{Kind: Goto, Target: 0},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := &nullHost{}
	rng := uint64(1)
	buf := make([]byte, 0, 128)
	e := &Env{Now: 1, Wall: 1, Rng: &rng, Buf: &buf, Host: r}
	var st State
	p.Start(&st, e)
	msg := []byte(`{"msg":"hi","seq":1}`)
	b.ReportAllocs()
	for b.Loop() {
		e.Now++
		p.Message(&st, msg, e)
	}
}

type nullHost struct{}

func (nullHost) SendText([]byte, uint8) {}
func (nullHost) SendBinary([]byte)      {}
func (nullHost) Close(int)              {}
func (nullHost) RTT(time.Duration)      {}
func (nullHost) ExpectTimeout()         {}

// FuzzMessage offers arbitrary server messages to every kind of expect.
func FuzzMessage(f *testing.F) {
	f.Add([]byte(`{"type":"joined","n":3}`))
	f.Add([]byte(`{"data":{"type":"joined"}}`))
	f.Add([]byte(`[1,{"type":`))
	p, err := Compile([]Step{
		{Kind: Send, Text: "a"},
		{Kind: Expect, Path: "data.type", Equals: "joined", Timeout: time.Second},
		{Kind: Expect, Path: "n", Equals: "3"},
		{Kind: Expect, Match: `{"type"`, Prefix: true},
		{Kind: Goto, Target: 0},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		rng := uint64(1)
		var buf []byte
		e := &Env{Now: 1, Rng: &rng, Buf: &buf, Host: nullHost{}}
		var st State
		p.Start(&st, e)
		for range 4 {
			p.Message(&st, msg, e)
		}
		if int(st.PC) >= p.Len() {
			t.Fatalf("position %d past the end", st.PC)
		}
	})
}

// {{data}} and {{data.FIELD}} in steps render the connection's row, as in
// URLs and headers: row conn mod rows, in send and in expect.
func TestDataInSteps(t *testing.T) {
	data, err := conntemplate.NewData([]any{
		map[string]any{"user": "ann", "token": "t-0"},
		map[string]any{"user": "bob", "token": "t-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, []Step{
		{Kind: Send, Text: `{"auth":"{{data.token}}","seq":{{seq}}}`},
		{Kind: Expect, Path: "user", Equals: "{{data.user}}"},
	})
	if err := p.CheckData(data); err != nil {
		t.Fatal(err)
	}
	for conn, want := range map[int64][2]string{42: {`{"auth":"t-0","seq":0}`, "ann"}, 7: {`{"auth":"t-1","seq":0}`, "bob"}} {
		r := &recorder{}
		e := newEnv(r)
		e.Conn, e.Data = conn, data
		var st State
		p.Start(&st, e)
		if len(r.sent) != 1 || r.sent[0] != want[0] {
			t.Fatalf("conn %d sent %q, want %s", conn, r.sent, want[0])
		}
		other := "ann"
		if want[1] == "ann" {
			other = "bob"
		}
		if p.Message(&st, []byte(`{"user":"`+other+`"}`), e) || !p.Message(&st, []byte(`{"user":"`+want[1]+`"}`), e) {
			t.Fatalf("conn %d: the expect did not take its own user %s", conn, want[1])
		}
	}
}

// A step naming data the rows do not have is refused before any dial,
// naming the step and the field.
func TestCheckDataNamesTheStep(t *testing.T) {
	users, err := conntemplate.NewData([]any{map[string]any{"user": "ann"}})
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, []Step{
		{Kind: Send, Text: "hello"},
		{Kind: Send, Text: "{{data.token}}"},
		{Kind: Expect, Match: "{{data}}"},
	})
	for _, tc := range []struct {
		name string
		data *conntemplate.Data
		want []string
	}{
		{"no data", nil, []string{"Steps[1].Text", "connect() has no data", "Steps[2].Match"}},
		{"missing field", users, []string{"Steps[1].Text", `no data row has the field "token"`, "Steps[2].Match", "name a field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.CheckData(tc.data)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: does not say %q", err, w)
				}
			}
		})
	}
	if err := mustCompile(t, []Step{{Kind: Send, Text: "{{conn}}"}}).CheckData(nil); err != nil {
		t.Fatalf("a program without {{data}} needs no data: %v", err)
	}
}
