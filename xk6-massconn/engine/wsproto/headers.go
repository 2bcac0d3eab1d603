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
