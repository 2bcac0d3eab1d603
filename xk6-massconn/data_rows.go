package massconn

import (
	"strconv"

	"github.com/grafana/sobek"
)

// withDataRows replaces opts' data, when it is an array-like object that
// Export does not turn into a slice (a k6 SharedArray exports as its Go
// wrapper), by its rows read one by one as a script would read them.
func withDataRows(rt *sobek.Runtime, arg sobek.Value, exported any) any {
	m, ok := exported.(map[string]any)
	if !ok || m["data"] == nil {
		return exported
	}
	if _, isSlice := m["data"].([]any); isSlice {
		return exported
	}
	obj, ok := arg.(*sobek.Object)
	if !ok {
		return exported
	}
	data, ok := obj.Get("data").(*sobek.Object)
	if !ok {
		return exported
	}
	length := data.Get("length")
	if length == nil || sobek.IsUndefined(length) {
		return exported // not array-like: parseData names the option
	}
	n := length.ToInteger()
	rows := make([]any, 0, max(n, 0))
	for i := range n {
		rows = append(rows, data.Get(strconv.FormatInt(i, 10)).Export())
	}
	m["data"] = rows
	return m
}
