package massconn

import (
	"os"
	"strings"
	"testing"

	"go.k6.io/k6/js/common"
)

// massconn.version is the Version constant, and CHANGELOG.md has a section
// for it: a release is not cut without saying what changed.
func TestVersionIsExportedAndInTheChangelog(t *testing.T) {
	rt, _ := vuRuntime(t, common.Events{})
	v, err := rt.VU.Runtime().RunString(`massconn.version`)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); got != Version {
		t.Fatalf("massconn.version = %q, want %q", got, Version)
	}
	log, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "## "+Version) {
		t.Fatalf("CHANGELOG.md has no section '## %s'", Version)
	}
}
