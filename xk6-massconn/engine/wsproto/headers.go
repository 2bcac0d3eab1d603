package wsproto

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// WriteRequestLine writes "GET requestURI HTTP/1.1" and the Host header,
// refusing parts that would break the request line.
func WriteRequestLine(b *bytes.Buffer, host, requestURI string) error {
	if requestURI == "" {
		requestURI = "/"
	}
	for _, s := range []string{host, requestURI} {
		if strings.ContainsAny(s, " \r\n") {
			return fmt.Errorf("request line part %q contains a space or line break", s)
		}
	}
	fmt.Fprintf(b, "GET %s HTTP/1.1\r\nHost: %s\r\n", requestURI, host)
	return nil
}

// WriteHeaders writes extra as header lines, sorted by name. A header in
// owned (canonical names) is set by the request itself, which owner names
// in the error; names and values with line breaks are refused.
func WriteHeaders(b *bytes.Buffer, extra http.Header, owned []string, owner string) error {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ck := http.CanonicalHeaderKey(k)
		if slices.Contains(owned, ck) {
			return fmt.Errorf("header %q is set by the %s and cannot be overridden", k, owner)
		}
		for _, v := range extra[k] {
			if strings.ContainsAny(k+v, "\r\n") || strings.ContainsAny(k, " :") {
				return fmt.Errorf("header %q has a line break or an invalid name", k)
			}
			fmt.Fprintf(b, "%s: %s\r\n", ck, v)
		}
	}
	return nil
}

// StatusLine reads the status code of an HTTP/1.x response head and
// returns the header lines after the status line.
func StatusLine(head []byte) (int, []byte, error) {
	line, rest, ok := bytes.Cut(head, []byte("\r\n"))
	if !ok {
		return 0, nil, handshakeErr("no status line")
	}
	// "HTTP/1.1 101 Switching Protocols": version, three-digit code, reason.
	if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < 12 || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return 0, nil, handshakeErr("malformed status line %q", truncate(line))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, nil, handshakeErr("malformed status code in %q", truncate(line))
		}
		code = code*10 + int(c-'0')
	}
	return code, rest, nil
}

// NextHeader takes the first header line of lines: its name, its value
// without surrounding space, and the lines after it. name is nil at the
// blank line that ends the head (or at the end of lines).
func NextHeader(lines []byte) (name, value, rest []byte, err error) {
	line, rest, _ := bytes.Cut(lines, []byte("\r\n"))
	if len(line) == 0 {
		return nil, nil, nil, nil
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(name) == 0 {
		return nil, nil, nil, handshakeErr("malformed header line %q", truncate(line))
	}
	return name, bytes.TrimSpace(value), rest, nil
}
