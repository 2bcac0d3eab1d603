package publish

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTPTimeout bounds one publish request: a target that does not answer
// within it counts as a failed publish.
const HTTPTimeout = 10 * time.Second

// httpPublisher sends each message as the body of one HTTP request.
type httpPublisher struct {
	method  string
	url     string
	header  http.Header
	body    *bodyTemplate
	client  *http.Client
	display string
}

func newHTTP(cfg Config) (*httpPublisher, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--publish-url %q: must be an http:// or https:// URL, e.g. http://127.0.0.1:8080/pub?id=news", cfg.URL)
	}
	method := cfg.Method
	if method == "" {
		method = http.MethodPost
	}
	if strings.ContainsAny(method, " \t\r\n:/") || strings.ToUpper(method) != method {
		return nil, fmt.Errorf("--publish-method %q: must be an HTTP method in capitals, e.g. POST or PUT", cfg.Method)
	}
	header := http.Header{}
	for _, h := range cfg.Headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("--publish-header %q: must be 'Name: value', e.g. --publish-header 'Authorization: Bearer TOKEN'", h)
		}
		header.Add(name, value)
	}
	if header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	text := cfg.Body
	if text == "" {
		text = DefaultBody
	}
	body, err := parseBody(text)
	if err != nil {
		return nil, err
	}
	return &httpPublisher{
		method: method, url: cfg.URL, header: header, body: body,
		client:  &http.Client{Timeout: HTTPTimeout},
		display: method + " " + cfg.URL,
	}, nil
}

func (p *httpPublisher) Target() string { return p.display }

func (p *httpPublisher) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

// Publish sends message n with {{seq}} = n: the number subscribers see is
// the one recorded.
func (p *httpPublisher) Publish(ctx context.Context, n int64, now time.Time) (int64, error) {
	body, err := p.body.render(n, now)
	if err != nil {
		return 0, fmt.Errorf("--publish-body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.display, err)
	}
	req.Header = p.header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.method, err) // the error names the URL
	}
	defer resp.Body.Close()
	// The answer's first bytes say why a publish was refused; the rest is
	// read so that the connection can be reused.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		reason := strings.Join(strings.Fields(string(head)), " ")
		if strings.Contains(resp.Header.Get("Content-Type"), "html") {
			reason = "" // an error page repeats the status
		}
		if reason != "" {
			reason = ": " + reason
		}
		return 0, fmt.Errorf("%s answered %s%s", p.display, resp.Status, reason)
	}
	return n, nil
}
