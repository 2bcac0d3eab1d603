package massconn

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"go.k6.io/k6/metrics"
)

// dashboardConfig is the web-dashboard configuration the extension ships
// (dashboard/massconn.json, read by k6 through XK6_DASHBOARD_CONFIG).
type dashboardConfig struct {
	Title string `json:"title"`
	Tabs  []struct {
		ID       string `json:"id"`
		Title    string `json:"title"`
		Sections []struct {
			ID     string `json:"id"`
			Panels []struct {
				ID     string `json:"id"`
				Title  string `json:"title"`
				Kind   string `json:"kind"`
				Series []struct {
					Query string `json:"query"`
				} `json:"series"`
			} `json:"panels"`
		} `json:"sections"`
	} `json:"tabs"`
}

// Every metric a panel of the shipped dashboard plots is one k6 or this
// extension registers: a metric renamed here without its panel would
// leave the panel empty for ever, and the dashboard says nothing about it.
func TestDashboardConfigNamesRealMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("dashboard", "massconn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg dashboardConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("dashboard/massconn.json: %v", err)
	}
	registry := metrics.NewRegistry()
	metrics.RegisterBuiltinMetrics(registry)
	if _, err := registerMetrics(registry); err != nil {
		t.Fatal(err)
	}
	var known []string
	for _, m := range registry.All() {
		known = append(known, m.Name)
	}

	if len(cfg.Tabs) == 0 || cfg.Tabs[0].Title != "massconn" {
		t.Fatalf("the first tab should be massconn, got %+v", cfg.Tabs)
	}
	// A query is METRIC[?filter], or [?filter] over every metric (the
	// summary tables).
	query := regexp.MustCompile(`^([a-z0-9_]*)\[\?.+\]$`)
	ids := map[string]bool{}
	plotted := map[string]bool{}
	for _, tab := range cfg.Tabs {
		for _, sec := range tab.Sections {
			for _, p := range sec.Panels {
				for _, id := range []string{tab.ID, sec.ID, p.ID} {
					if id == "" {
						t.Errorf("panel %q: a tab, section or panel without an id", p.Title)
					}
				}
				if ids[p.ID] {
					t.Errorf("panel id %q twice", p.ID)
				}
				ids[p.ID] = true
				if !slices.Contains([]string{"chart", "stat", "summary"}, p.Kind) {
					t.Errorf("panel %q: kind %q", p.Title, p.Kind)
				}
				if len(p.Series) == 0 {
					t.Errorf("panel %q has no series", p.Title)
				}
				for _, s := range p.Series {
					m := query.FindStringSubmatch(s.Query)
					if m == nil {
						t.Errorf("panel %q: query %q is not METRIC[?filter]", p.Title, s.Query)
						continue
					}
					if m[1] == "" {
						continue
					}
					plotted[m[1]] = true
					if !slices.Contains(known, m[1]) {
						t.Errorf("panel %q plots %s, which neither k6 nor the extension registers", p.Title, m[1])
					}
				}
			}
		}
	}
	// What the issue asks the tab for: open connections, connect rate,
	// failures, latency.
	for _, want := range []string{openMetric, "ws_sessions", failuresMetric, dropsMetric, latencyMetric, "ws_connecting"} {
		if !plotted[want] {
			t.Errorf("no panel plots %s", want)
		}
	}
}
