package fleet

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/massconn/massconn/fleet/report"
	"github.com/massconn/massconn/server/client"
)

// ServerMetricsGlob names the server /metrics snapshots a server directory
// may hold, taken once the k6 parts have ended, before the servers stop
// (its counters are cumulative over the run).
const ServerMetricsGlob = "metrics-*.prom"

// HoldMetricsGlob names snapshots taken while every connection was open:
// they show where a held connection's server memory goes.
const HoldMetricsGlob = "hold-metrics-*.prom"

// snapshotTimeout is how long a /metrics snapshot may take: the end-of-run
// one is worth waiting for on a machine busy closing a few hundred thousand
// connections.
const snapshotTimeout = 60 * time.Second

// saveServerMetrics stores each server's /metrics text in dir as
// prefix-NN.prom.
func saveServerMetrics(plans []ServerPlan, dir, prefix string) error {
	var errs []error
	for _, sp := range plans {
		b, err := client.New(sp.Listen, snapshotTimeout).MetricsText(context.Background())
		if err != nil {
			errs = append(errs, fmt.Errorf("scrape %s: %w", sp.Listen, err))
			continue
		}
		name := filepath.Join(dir, fmt.Sprintf("%s-%02d.prom", prefix, sp.Index))
		if err := os.WriteFile(name, b, 0o644); err != nil { //nolint:gosec // results are meant to be read
			errs = append(errs, fmt.Errorf("write %s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("server metrics: %v", errs)
	}
	return nil
}

// readServerMetrics sums the snapshots in dirs: counters add up, and the
// insert-to-queue histograms add bucket by bucket (Prometheus buckets are
// cumulative counts with the same bounds on every server), so the merged
// quantiles are those of all servers' observations together.
func readServerMetrics(dirs []string) (*report.ServerSide, error) {
	files, err := globAll(dirs, ServerMetricsGlob)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}
	out := &report.ServerSide{Snapshots: len(files), Rejected: map[string]int64{}}
	if out.Hold, err = readHoldMetrics(dirs); err != nil {
		return nil, err
	}
	buckets := map[float64]uint64{}
	var histCount uint64
	for _, f := range files {
		fams, err := parsePromFile(f)
		if err != nil {
			return nil, err
		}
		out.Accepted += int64(fams.Sum("massconn_connections_accepted_total"))
		out.MessagesQueued += int64(fams.Sum("massconn_messages_sent_total"))
		out.SlowClientDrops += int64(fams.Sum("massconn_slow_client_drops_total"))
		out.PingTimeouts += int64(fams.Sum("massconn_ping_timeouts_total"))
		out.Notifications += int64(fams.Sum("massconn_notifications_total"))
		for reason, v := range fams.SumByLabel("massconn_connections_rejected_total", "reason") {
			if v != 0 {
				out.Rejected[reason] += int64(v)
			}
		}
		if f := fams["massconn_insert_to_send_seconds"]; f != nil {
			for _, m := range f.GetMetric() {
				h := m.GetHistogram()
				histCount += h.GetSampleCount()
				for _, b := range h.GetBucket() {
					buckets[b.GetUpperBound()] += b.GetCumulativeCount()
				}
			}
		}
	}
	if histCount > 0 {
		bounds := make([]float64, 0, len(buckets))
		for b := range buckets {
			bounds = append(bounds, b)
		}
		sort.Float64s(bounds)
		largest := 0.0
		for _, b := range bounds {
			if !math.IsInf(b, 1) {
				largest = b * 1000
			}
		}
		// A quantile past the last finite bucket is only known to be above
		// it: -1, with the bound alongside (JSON has no infinity).
		q := func(p float64) float64 {
			for _, b := range bounds {
				if float64(buckets[b]) >= p*float64(histCount) && !math.IsInf(b, 1) {
					return b * 1000
				}
			}
			return -1
		}
		out.InsertToQueue = &report.BucketQuantiles{Count: int64(histCount), P50: q(0.5), P95: q(0.95), P99: q(0.99), LargestBound: largest}
	}
	return out, nil
}

func parsePromFile(path string) (client.Metrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open server metrics: %w", err)
	}
	defer f.Close()
	fams, err := client.ParseMetrics(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fams, nil
}

func globAll(dirs []string, pattern string) ([]string, error) {
	var files []string
	for _, d := range dirs {
		m, err := filepath.Glob(filepath.Join(d, pattern))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", pattern, err)
		}
		files = append(files, m...)
	}
	return files, nil
}

// readHoldMetrics sums the Go runtime's own accounting over the servers
// while the connections were held.
func readHoldMetrics(dirs []string) (*report.ServerMemory, error) {
	files, err := globAll(dirs, HoldMetricsGlob)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	m := &report.ServerMemory{}
	for _, f := range files {
		fams, err := parsePromFile(f)
		if err != nil {
			return nil, err
		}
		m.Connections += int64(fams.Sum("massconn_connections"))
		m.RSSBytes += int64(fams.Sum("process_resident_memory_bytes"))
		m.HeapInuseBytes += int64(fams.Sum("go_memstats_heap_inuse_bytes"))
		m.StackInuseBytes += int64(fams.Sum("go_memstats_stack_inuse_bytes"))
		m.Goroutines += int64(fams.Sum("go_goroutines"))
	}
	return m, nil
}
