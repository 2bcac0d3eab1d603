package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Data holds the rows of {{data}}: strings, or objects whose fields are
// {{data.FIELD}}. It is stored by column, every cell of a column in one
// byte slice, so a row costs its bytes plus 4 bytes per field, whatever
// the number of rows.
type Data struct {
	rows    int
	objects bool
	cols    map[string]*column // "" for string rows
}

type column struct {
	bytes   []byte
	ends    []uint32 // ends[i] is where row i's cell ends in bytes
	missing []int    // rows without the field (objects only), at most a few kept
	absent  int      // how many rows lack the field
}

// keptMissing bounds the rows without a field that an error names.
const keptMissing = 3

// NewData reads rows, all strings or all objects (map[string]any, as k6
// exports JavaScript objects). Object values that are not strings are
// written as JSON (numbers as JavaScript prints them when they are whole).
func NewData(rows []any) (*Data, error) {
	return NewDataFunc(len(rows), func(i int) any { return rows[i] })
}

// NewDataFunc is NewData for n rows that row gives one at a time, so that
// a caller converting rows (from JavaScript) holds one row at a time
// rather than all of them twice.
func NewDataFunc(n int, row func(i int) any) (*Data, error) {
	if n <= 0 {
		return nil, fmt.Errorf("has no rows: give at least one string or object")
	}
	d := &Data{rows: n, cols: map[string]*column{}}
	for i := range n {
		r := row(i)
		if i == 0 {
			_, d.objects = r.(map[string]any)
		}
		if err := d.add(i, r); err != nil {
			return nil, err
		}
	}
	for _, c := range d.cols {
		c.fill(d.rows)
	}
	return d, nil
}

func (d *Data) add(i int, r any) error {
	switch v := r.(type) {
	case string:
		if d.objects {
			return fmt.Errorf("[%d]: is a string but [0] is an object: rows must be all strings or all objects", i)
		}
		return d.col("", i).add(i, []byte(v))
	case map[string]any:
		if !d.objects {
			return fmt.Errorf("[%d]: is an object but [0] is a string: rows must be all strings or all objects", i)
		}
		return d.addObject(i, v)
	}
	return fmt.Errorf("[%d]: must be a string or an object, got %T", i, r)
}

func (d *Data) addObject(i int, row map[string]any) error {
	for k, v := range row {
		val, err := cellText(v)
		if err != nil {
			return fmt.Errorf("[%d].%s: %w", i, k, err)
		}
		if err := d.col(k, i).add(i, val); err != nil {
			return err
		}
	}
	return nil
}

// col returns the column of field, created with rows before i missing.
func (d *Data) col(field string, i int) *column {
	c, ok := d.cols[field]
	if !ok {
		c = &column{}
		d.cols[field] = c
	}
	c.fill(i)
	return c
}

// fill marks the rows before i that have no cell as missing.
func (c *column) fill(i int) {
	for len(c.ends) < i {
		if len(c.missing) < keptMissing {
			c.missing = append(c.missing, len(c.ends))
		}
		c.absent++
		c.ends = append(c.ends, uint32(len(c.bytes))) //nolint:gosec // bounded by add
	}
}

func (c *column) add(i int, val []byte) error {
	if len(c.bytes)+len(val) > math.MaxUint32 {
		return fmt.Errorf("[%d]: the rows hold more than 4 GiB", i)
	}
	c.bytes = append(c.bytes, val...)
	c.ends = append(c.ends, uint32(len(c.bytes))) //nolint:gosec // checked above
	return nil
}

func cellText(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	case float64:
		return strconv.AppendFloat(nil, x, 'g', -1, 64), nil
	case bool:
		return strconv.AppendBool(nil, x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot be written as text: %w", err)
	}
	return b, nil
}

// Len is the number of rows.
func (d *Data) Len() int {
	if d == nil {
		return 0
	}
	return d.rows
}

// Bytes is the size of the cells, the memory the rows take besides 4
// bytes per cell.
func (d *Data) Bytes() int {
	n := 0
	for _, c := range d.cols {
		n += len(c.bytes)
	}
	return n
}

// cell is field's value in the row of connection conn; empty when the row
// has none (Check prevents that before any dial).
func (d *Data) cell(field string, conn int64) []byte {
	if d == nil || d.rows == 0 {
		return nil
	}
	c := d.cols[field]
	if c == nil {
		return nil
	}
	row := conn % int64(d.rows)
	if row < 0 {
		row += int64(d.rows)
	}
	start := uint32(0)
	if row > 0 {
		start = c.ends[row-1]
	}
	return c.bytes[start:c.ends[row]]
}

// Check tells whether every row of d has every field t names, so that no
// connection renders an empty value, and that header templates get no
// line break from a cell. Its errors say what to change.
func (t *Template) Check(d *Data) error {
	for _, p := range t.parts {
		if p.kind != dataVar {
			continue
		}
		name := "{{data}}"
		if p.field != "" {
			name = "{{data." + p.field + "}}"
		}
		if d == nil {
			return fmt.Errorf("uses %s but connect() has no data: pass data: [...] (an array of strings or objects, e.g. from open() or a SharedArray)", name)
		}
		if err := d.checkField(name, p.field); err != nil {
			return err
		}
		if p.esc == Header && bytes.ContainsAny(d.cols[p.field].bytes, "\r\n") {
			return fmt.Errorf("uses %s, and a data row has a line break there, which cannot go in a header", name)
		}
	}
	return nil
}

func (d *Data) checkField(name, field string) error {
	switch {
	case field == "" && d.objects:
		return fmt.Errorf("uses %s but the data rows are objects: name a field, e.g. {{data.%s}}", name, d.fields()[0])
	case field != "" && !d.objects:
		return fmt.Errorf("uses %s but the data rows are strings: use {{data}}", name)
	}
	c := d.cols[field]
	if c == nil {
		return fmt.Errorf("uses %s but no data row has the field %q; fields: %s", name, field, strings.Join(d.fields(), ", "))
	}
	if c.absent > 0 {
		return fmt.Errorf("uses %s but %d data rows have no field %q, e.g. data[%d]", name, c.absent, field, c.missing[0])
	}
	return nil
}

func (d *Data) fields() []string {
	names := make([]string, 0, len(d.cols))
	for k := range d.cols {
		names = append(names, k)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return []string{"FIELD"}
	}
	return names
}
