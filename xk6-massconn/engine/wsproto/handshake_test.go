package wsproto

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// The example from RFC 6455 section 1.3.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func response(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

func TestAcceptKey(t *testing.T) {
	if got := AcceptKey([]byte(rfcKey)); got != rfcAccept {
		t.Fatalf("AcceptKey = %q, want %q", got, rfcAccept)
	}
}

func TestCheckResponse(t *testing.T) {
	good := []string{"HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: " + rfcAccept}
	tests := []struct {
		name   string
		head   []byte
		protos []string
		status int // expected *StatusError code, 0 = none
		ok     bool
	}{
		{"good", response(good...), nil, 0, true},
		{"case and spacing", response("HTTP/1.1 101 x", "upgrade:WebSocket", "connection: keep-alive, upgrade", "sec-websocket-accept:   "+rfcAccept), nil, 0, true},
		{"no reason phrase", response("HTTP/1.1 101", good[1], good[2], good[3]), nil, 0, true},
		{"503", response("HTTP/1.1 503 Service Unavailable", "Content-Length: 0"), nil, 503, false},
		{"bad accept", response(good[0], good[1], good[2], "Sec-WebSocket-Accept: xxx"), nil, 0, false},
		{"missing upgrade", response(good[0], good[2], good[3]), nil, 0, false},
		{"missing connection", response(good[0], good[1], good[3]), nil, 0, false},
		{"extension not offered", response(append(good, "Sec-WebSocket-Extensions: permessage-deflate")...), nil, 0, false},
		{"protocol offered", response(append(good, "Sec-WebSocket-Protocol: chat")...), []string{"a", "chat"}, 0, true},
		{"protocol not offered", response(append(good, "Sec-WebSocket-Protocol: chat")...), []string{"a"}, 0, false},
		{"garbage status", []byte("HTTX/1.1 101\r\n\r\n"), nil, 0, false},
		{"short status", []byte("HTTP/1.1 1\r\n\r\n"), nil, 0, false},
		{"header without colon", response(good[0], "nonsense", good[1], good[2], good[3]), nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckResponse(tc.head, []byte(rfcKey), tc.protos)
			var se *StatusError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.status != 0 && (!errors.As(err, &se) || se.Code != tc.status):
				t.Fatalf("err = %v, want status %d", err, tc.status)
			case !tc.ok && tc.status == 0 && !errors.Is(err, ErrHandshake):
				t.Fatalf("err = %v, want ErrHandshake", err)
			}
		})
	}
}

func TestRequestTemplate(t *testing.T) {
	tmpl, err := NewRequestTemplate("127.0.0.1:8080", "/ws?topic=a", http.Header{"X-Token": {"t"}}, []string{"chat", "v2"})
	if err != nil {
		t.Fatal(err)
	}
	req := tmpl.Append(nil, []byte(rfcKey))
	parsed, err := http.ReadRequest(bufioReader(req))
	if err != nil {
		t.Fatalf("net/http cannot read the request: %v\n%s", err, req)
	}
	checks := map[string]string{
		"Upgrade": "websocket", "Connection": "Upgrade", "Sec-Websocket-Version": "13",
		"Sec-Websocket-Key": rfcKey, "Sec-Websocket-Protocol": "chat, v2", "X-Token": "t",
	}
	for k, v := range checks {
		if got := parsed.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if parsed.Host != "127.0.0.1:8080" || parsed.RequestURI != "/ws?topic=a" {
		t.Errorf("host %q uri %q", parsed.Host, parsed.RequestURI)
	}
	if _, err := NewRequestTemplate("h", "/", http.Header{"Sec-WebSocket-Key": {"x"}}, nil); err == nil {
		t.Error("overriding Sec-WebSocket-Key was accepted")
	}
	if _, err := NewRequestTemplate("h", "/", http.Header{"X-A": {"1\r\nX-B: 2"}}, nil); err == nil {
		t.Error("header injection was accepted")
	}
}

func FuzzCheckResponse(f *testing.F) {
	f.Add(response("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+rfcAccept))
	f.Add(response("HTTP/1.1 503 Busy"))
	f.Add([]byte("HTTP/1.1 101\r\nUpgrade websocket\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		err := CheckResponse(head, []byte(rfcKey), []string{"chat"})
		if err == nil {
			// Only a response carrying the right accept value may pass.
			if !bytes.HasPrefix(head, []byte("HTTP/1.")) || !bytes.Contains(head, []byte(rfcAccept)) {
				t.Fatalf("accepted %q", head)
			}
		}
		if HeadEnd(head) > len(head) {
			t.Fatal("HeadEnd beyond input")
		}
	})
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
