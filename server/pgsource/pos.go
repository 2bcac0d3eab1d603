package pgsource

import (
	"fmt"
	"strconv"
)

// posWidth is the number of digits of every position on the wire: the
// largest int64 has 19, so string order is numeric order.
const posWidth = 19

// FormatPos is a position as clients see it: an opaque string that sorts
// in delivery order.
func FormatPos(pos int64) string { return fmt.Sprintf("%0*d", posWidth, pos) }

// ParsePos reads a position a client sends back (?after=POS). It accepts
// what FormatPos writes, and the same number with fewer leading zeros.
func ParsePos(s string) (int64, error) {
	if s == "" || len(s) > posWidth {
		return 0, fmt.Errorf("position %q is not one this server sent: want up to %d digits", truncate(s), posWidth)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("position %q is not one this server sent: want only digits", truncate(s))
		}
	}
	pos, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("position %q is not one this server sent: %w", truncate(s), err)
	}
	return pos, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
