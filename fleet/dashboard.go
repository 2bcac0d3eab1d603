package fleet

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
)

// DashboardConfigFile is the web-dashboard configuration a part writes into
// its directory and points k6 at (XK6_DASHBOARD_CONFIG), so that every
// part's exported dashboard opens on the massconn tab.
const DashboardConfigFile = "dashboard-config.json"

// dashboardConfig is a copy of xk6-massconn/dashboard/massconn.json, the
// configuration the extension ships. It is embedded because a part may run
// on a host that has only the binaries (the Ansible playbook copies no
// source), and the extension is another Go module, which go:embed cannot
// reach; TestDashboardConfigIsTheExtensions keeps the copy identical.
//
//go:embed dashboard-config.json
var dashboardConfig []byte

// dashboardTags are the tags the web dashboard splits metrics by: k6's
// default (group) plus the massconn tab's failures by reason and drops by
// close code.
const dashboardTags = "group,reason,code"

// writeDashboardConfig puts the dashboard configuration into dir.
func writeDashboardConfig(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, DashboardConfigFile), dashboardConfig, 0o644); err != nil {
		return fmt.Errorf("write the web-dashboard configuration: %w", err)
	}
	return nil
}
