package template

const hexDigits = "0123456789abcdef"

// appendJSONEscaped appends s escaped as the inside of a JSON string
// literal (RFC 8259 section 7): quotes, backslashes and control
// characters are escaped; other bytes, UTF-8 included, pass as they are.
// encoding/json has no append form that does not allocate a string.
func appendJSONEscaped(dst, s []byte) []byte {
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendQueryEscaped appends s percent-encoded for a URL query component
// as net/url.QueryEscape does (space as '+'), without its string result.
func appendQueryEscaped(dst, s []byte) []byte {
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&0xf])
		}
	}
	return dst
}
