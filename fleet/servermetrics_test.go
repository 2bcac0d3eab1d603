package fleet

import (
	"os"
	"path/filepath"
	"testing"
)

// Two servers' histograms merge bucket by bucket: 90 fast rows on one and
// 10 slow ones on the other (two past the last bucket) put p50 in the fast
// bucket, p95 in the slow one and p99 above it, which no average of
// per-server quantiles would give.
func TestReadServerMetricsMergesHistograms(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("metrics-00.prom", `# TYPE massconn_insert_to_send_seconds histogram
massconn_insert_to_send_seconds_bucket{le="0.01"} 90
massconn_insert_to_send_seconds_bucket{le="1"} 90
massconn_insert_to_send_seconds_bucket{le="+Inf"} 90
massconn_insert_to_send_seconds_sum 0.5
massconn_insert_to_send_seconds_count 90
# TYPE massconn_connections_accepted_total counter
massconn_connections_accepted_total 1000
# TYPE massconn_connections_rejected_total counter
massconn_connections_rejected_total{reason="max_conns",transport="sse"} 1
massconn_connections_rejected_total{reason="max_conns",transport="ws"} 2
massconn_connections_rejected_total{reason="unknown_topic",transport="sse"} 0
massconn_connections_rejected_total{reason="unknown_topic",transport="ws"} 0
`)
	write("metrics-01.prom", `# TYPE massconn_insert_to_send_seconds histogram
massconn_insert_to_send_seconds_bucket{le="0.01"} 0
massconn_insert_to_send_seconds_bucket{le="1"} 8
massconn_insert_to_send_seconds_bucket{le="+Inf"} 10
massconn_insert_to_send_seconds_sum 5
massconn_insert_to_send_seconds_count 10
# TYPE massconn_connections_accepted_total counter
massconn_connections_accepted_total 500
# TYPE massconn_connections_rejected_total counter
massconn_connections_rejected_total{reason="max_conns",transport="sse"} 0
massconn_connections_rejected_total{reason="max_conns",transport="ws"} 4
`)
	sv, err := readServerMetrics([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	// Rejections add up by reason over both transports and both servers.
	if sv.Snapshots != 2 || sv.Accepted != 1500 || sv.Rejected["max_conns"] != 7 || len(sv.Rejected) != 1 {
		t.Fatalf("%+v", sv)
	}
	q := sv.InsertToQueue
	if q == nil || q.Count != 100 || q.P50 != 10 || q.P95 != 1000 || q.P99 != -1 || q.LargestBound != 1000 {
		t.Fatalf("insert to queue %+v, want p50 <= 10 ms, p95 <= 1000 ms, p99 above the last bucket (1000 ms)", q)
	}
	if got := q.Bound(q.P99); got != "> 1000" {
		t.Errorf("p99 renders as %q", got)
	}
	if none, err := readServerMetrics([]string{t.TempDir()}); err != nil || none != nil {
		t.Fatalf("no snapshots: %+v, %v", none, err)
	}
}

func TestReadServerMetricsHoldMemory(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"metrics-00.prom": "# TYPE massconn_connections_accepted_total counter\nmassconn_connections_accepted_total 3000\n",
		"hold-metrics-00.prom": `# TYPE massconn_connections gauge
massconn_connections 1000
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 8e+06
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 4e+06
# TYPE go_memstats_stack_inuse_bytes gauge
go_memstats_stack_inuse_bytes 2e+06
# TYPE go_goroutines gauge
go_goroutines 1010
`,
		"hold-metrics-01.prom": "# TYPE massconn_connections gauge\nmassconn_connections 2000\n# TYPE go_goroutines gauge\ngo_goroutines 10\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sv, err := readServerMetrics([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	h := sv.Hold
	if sv.Accepted != 3000 || h == nil || h.Connections != 3000 || h.RSSBytes != 8e6 || h.HeapInuseBytes != 4e6 ||
		h.StackInuseBytes != 2e6 || h.Goroutines != 1020 {
		t.Fatalf("server side %+v, hold %+v", sv, h)
	}
}
