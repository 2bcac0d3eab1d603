package publish

import (
	"bytes"
	"fmt"
	"strconv"
	"text/template"
	"time"
)

// DefaultBody is the HTTP publisher's default message: the sequence number
// the delivery check counts and the send time massconn_latency measures
// from (SEQUENCE_PATH=seq, LATENCY_PATH=ts with LATENCY_UNIT=us).
const DefaultBody = `{"seq":{{seq}},"ts":{{now_us}}}`

// placeholders lists the body template's names, for errors.
const placeholders = "{{seq}}, {{now_us}}, {{now_ms}}, {{now_iso}}"

// bodyTemplate renders one message body. The names are text/template
// functions reading the message being rendered, so {{seq}} is a call
// and a misspelt name fails when the template is parsed, at start.
type bodyTemplate struct {
	tmpl *template.Template
	seq  int64
	now  time.Time
}

func parseBody(text string) (*bodyTemplate, error) {
	b := &bodyTemplate{}
	funcs := template.FuncMap{
		"seq":     func() string { return strconv.FormatInt(b.seq, 10) },
		"now_us":  func() string { return strconv.FormatInt(b.now.UnixMicro(), 10) },
		"now_ms":  func() string { return strconv.FormatInt(b.now.UnixMilli(), 10) },
		"now_iso": func() string { return b.now.UTC().Format("2006-01-02T15:04:05.000000Z07:00") },
	}
	t, err := template.New("--publish-body").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("--publish-body %q: %w (placeholders: %s)", text, err, placeholders)
	}
	b.tmpl = t
	// Render once now: a template that parses but cannot render (e.g.
	// {{.x}}) is refused at start, not at every tick.
	if _, err := b.render(1, time.Now()); err != nil {
		return nil, fmt.Errorf("--publish-body %q: %w (placeholders: %s)", text, err, placeholders)
	}
	return b, nil
}

// render is not safe for concurrent use: a Loop publishes one at a time.
func (b *bodyTemplate) render(seq int64, now time.Time) ([]byte, error) {
	b.seq, b.now = seq, now
	var buf bytes.Buffer
	if err := b.tmpl.Execute(&buf, nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
