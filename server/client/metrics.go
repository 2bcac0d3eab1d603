package client

import (
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the metric families of one /metrics reply, by name.
type Metrics map[string]*dto.MetricFamily

// ParseMetrics reads the Prometheus text format, as the server's /metrics
// writes it and as the fleet stores snapshots of it.
func ParseMetrics(r io.Reader) (Metrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return Metrics(fams), nil
}

// Value is the sample of an unlabelled counter, gauge or untyped metric
// (massconn_connections, go_goroutines, process_resident_memory_bytes);
// ErrNoSample when there is none.
func (m Metrics) Value(name string) (float64, error) {
	for _, s := range m[name].GetMetric() {
		if len(s.GetLabel()) == 0 {
			return sampleValue(s), nil
		}
	}
	return 0, fmt.Errorf("metric %s: %w", name, ErrNoSample)
}

// Sum adds up every sample of a counter, gauge or untyped metric, whatever
// its labels (0 when the metric is absent).
func (m Metrics) Sum(name string) float64 {
	var total float64
	for _, s := range m[name].GetMetric() {
		total += sampleValue(s)
	}
	return total
}

// SumByLabel adds up the samples of a counter, gauge or untyped metric by
// the value of one label (massconn_connections_rejected_total by "reason",
// over every "transport");
// samples without that label are left out.
func (m Metrics) SumByLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m[name].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += sampleValue(s)
			}
		}
	}
	return out
}

// sampleValue is the value of a counter, gauge or untyped sample: only one
// of the three is set.
func sampleValue(s *dto.Metric) float64 {
	return s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()
}
