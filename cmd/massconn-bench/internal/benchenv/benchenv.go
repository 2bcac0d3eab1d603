// Package benchenv reads the benchmarks' settings from the environment:
// the Makefile's variables (make bench-k6 STOCK_CONNS=500, make run
// LISTEN=...) reach massconn-bench as environment variables, as they
// reached the scripts it replaces, so the names and defaults stay theirs.
package benchenv

import (
	"fmt"
	"os"
	"strconv"
)

// Or is the variable name, or def when it is unset or empty.
func Or(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// OrSet is like Or, but a variable set to "" counts as set (for lists
// where empty means "none", such as MASSCONN_LOCAL_ADDRS).
func OrSet(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// Int is Or as a whole number of 0 or more; a malformed value is an error
// naming the variable.
func Int(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a whole number of 0 or more", name, v)
	}
	return n, nil
}
