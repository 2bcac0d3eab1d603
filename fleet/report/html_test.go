package report

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The page carries massconn's measures, escapes what runs put in it, loads
// nothing from anywhere, and every chart is well-formed SVG.
func TestHTMLReportPage(t *testing.T) {
	r := sampleReport()
	r.Connections.DropCode = map[string]int64{"1006": 4, "1001": 1}
	r.Connecting = &Percentiles{Count: 1000, P50: 1, P95: 2, P99: 3, Max: 9}
	page := HTML(r)
	for _, want := range []string{
		`class="verdict fail">FAIL`, "massconn capacity &lt;test&gt;", "10 connections failed",
		">Open connections", ">Connect rate", ">Fan-out latency", ">Failures by reason", ">Drops by close code",
		">timeout<", ">refused<", "7 (70%)", ">1006<", "4 (80%)", "connecting (TCP + handshake)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, "<test>") {
		t.Error("the title is not escaped")
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//|@import|<link`).MatchString(page) {
		t.Error("report.html refers to something outside itself")
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	if len(svgs) < 6 {
		t.Fatalf("want charts for connections, connect rate, latency, memory and two bar charts, got %d SVGs", len(svgs))
	}
	for i, svg := range svgs {
		dec := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("SVG %d is not well-formed: %v\n%s", i, err, svg)
			}
		}
	}
	// Bars largest first.
	if strings.Index(page, ">timeout<") > strings.Index(page, ">refused<") {
		t.Error("failure reasons are not sorted largest first")
	}
}

// A clean run says so instead of drawing empty bar charts.
func TestHTMLReportPageWithoutFailures(t *testing.T) {
	r := sampleReport()
	r.Pass, r.Problems = true, nil
	r.Connections.Failures, r.Connections.FailureReason = 0, nil
	page := HTML(r)
	for _, want := range []string{`class="verdict pass">PASS`, "no connection failed", "no connection dropped"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestWriteStoresTheHTMLPage(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, sampleReport()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !strings.HasPrefix(string(b), "<!doctype html>") {
		t.Errorf("report.html: %v %.40q", err, b)
	}
}

func TestTickStepIsRound(t *testing.T) {
	for span, want := range map[float64]float64{8: 1, 13: 2, 45: 5, 90: 10, 600: 60, 3600: 600} {
		if got := tickStep(span); got != want {
			t.Errorf("tickStep(%v) = %v, want %v", span, got, want)
		}
	}
}
