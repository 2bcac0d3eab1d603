package wsproto

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// KeyLen is the length of a Sec-WebSocket-Key: base64 of 16 bytes.
const KeyLen = 24

// MaxResponseHead bounds the HTTP response head of a handshake; a server
// sending more without finishing its headers is treated as broken.
const MaxResponseHead = 8 << 10

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// ErrHandshake is wrapped by every error about a malformed or mismatching
// upgrade response.
var ErrHandshake = errors.New("websocket handshake failed")

// StatusError is returned when the server answered the upgrade with a status
// other than 101.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("websocket handshake: server answered HTTP %d instead of 101", e.Code)
}

func handshakeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrHandshake, fmt.Sprintf(format, args...))
}

// NewKey encodes 16 nonce bytes as a Sec-WebSocket-Key.
func NewKey(nonce [16]byte) [KeyLen]byte {
	var k [KeyLen]byte
	base64.StdEncoding.Encode(k[:], nonce[:])
	return k
}

// AcceptKey is the Sec-WebSocket-Accept a server must answer to key.
func AcceptKey(key []byte) string {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// RequestTemplate is an upgrade request split around its key, so that the
// per-connection work is two appends and one 24-byte key.
type RequestTemplate struct {
	Prefix []byte // up to and including "Sec-WebSocket-Key: "
	Suffix []byte // from the CRLF after the key to the blank line
}

// protectedHeaders are set by the handshake itself; user headers may not
// override them.
var protectedHeaders = []string{
	"Host", "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions",
}

// NewRequestTemplate builds the upgrade request for host (host[:port]) and
// requestURI (path and query). Extra headers are sent as given, except those
// the handshake owns.
func NewRequestTemplate(host, requestURI string, extra http.Header, subprotocols []string) (RequestTemplate, error) {
	var b bytes.Buffer
	if err := WriteRequestLine(&b, host, requestURI); err != nil {
		return RequestTemplate{}, err
	}
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
	if len(subprotocols) > 0 {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(subprotocols, ", "))
	}
	if err := WriteHeaders(&b, extra, protectedHeaders, "WebSocket handshake"); err != nil {
		return RequestTemplate{}, err
	}
	b.WriteString("Sec-WebSocket-Key: ")
	return RequestTemplate{Prefix: bytes.Clone(b.Bytes()), Suffix: []byte("\r\n\r\n")}, nil
}

// Append appends the complete request for key.
func (t RequestTemplate) Append(dst []byte, key []byte) []byte {
	dst = append(dst, t.Prefix...)
	dst = append(dst, key...)
	return append(dst, t.Suffix...)
}

// HeadEnd returns the length of the HTTP response head in b (through the
// blank line), or -1 if b does not hold all of it yet.
func HeadEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// CheckResponse validates the response head to an upgrade request sent with
// key, offering subprotocols and no extension. A non-101 status gives a
// *StatusError; anything else wrong wraps ErrHandshake.
func CheckResponse(head []byte, key []byte, subprotocols []string) error {
	extensions, err := checkResponse(head, key, subprotocols)
	if err == nil && len(extensions) > 0 {
		err = handshakeErr("server selected extensions %q that were not offered", truncate(extensions))
	}
	return err
}

// CheckResponseDeflate is CheckResponse for a request that offered
// DeflateOffer. It reports whether the server accepted permessage-deflate
// and on what terms; see NegotiateDeflate for its errors.
func CheckResponseDeflate(head []byte, key []byte, subprotocols []string) (Deflate, bool, error) {
	extensions, err := checkResponse(head, key, subprotocols)
	if err != nil || len(extensions) == 0 {
		return Deflate{}, false, err
	}
	d, err := NegotiateDeflate(extensions)
	return d, err == nil, err
}

// WithExtensions returns the template with a Sec-WebSocket-Extensions
// header offering offer.
func (t RequestTemplate) WithExtensions(offer string) RequestTemplate {
	const keyHeader = "Sec-WebSocket-Key: "
	prefix := bytes.TrimSuffix(t.Prefix, []byte(keyHeader))
	out := make([]byte, 0, len(t.Prefix)+len(offer)+30)
	out = append(out, prefix...)
	out = append(out, "Sec-WebSocket-Extensions: "...)
	out = append(out, offer...)
	out = append(out, "\r\n"+keyHeader...)
	return RequestTemplate{Prefix: out, Suffix: t.Suffix}
}

func checkResponse(head []byte, key []byte, subprotocols []string) ([]byte, error) {
	code, rest, err := StatusLine(head)
	if err != nil {
		return nil, err
	}
	if code != 101 {
		return nil, &StatusError{Code: code}
	}
	var upgrade, connection, accept, protocol, extensions []byte
	var seenProtocol bool
	for {
		name, value, next, err := NextHeader(rest)
		if err != nil {
			return nil, err
		}
		if name == nil {
			break
		}
		rest = next
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = value
		case bytes.EqualFold(name, []byte("Connection")):
			connection = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			accept = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Protocol")):
			protocol, seenProtocol = value, true
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			// Several header lines make one list (RFC 7230 section 3.2.2).
			if len(extensions) > 0 {
				value = append(append(append([]byte(nil), extensions...), ", "...), value...)
			}
			extensions = value
		}
	}
	if !bytes.EqualFold(upgrade, []byte("websocket")) {
		return nil, handshakeErr("Upgrade header is %q, want websocket", truncate(upgrade))
	}
	if !hasToken(connection, "upgrade") {
		return nil, handshakeErr("Connection header %q lacks the upgrade token", truncate(connection))
	}
	if want := AcceptKey(key); string(accept) != want {
		return nil, handshakeErr("Sec-WebSocket-Accept is %q, want %q", truncate(accept), want)
	}
	if seenProtocol && !slices.Contains(subprotocols, string(protocol)) {
		return nil, handshakeErr("server selected subprotocol %q that was not offered", truncate(protocol))
	}
	return extensions, nil
}

func hasToken(list []byte, token string) bool {
	for part := range bytes.SplitSeq(list, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(part), []byte(token)) {
			return true
		}
	}
	return false
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
