package report

import (
	"encoding/xml"
	"strings"
	"testing"
)

// heartbeatReport is a heartbeat run as the merge writes it: no rows
// published, so no fan-out latency, a delivery "not checked", nothing
// received or queued; the verdict's p99 bound still set.
func heartbeatReport() *Report {
	r := sampleReport()
	r.Scenario, r.Transport, r.Problems, r.Pass = "heartbeat", "sse", nil, true
	r.Latency, r.LatencyAll = nil, nil
	for i := range r.Series {
		r.Series[i].LatencyP50, r.Series[i].LatencyP99 = nil, nil
	}
	r.P99BoundMs = 1000
	r.Delivery = &Delivery{Table: "Track", NotChecked: "the heartbeat scenario publishes nothing"}
	r.Heartbeat = &Heartbeat{EverySeconds: 15, BoundSeconds: 16, LongestSilenceMs: 15200, Keepalives: 40000, Silence: &Percentiles{P50: 15060, P99: 15200, Max: 15200, Samples: 990}}
	r.Servers = &ServerSide{Accepted: 990, Rejected: map[string]int64{}}
	f := sampleFloor()
	f.Hold.Deliveries, f.Hold.DeliveriesFrom = 0, ""
	f.Compute(0, 990)
	r.Floor = f
	return r
}

// A heartbeat run's report leaves out the rows about delivered rows: the
// verdict's fan-out p99 bound, the delivery check "not checked", messages
// received and rows notified, the fan-out latency chart and percentiles.
// The heartbeat's own rows and the connection rows stay.
func TestHeartbeatReportHidesDeliveryRows(t *testing.T) {
	r := heartbeatReport()
	deliveryOnly := []string{"fan-out p99 bound", "to every connection", "messages received", "rows notified", "fan-out latency"}
	for name, page := range map[string]string{"markdown": Markdown(r), "summary": Summary(r), "html": HTML(r)} {
		low := strings.ToLower(page)
		for _, gone := range deliveryOnly {
			if strings.Contains(low, gone) {
				t.Errorf("%s of a heartbeat run shows %q", name, gone)
			}
		}
		for _, want := range []string{"longest silence", "connection rate", "server: connections accepted"} {
			if name != "html" && !strings.Contains(low, want) {
				t.Errorf("%s of a heartbeat run lacks %q", name, want)
			}
		}
	}
	if html := HTML(r); strings.Contains(html, "fan-out, every connection open") || !strings.Contains(html, "connecting (TCP + handshake)") {
		t.Errorf("html percentiles: want the connecting row and no fan-out row")
	}

	svg := SVG(r)
	if strings.Contains(svg, "insert-to-client latency") || !strings.Contains(svg, "resident memory") {
		t.Error("chart.svg of a heartbeat run: want the memory panel and no latency panel")
	}
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Errorf("chart.svg of a heartbeat run is not well-formed: %v", err)
	}

	// The same report of another scenario keeps them.
	r.Heartbeat = nil
	md := strings.ToLower(Markdown(r))
	for _, want := range []string{"fan-out p99 bound", "to every connection", "messages received", "rows notified"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown of a capacity run lacks %q", want)
		}
	}
	if !strings.Contains(HTML(r), "Fan-out latency, insert to client") || !strings.Contains(SVG(r), "insert-to-client latency") {
		t.Error("html or chart.svg of a capacity run lacks the fan-out latency chart")
	}
}
