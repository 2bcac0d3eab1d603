package fleet

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The fleet's embedded copy is the extension's configuration, byte for byte.
func TestDashboardConfigIsTheExtensions(t *testing.T) {
	ext, err := os.ReadFile(filepath.Join("..", "xk6-massconn", "dashboard", "massconn.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ext, dashboardConfig) {
		t.Error("fleet/dashboard-config.json differs from xk6-massconn/dashboard/massconn.json: copy the extension's file over it")
	}
}

// dashboardEvents decodes what k6's web dashboard stored in an exported
// report: a gzip'd, base64'd stream of JSON events in <script id="data">.
func dashboardEvents(t *testing.T, html []byte) []map[string]json.RawMessage {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script id="data"[^>]*>(.*?)</script>`).FindSubmatch(html)
	if m == nil {
		t.Fatal("the dashboard report has no data script")
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(m[1])))
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
	var events []map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(plain))
	for dec.More() {
		var ev map[string]json.RawMessage
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("the dashboard report's events: %v", err)
		}
		events = append(events, ev)
	}
	return events
}

// dashboardTabs returns the tab titles of the report's configuration event.
func dashboardTabs(t *testing.T, html []byte) []string {
	t.Helper()
	for _, ev := range dashboardEvents(t, html) {
		var name string
		_ = json.Unmarshal(ev["event"], &name)
		if name != "config" {
			continue
		}
		var cfg struct {
			Tabs []struct {
				Title string `json:"title"`
			} `json:"tabs"`
		}
		if err := json.Unmarshal(ev["data"], &cfg); err != nil {
			t.Fatalf("the dashboard's config event: %v", err)
		}
		var titles []string
		for _, tab := range cfg.Tabs {
			titles = append(titles, tab.Title)
		}
		return titles
	}
	t.Fatal("the dashboard report has no config event")
	return nil
}
