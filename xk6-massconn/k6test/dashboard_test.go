package k6test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// k6's web dashboard, exported at the end of a real run with the
// extension's configuration (dashboard/massconn.json through
// XK6_DASHBOARD_CONFIG), opens on the massconn tab and holds what its
// panels plot, failures split by reason included. MASSCONN_DASHBOARD=FILE
// keeps the report (to look at it in a browser).
func TestWebDashboardExportHasTheMassconnTab(t *testing.T) {
	config, err := filepath.Abs(filepath.Join("..", "dashboard", "massconn.json"))
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "dashboard.html")
	if keep := os.Getenv("MASSCONN_DASHBOARD"); keep != "" {
		report = keep
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k6Binary(t), "run", "--no-color",
		"-e", "WS_URL="+startWSPeer(t),
		"-e", fmt.Sprintf("REFUSED_URL=ws://127.0.0.1:%d/", closedPort(t)),
		filepath.Join("testdata", "dashboard.js"))
	cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true",
		"K6_WEB_DASHBOARD=true", "K6_WEB_DASHBOARD_PORT=-1", "K6_WEB_DASHBOARD_PERIOD=1s",
		"K6_WEB_DASHBOARD_EXPORT="+report, "K6_WEB_DASHBOARD_TAGS=group,reason,code",
		"XK6_DASHBOARD_CONFIG="+config)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("k6: %v\n%s", err, out)
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("k6 exported no dashboard: %v", err)
	}
	events := dashboardData(t, html)

	var cfg struct {
		Tabs []struct {
			Title string `json:"title"`
		} `json:"tabs"`
	}
	if err := json.Unmarshal(events["config"], &cfg); err != nil {
		t.Fatalf("the report's config event: %v", err)
	}
	if len(cfg.Tabs) == 0 || cfg.Tabs[0].Title != "massconn" {
		t.Errorf("the report's tabs are %+v, want the massconn tab first", cfg.Tabs)
	}
	// The metric event names every series the run had, submetrics by tag
	// included.
	for _, want := range []string{`"massconn_open"`, `"ws_sessions"`, `"ws_connecting"`, `"massconn_failures{reason:refused}"`} {
		if !bytes.Contains(events["metric"], []byte(want)) {
			t.Errorf("the report has no %s series:\n%s", want, events["metric"])
		}
	}
}

// dashboardData decodes the events k6's web dashboard stored in an exported
// report (a gzip'd, base64'd stream of JSON events in <script id="data">):
// the data of each event name, the data of repeated events (a metric event
// names the metrics new since the last one) one after the other.
func dashboardData(t *testing.T, html []byte) map[string]json.RawMessage {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script id="data"[^>]*>(.*?)</script>`).FindSubmatch(html)
	if m == nil {
		t.Fatal("the dashboard report has no data script")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(m[1])))
	if err != nil {
		t.Fatalf("the dashboard report's data is not base64: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the dashboard report's data is not gzip: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]json.RawMessage{}
	dec := json.NewDecoder(bytes.NewReader(plain))
	for dec.More() {
		var ev struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("the dashboard report's events: %v", err)
		}
		events[ev.Event] = append(events[ev.Event], ev.Data...)
	}
	return events
}
