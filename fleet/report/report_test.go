package report

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	p50, p99 := 3.5, 12.0
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &Report{
		Title: "massconn capacity <test>", Scenario: "capacity", Started: start, Ended: start.Add(3 * time.Second),
		Connections: Connections{Target: 1000, Opened: 990, PeakOpen: 990, Failures: 10,
			FailureReason: map[string]int64{"timeout": 7, "refused": 3}, DropCode: map[string]int64{}},
		Latency: &Percentiles{Count: 1234567, Samples: 1000, P50: 3.5, P95: 9, P99: 12, Max: 40},
		Parts:   []Part{{Index: 0, Segment: "0:1", Thresholds: map[string]bool{"massconn_failures: count==0": true}}},
		Series: []Point{
			{T: 0, Open: 10},
			{T: 1, Open: 990, LatencyP50: &p50, LatencyP99: &p99, ClientRSSMB: 40, ServerRSSMB: 20},
			{T: 2, Open: 990, ClientRSSMB: 41, ServerRSSMB: 20},
		},
		Problems: []string{"10 connections failed"},
	}
}

func TestMarkdownCarriesTheFigures(t *testing.T) {
	md := Markdown(sampleReport())
	for _, want := range []string{
		"— FAIL", "| held at once (peak) | 990 |", "(refused: 3, timeout: 7)", "1,234,567 deliveries",
		"p99 12.0", "threshold massconn_failures: count==0 crossed", "## How the parts were merged",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// The chart must be well-formed XML (a browser shows nothing otherwise),
// with escaped text and one line per series that has data.
func TestSVGIsWellFormed(t *testing.T) {
	svg := SVG(sampleReport())
	dec := xml.NewDecoder(strings.NewReader(svg))
	lines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 5 { // open; p50, p99; client, server
		t.Errorf("%d polylines, want 5", lines)
	}
	if !strings.Contains(svg, "&lt;test&gt;") {
		t.Error("title not escaped")
	}
}

func TestWriteCreatesAllFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := Write(dir, sampleReport()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.json", "report.md", "chart.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 200000: "200,000", -1234567: "-1,234,567"} {
		if got := num(in); got != want {
			t.Errorf("num(%d) = %q, want %q", in, got, want)
		}
	}
}
