package engine

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/massconn/massconn/xk6-massconn/engine/protocol"
	"github.com/massconn/massconn/xk6-massconn/engine/template"
	"github.com/massconn/massconn/xk6-massconn/engine/wsproto"
)

// connTemplates are the parts of a pool that differ per connection
// ({{conn}}, {{vu}}, {{data}}); parsed and checked against Config.Data in
// prepare, before any dial, and rendered when a connection dials or opens.
// Nothing rendered is kept per connection.
type connTemplates struct {
	onOpen  *template.Template              // nil without OnOpenSend
	headers map[string][]*template.Template // the headers with a variable in a value, every value of each (portable engine)
}

// vars are the template variables of the pool's connection idx.
func (p *Pool) vars(idx int64) template.Vars {
	return template.Vars{Conn: p.cfg.ConnOffset + idx, VU: p.cfg.VU, Data: p.cfg.Data}
}

// parseTemplates parses and checks every template of c but the URLs'
// (parseTarget's); each problem is a FieldError naming its option.
func (c Config) parseTemplates(errs *fieldErrors) connTemplates {
	var ts connTemplates
	check := func(field string, text string, esc template.Escape) *template.Template {
		t, err := template.Parse(text, esc)
		if err == nil {
			err = t.Check(c.Data)
		}
		if err != nil {
			errs.add(field, nil, err.Error(), "")
			return nil
		}
		return t
	}
	if c.OnOpenSend != "" {
		ts.onOpen = check("OnOpenSend", c.OnOpenSend, template.Raw)
	}
	for name, values := range c.Header {
		// Every value of a header with a variable in any of them, so
		// that the portable engine renders the header whole.
		parsed := make([]*template.Template, 0, len(values))
		dynamic := false
		for _, v := range values {
			t := check("Header", v, template.Header)
			parsed = append(parsed, t)
			dynamic = dynamic || (t != nil && !t.Static())
		}
		if dynamic {
			if ts.headers == nil {
				ts.headers = map[string][]*template.Template{}
			}
			ts.headers[name] = parsed
		}
	}
	if a, ok := c.Protocol.(protocol.Templated); ok {
		opts := a.Templates()
		names := make([]string, 0, len(opts))
		for n := range opts {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if err := opts[n].Check(c.Data); err != nil {
				errs.add("Protocol."+n, nil, err.Error(), "")
			}
		}
	}
	return ts
}

// onOpenMessage is OnOpenSend for connection idx, or nil.
func (p *Pool) onOpenMessage(idx int64) []byte {
	if p.tmpl.onOpen == nil {
		return nil
	}
	return p.tmpl.onOpen.Render(nil, p.vars(idx))
}

// upgradeRequest appends target t's upgrade request for connection idx.
func (p *Pool) upgradeRequest(dst []byte, t *target, idx int64, key []byte) []byte {
	if t.dynamic == nil {
		return t.request.Append(dst, key)
	}
	dst = t.dynamic.Render(dst, p.vars(idx))
	dst = append(dst, key...)
	return append(dst, t.request.Suffix...)
}

// dialURL and dialHeader are the URL and headers of connection idx for
// the portable engine.
func (p *Pool) dialURL(t *target, idx int64) string {
	if t.urlT == nil {
		return t.url
	}
	return t.urlT.RenderString(p.vars(idx))
}

func (p *Pool) dialHeader(idx int64) http.Header {
	h := p.cfg.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	for name, ts := range p.tmpl.headers {
		vals := make([]string, 0, len(ts))
		for _, t := range ts {
			vals = append(vals, t.RenderString(p.vars(idx)))
		}
		h[name] = vals
	}
	return h
}

// urlTemplate parses the path and query of a URL with variables; the
// scheme and host are the pool's dial targets, resolved once, and cannot
// hold any. It returns the request-URI template (nil when raw has no
// variable) and raw with every variable rendered for connection 0, which
// is what the rest of parseTarget checks.
func urlTemplate(raw string, c Config) (uri *template.Template, sample string, err error) {
	if !strings.Contains(raw, "{{") {
		return nil, raw, nil
	}
	_, afterScheme, _ := strings.Cut(raw, "://")
	authority := afterScheme
	rest := ""
	if i := strings.IndexAny(afterScheme, "/?#"); i >= 0 {
		authority, rest = afterScheme[:i], afterScheme[i:]
	}
	if strings.Contains(authority, "{{") {
		return nil, "", fmt.Errorf("variables may stand in the path and query only, not in the host of %q", raw)
	}
	whole, err := template.Parse(raw, template.Query)
	if err == nil {
		err = whole.Check(c.Data)
	}
	if err != nil {
		return nil, "", err
	}
	if rest == "" || rest[0] == '?' {
		rest = "/" + rest
	}
	uri, _ = template.Parse(rest, template.Query) // a part of raw, which parsed
	return uri, whole.RenderString(template.Vars{Data: c.Data}), nil
}

// wholeURL is raw as a template for the portable engine, nil without
// variables (urlTemplate checked it).
func wholeURL(raw string) *template.Template {
	if !strings.Contains(raw, "{{") {
		return nil
	}
	t, _ := template.Parse(raw, template.Query)
	return t
}

// uriMarker stands for the request-URI while the upgrade request is built
// around it: no request-URI or header holds a NUL byte.
const uriMarker = "\x00"

// requestTemplate is the upgrade request of a target whose URL or headers
// have variables, up to "Sec-WebSocket-Key: "; nil when they have none.
func requestTemplate(host, staticURI string, uri *template.Template, c Config) (*template.Template, error) {
	return headTemplate(staticURI, uri, c, func(uriText string) ([]byte, error) {
		req, err := wsproto.NewRequestTemplate(host, uriText, c.Header, c.Subprotocols)
		if c.Compression {
			req = req.WithExtensions(wsproto.DeflateOffer)
		}
		return req.Prefix, err
	})
}

// headTemplate turns the request head build makes for a request-URI into
// a template, when the URL (uri) or the headers have variables; nil when
// they have none.
func headTemplate(staticURI string, uri *template.Template, c Config, build func(uriText string) ([]byte, error)) (*template.Template, error) {
	headerVars := false
	for _, vs := range c.Header {
		for _, v := range vs {
			headerVars = headerVars || strings.Contains(v, "{{")
		}
	}
	if uri == nil && !headerVars {
		return nil, nil
	}
	uriText := uriMarker
	if uri == nil {
		uriText = staticURI
	}
	req, err := build(uriText)
	if err != nil {
		return nil, err
	}
	head, tail, _ := strings.Cut(string(req), uriMarker)
	headT, err := template.Parse(head, template.Header)
	if err != nil {
		return nil, err
	}
	parts := []*template.Template{headT}
	if uri != nil {
		tailT, err := template.Parse(tail, template.Header)
		if err != nil {
			return nil, err
		}
		parts = append(parts, uri, tailT)
	}
	return template.Join(parts...), nil
}
