package massconn

import (
	"strconv"

	"github.com/grafana/sobek"

	"github.com/massconn/massconn/xk6-massconn/engine/template"
)

// exportOptions is connect()'s argument as parseConnectOptions reads it:
// exported, but for data, whose rows are read one at a time straight into
// the engine's compact rows (a *template.Data, or the error that names the
// option). Exporting all rows at once would hold every row twice more (as
// Go maps), and a k6 SharedArray exports as its Go wrapper, not as rows.
func exportOptions(arg sobek.Value) any {
	obj, ok := arg.(*sobek.Object)
	if !ok {
		return arg.Export()
	}
	data := obj.Get("data")
	if data == nil || sobek.IsUndefined(data) || sobek.IsNull(data) {
		return arg.Export()
	}
	m := make(map[string]any, len(obj.Keys()))
	for _, k := range obj.Keys() {
		if k != "data" {
			m[k] = obj.Get(k).Export()
		}
	}
	m["data"] = readRows(data)
	return m
}

// readRows reads an array-like value (an array, a SharedArray) row by row;
// anything else is returned exported, for parseData to name.
func readRows(v sobek.Value) any {
	rows, ok := v.(*sobek.Object)
	if !ok {
		return v.Export()
	}
	length := rows.Get("length")
	if length == nil || sobek.IsUndefined(length) {
		return v.Export()
	}
	d, err := template.NewDataFunc(int(length.ToInteger()), func(i int) any {
		return rows.Get(strconv.Itoa(i)).Export()
	})
	if err != nil {
		return dataError(err)
	}
	return d
}
