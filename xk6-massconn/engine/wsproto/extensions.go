package wsproto

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// DeflateOffer is the permessage-deflate offer this client makes (RFC 7692):
// no context takeover in either direction, so that one inflater per event
// loop serves every connection and no connection keeps a 32 KiB window.
// The client itself never compresses (RSV1 clear on every frame it sends,
// which RFC 7692 allows), so client_no_context_takeover costs nothing.
const DeflateOffer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

// ErrContextTakeover is wrapped when the server accepted permessage-deflate
// but not server_no_context_takeover: it would compress each message with
// the previous ones as dictionary, which needs a window per connection.
var ErrContextTakeover = errors.New("server insists on permessage-deflate context takeover")

// ExtensionParam is one parameter of an extension in a
// Sec-WebSocket-Extensions header.
type ExtensionParam struct {
	Name     string
	Value    string
	HasValue bool
}

// Extension is one element of a Sec-WebSocket-Extensions header.
type Extension struct {
	Name   string
	Params []ExtensionParam
}

// ParseExtensions parses a Sec-WebSocket-Extensions value (RFC 6455
// section 9.1): a comma-separated list of extension tokens, each with
// ";"-separated parameters, each a token with an optional "=" token or
// quoted-string value.
func ParseExtensions(v []byte) ([]Extension, error) {
	p := extParser{b: v}
	var out []Extension
	for {
		p.skipSpace()
		if p.done() {
			if len(out) == 0 {
				return nil, handshakeErr("empty Sec-WebSocket-Extensions")
			}
			return nil, handshakeErr("Sec-WebSocket-Extensions ends with a comma")
		}
		name, err := p.token()
		if err != nil {
			return nil, err
		}
		ext := Extension{Name: name}
		for p.skipSpace(); p.peek(';'); p.skipSpace() {
			p.i++
			p.skipSpace()
			param := ExtensionParam{}
			if param.Name, err = p.token(); err != nil {
				return nil, err
			}
			p.skipSpace()
			if p.peek('=') {
				p.i++
				p.skipSpace()
				if param.Value, err = p.value(); err != nil {
					return nil, err
				}
				param.HasValue = true
			}
			ext.Params = append(ext.Params, param)
		}
		out = append(out, ext)
		if p.done() {
			return out, nil
		}
		if !p.peek(',') {
			return nil, handshakeErr("unexpected %q in Sec-WebSocket-Extensions", p.b[p.i])
		}
		p.i++
	}
}

type extParser struct {
	b []byte
	i int
}

func (p *extParser) done() bool       { return p.i >= len(p.b) }
func (p *extParser) peek(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }
func (p *extParser) skipSpace() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t') {
		p.i++
	}
}

// isTokenChar is RFC 7230's tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

func (p *extParser) token() (string, error) {
	start := p.i
	for p.i < len(p.b) && isTokenChar(p.b[p.i]) {
		p.i++
	}
	if p.i == start {
		if p.done() {
			return "", handshakeErr("Sec-WebSocket-Extensions: a name is missing at the end")
		}
		return "", handshakeErr("Sec-WebSocket-Extensions: expected a name at %q", p.b[p.i])
	}
	return string(p.b[start:p.i]), nil
}

// value reads a token or a quoted-string. RFC 6455 asks that a quoted value
// still be a valid token once unquoted.
func (p *extParser) value() (string, error) {
	if !p.peek('"') {
		return p.token()
	}
	p.i++
	var v []byte
	for {
		if p.done() {
			return "", handshakeErr("Sec-WebSocket-Extensions: unterminated quoted value")
		}
		c := p.b[p.i]
		p.i++
		switch c {
		case '"':
			if len(v) == 0 {
				return "", handshakeErr("Sec-WebSocket-Extensions: empty quoted value")
			}
			for _, vc := range v {
				if !isTokenChar(vc) {
					return "", handshakeErr("Sec-WebSocket-Extensions: quoted value %q is not a token", v)
				}
			}
			return string(v), nil
		case '\\':
			if p.done() {
				return "", handshakeErr("Sec-WebSocket-Extensions: unterminated quoted value")
			}
			v = append(v, p.b[p.i])
			p.i++
		default:
			v = append(v, c)
		}
	}
}

// Deflate is a negotiated permessage-deflate: what the server's response
// said.
type Deflate struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int // 0 = not given (15)
}

// NegotiateDeflate checks the server's Sec-WebSocket-Extensions answer to
// DeflateOffer. Anything but exactly one permessage-deflate with known,
// unrepeated, well-formed parameters wraps ErrHandshake; a response
// without server_no_context_takeover wraps ErrContextTakeover.
func NegotiateDeflate(v []byte) (Deflate, error) {
	exts, err := ParseExtensions(v)
	if err != nil {
		return Deflate{}, err
	}
	if len(exts) != 1 || exts[0].Name != "permessage-deflate" {
		return Deflate{}, handshakeErr("server selected extensions %q; only permessage-deflate was offered", truncate(v))
	}
	var d Deflate
	seen := map[string]bool{}
	for _, param := range exts[0].Params {
		if seen[param.Name] {
			return Deflate{}, handshakeErr("permessage-deflate parameter %s given twice", param.Name)
		}
		seen[param.Name] = true
		switch param.Name {
		case "server_no_context_takeover":
			if param.HasValue {
				return Deflate{}, handshakeErr("permessage-deflate server_no_context_takeover takes no value")
			}
			d.ServerNoContextTakeover = true
		case "client_no_context_takeover":
			if param.HasValue {
				return Deflate{}, handshakeErr("permessage-deflate client_no_context_takeover takes no value")
			}
			d.ClientNoContextTakeover = true
		case "server_max_window_bits", "client_max_window_bits":
			bits, err := strconv.Atoi(param.Value)
			if !param.HasValue || err != nil || bits < 8 || bits > 15 || param.Value[0] == '0' {
				return Deflate{}, handshakeErr("permessage-deflate %s=%q is not 8..15", param.Name, param.Value)
			}
			if param.Name == "server_max_window_bits" {
				d.ServerMaxWindowBits = bits
			}
			// client_max_window_bits was not offered, and RFC 7692
			// section 7.1.2.2 has the client fail then; gws sends it
			// anyway. The client never compresses, so any limit on its
			// window is kept trivially: accepted and ignored.
		default:
			return Deflate{}, handshakeErr("unknown permessage-deflate parameter %q", param.Name)
		}
	}
	if !d.ServerNoContextTakeover {
		return d, fmt.Errorf("%w: its response %q lacks server_no_context_takeover", ErrContextTakeover, truncate(v))
	}
	return d, nil
}
