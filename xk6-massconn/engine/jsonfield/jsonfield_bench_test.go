package jsonfield

import (
	"encoding/json"
	"testing"
)

// benchFloat and benchInt keep the compiler from discarding results.
var (
	benchFloat float64
	benchInt   int64
)

// benchMessage is the reference server's message shape: the latency
// field sits after a few scalars, before a nested row that is skipped.
var benchMessage = []byte(`{"topic":"Track","op":"INSERT","id":42,"ts":1795430400123456,"row":{"id":42,"name":"Track 1","tags":["a","b"]}}`)

// BenchmarkNumber is the top-level number lookup of the "latency.field"
// option, present and absent (the whole object is skipped), with
// encoding/json decoding the same field in the same run as the reference.
func BenchmarkNumber(b *testing.B) {
	b.Run("present", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchMessage)))
		for b.Loop() {
			v, ok := Number(benchMessage, "ts")
			if !ok {
				b.Fatal("not found")
			}
			benchFloat += v
		}
	})
	b.Run("absent", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchMessage)))
		for b.Loop() {
			if _, ok := Number(benchMessage, "no_such_field"); ok {
				b.Fatal("found")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchMessage)))
		for b.Loop() {
			var v struct {
				TS float64 `json:"ts"`
			}
			if err := json.Unmarshal(benchMessage, &v); err != nil {
				b.Fatal(err)
			}
			benchFloat += v.TS
		}
	})
}

// BenchmarkLookupInt is the path lookup plus integer read of the sequence
// option (and of the adapters' numeric fields): a nested key and an array
// element.
func BenchmarkLookupInt(b *testing.B) {
	for _, tc := range []struct{ name, path string }{
		{"key", "row.id"},
		{"index", "[1].seq"},
	} {
		msg := benchMessage
		if tc.name == "index" {
			msg = []byte(`["tick",{"seq":123456789,"ts":1795430400123456}]`)
		}
		path := mustPath(b, tc.path)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				raw, ok := path.Lookup(msg)
				if !ok {
					b.Fatal("not found")
				}
				n, ok := Int(raw)
				if !ok {
					b.Fatalf("%q is not an integer", raw)
				}
				benchInt += n
			}
		})
	}
}

// BenchmarkMembers walks every member of an object, as the protocol
// adapters do to classify a message by its keys.
func BenchmarkMembers(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		n := int64(0)
		for m := Members(benchMessage); m.Next(); {
			n += int64(len(m.Value()))
		}
		benchInt += n
	}
}
