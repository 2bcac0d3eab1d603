package wsproto

import (
	"errors"
	"strings"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	got, err := ParseExtensions([]byte(`permessage-deflate ; client_max_window_bits="10"; server_no_context_takeover, x-other;a=b`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "permessage-deflate" || got[1].Name != "x-other" {
		t.Fatalf("extensions %+v", got)
	}
	p := got[0].Params
	if len(p) != 2 || p[0] != (ExtensionParam{"client_max_window_bits", "10", true}) ||
		p[1] != (ExtensionParam{Name: "server_no_context_takeover"}) {
		t.Fatalf("params %+v", p)
	}
	for _, bad := range []string{
		"", " ", "permessage-deflate,", ",permessage-deflate", "permessage-deflate;", "permessage-deflate; a=",
		`permessage-deflate; a="unterminated`, `permessage-deflate; a="two words"`, `permessage-deflate; a=""`,
		"perm@ssage", "a b",
	} {
		if _, err := ParseExtensions([]byte(bad)); !errors.Is(err, ErrHandshake) {
			t.Errorf("ParseExtensions(%q) = %v, want a handshake error", bad, err)
		}
	}
}

func TestNegotiateDeflate(t *testing.T) {
	d, err := NegotiateDeflate([]byte("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.ServerNoContextTakeover || !d.ClientNoContextTakeover || d.ServerMaxWindowBits != 12 {
		t.Fatalf("negotiated %+v", d)
	}
	if _, err := NegotiateDeflate([]byte("permessage-deflate; client_no_context_takeover")); !errors.Is(err, ErrContextTakeover) {
		t.Fatalf("without server_no_context_takeover: %v, want ErrContextTakeover", err)
	}
	for _, bad := range []string{
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; server_no_context_takeover; server_max_window_bits=16",
		"permessage-deflate; server_no_context_takeover; server_max_window_bits=08",
		"permessage-deflate; server_no_context_takeover; server_max_window_bits",
		"permessage-deflate; server_no_context_takeover; mystery",
		"permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover",
		"x-webkit-deflate-frame",
	} {
		if _, err := NegotiateDeflate([]byte(bad)); !errors.Is(err, ErrHandshake) {
			t.Errorf("NegotiateDeflate(%q) = %v, want a handshake error", bad, err)
		}
	}
}

func TestRequestTemplateWithExtensions(t *testing.T) {
	tpl, err := NewRequestTemplate("h:1", "/x", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := string(tpl.WithExtensions(DeflateOffer).Append(nil, []byte("KEY")))
	if !strings.Contains(req, "\r\nSec-WebSocket-Extensions: "+DeflateOffer+"\r\nSec-WebSocket-Key: KEY\r\n\r\n") {
		t.Fatalf("request:\n%s", req)
	}
}

func TestCheckResponseDeflate(t *testing.T) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + AcceptKey(key) + "\r\n"
	if _, ok, err := CheckResponseDeflate([]byte(head+"\r\n"), key, nil); ok || err != nil {
		t.Fatalf("no extension in the answer: ok %v, %v", ok, err)
	}
	// Two header lines make one list: two extensions, which is refused.
	two := head + "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
	if _, _, err := CheckResponseDeflate([]byte(two), key, nil); !errors.Is(err, ErrHandshake) {
		t.Fatalf("two extensions: %v", err)
	}
	one := head + "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
	if _, ok, err := CheckResponseDeflate([]byte(one), key, nil); !ok || err != nil {
		t.Fatalf("accepted: ok %v, %v", ok, err)
	}
	if err := CheckResponse([]byte(one), key, nil); !errors.Is(err, ErrHandshake) {
		t.Fatalf("an extension not offered must fail CheckResponse: %v", err)
	}
}

func TestParseServerHeaderDeflate(t *testing.T) {
	if h, err := ParseServerHeaderDeflate([]byte{0xC1, 0x05}); err != nil || !h.Compressed || h.Opcode != OpText {
		t.Fatalf("compressed text: %+v %v", h, err)
	}
	for _, b := range [][]byte{
		{0x40 | 0x80, 0x01},       // RSV1 on a continuation
		{0x40 | 0x80 | 0x9, 0x00}, // RSV1 on a ping
		{0x20 | 0x80 | 0x1, 0x00}, // RSV2
		{0x40 | 0x10 | 0x1, 0x00}, // RSV3
	} {
		if _, err := ParseServerHeaderDeflate(b); !errors.Is(err, ErrProtocol) {
			t.Errorf("% x: %v, want a protocol error", b, err)
		}
	}
	if _, err := ParseServerHeader([]byte{0xC1, 0x05}); !errors.Is(err, ErrProtocol) {
		t.Fatalf("RSV1 without deflate: %v", err)
	}
}

// FuzzNegotiateDeflate: any header value either parses or fails with a
// handshake error (or context takeover), never panics; what parses has
// only token names and a value wherever HasValue says.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, s := range []string{
		DeflateOffer,
		"permessage-deflate",
		`permessage-deflate; server_max_window_bits="10"; server_no_context_takeover`,
		"permessage-deflate; client_max_window_bits=15, x",
		`a; b="c\"d"`, ";;,,", "\"", "permessage-deflate;\tserver_no_context_takeover",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		exts, err := ParseExtensions(v)
		if err != nil {
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("ParseExtensions(%q): error %v does not wrap ErrHandshake", v, err)
			}
		}
		for _, e := range exts {
			if e.Name == "" || strings.ContainsAny(e.Name, " ;,=\"") {
				t.Fatalf("ParseExtensions(%q): bad name %q", v, e.Name)
			}
			for _, p := range e.Params {
				if p.Name == "" || (p.HasValue && p.Value == "") {
					t.Fatalf("ParseExtensions(%q): bad param %+v", v, p)
				}
			}
		}
		d, err := NegotiateDeflate(v)
		if err != nil && !errors.Is(err, ErrHandshake) && !errors.Is(err, ErrContextTakeover) {
			t.Fatalf("NegotiateDeflate(%q): unexpected error kind %v", v, err)
		}
		if err == nil && (!d.ServerNoContextTakeover || (d.ServerMaxWindowBits != 0 && (d.ServerMaxWindowBits < 8 || d.ServerMaxWindowBits > 15))) {
			t.Fatalf("NegotiateDeflate(%q) accepted %+v", v, d)
		}
	})
}

// FuzzParseServerHeaderDeflate: the deflate variant accepts exactly what
// ParseServerHeader accepts, plus RSV1 on the first frame of a data message.
func FuzzParseServerHeaderDeflate(f *testing.F) {
	f.Add([]byte{0xC1, 0x05})
	f.Add([]byte{0xC0, 0x05})
	f.Add([]byte{0xC9, 0x00})
	f.Add([]byte{0x42, 0x7E, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseServerHeaderDeflate(b)
		if len(b) == 0 || (err == nil && h.Size == 0) {
			return // not a whole header yet
		}
		plain := append([]byte(nil), b...)
		plain[0] &^= 0x40
		hp, errp := ParseServerHeader(plain)
		rsv1 := b[0]&0x40 != 0
		op := b[0] & 0x0F
		switch {
		case !rsv1 && (err == nil) != (errp == nil):
			t.Fatalf("% x: deflate %v, plain %v", b, err, errp)
		case rsv1 && err == nil && op != OpText && op != OpBinary:
			t.Fatalf("% x: RSV1 accepted on opcode %x", b, op)
		case err == nil && errp == nil && h.Size > 0 && (h.Length != hp.Length || h.Size != hp.Size || h.Compressed != rsv1):
			t.Fatalf("% x: %+v vs %+v", b, h, hp)
		}
	})
}
