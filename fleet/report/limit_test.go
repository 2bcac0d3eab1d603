package report

import (
	"encoding/xml"
	"regexp"
	"strings"
	"testing"
)

// The search's page: the summary, the knee with the SLO line on the p99
// panel, broken steps marked, and every step in the table.
func TestLimitOnThePage(t *testing.T) {
	p := func(v float64) *float64 { return &v }
	at, on, by := int64(3000), "190 failures: reset", "target"
	r := sampleReport()
	r.Limit = &Limit{
		Holds: 2000, BreaksAt: &at, BrokeOn: &on, LimitedBy: &by, Summary: "holds 2,000, breaks at 3,000: 190 failures: reset",
		SLO: LimitSLO{FanoutP99Ms: 1000, ConnectP95Ms: 5000},
		Steps: []LimitStep{
			{Connections: 1000, Open: 1000, FanoutP99Ms: p(40), DeliveredRatio: p(1), TargetRSSPerConn: 20000},
			{Connections: 2000, Open: 2000, FanoutP99Ms: p(60), DeliveredRatio: p(1), TargetRSSPerConn: 19000},
			{Connections: 3000, Open: 2810, Failures: 190, FailuresByReason: map[string]int64{"reset": 190}, Broke: []string{on}},
		},
	}
	page := HTML(r)
	for _, want := range []string{"The capacity search", "holds 2,000, breaks at 3,000: 190 failures: reset", "SLO p99 1 s",
		"fan-out p99 while all were open", "target RSS per connection", "<td>3,000</td>", `fill="#d62728"`} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	svg := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindString(page)
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Errorf("the knee is not well-formed SVG: %v", err)
	}
	if md := Markdown(r); !strings.Contains(md, "## The capacity search") || !strings.Contains(md, "| 3,000 | 2,810 | 190 |") {
		t.Errorf("report.md lacks the search's table:\n%s", md)
	}
}
