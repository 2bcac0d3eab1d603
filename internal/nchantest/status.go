package nchantest

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// ParseStatus reads nchan_stub_status's "name: value" lines into numbers.
// Values that are not whole numbers (nchan's "last message id" of a
// time:tag pair) are left out.
func ParseStatus(r io.Reader) (map[string]int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read nchan status: %w", err)
	}
	// nchan 1.3.6 writes "last message id: TIME:TAG" without its line
	// break, gluing the next line ("total published messages") to it.
	text := missingBreak.ReplaceAllString(string(b), "$1\n$2")
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[strings.TrimSpace(name)] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read nchan status: %w", err)
	}
	return out, nil
}

var missingBreak = regexp.MustCompile(`(last message id: [^\n]*?:-?\d+)([a-zA-Z])`)
