package verdict

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture is one testdata/*.json: an Input and what the verdict must say.
// Each wanted problem is a part of the problem at the same place.
type fixture struct {
	Input Input `json:"input"`
	Want  struct {
		Pass     bool     `json:"pass"`
		Problems []string `json:"problems"`
		Delivery *struct {
			Rows       *int64 `json:"rows"`
			FirstID    *int64 `json:"first_id"`
			LastID     *int64 `json:"last_id"`
			NotChecked string `json:"not_checked"`
		} `json:"delivery"`
	} `json:"want"`
}

// TestJudgeFixtures runs the verdict on every fixture: a clean run, each
// reason a run fails for, and the edges of the delivery window.
func TestJudgeFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata (%v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var fx fixture
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&fx); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			got := Judge(fx.Input)
			if got.Pass != fx.Want.Pass {
				t.Errorf("pass %v, want %v; problems %q", got.Pass, fx.Want.Pass, got.Problems)
			}
			if len(got.Problems) != len(fx.Want.Problems) {
				t.Fatalf("problems %q, want %d: %q", got.Problems, len(fx.Want.Problems), fx.Want.Problems)
			}
			for i, want := range fx.Want.Problems {
				if !strings.Contains(got.Problems[i], want) {
					t.Errorf("problem %d %q, want it to say %q", i, got.Problems[i], want)
				}
			}
			wd := fx.Want.Delivery
			if wd == nil {
				return
			}
			d := got.Delivery
			if wd.Rows != nil && d.Rows != *wd.Rows {
				t.Errorf("rows expected %d, want %d (window %v .. %v)", d.Rows, *wd.Rows, d.WindowStart, d.WindowEnd)
			}
			if wd.FirstID != nil && d.FirstID != *wd.FirstID || wd.LastID != nil && d.LastID != *wd.LastID {
				t.Errorf("ids %d..%d, want %v..%v", d.FirstID, d.LastID, deref(wd.FirstID), deref(wd.LastID))
			}
			if !strings.Contains(d.NotChecked, wd.NotChecked) || (wd.NotChecked == "") != (d.NotChecked == "") {
				t.Errorf("not checked %q, want %q", d.NotChecked, wd.NotChecked)
			}
		})
	}
}

func deref(p *int64) any {
	if p == nil {
		return "any"
	}
	return *p
}

// The verdict's figures follow the input: deliveries are rows × opened,
// and the bound defaults to DefaultP99Bound.
func TestJudgeFigures(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "pass.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	got := Judge(fx.Input)
	if got.P99BoundMs != 1000 {
		t.Errorf("bound %v ms, want the default 1000", got.P99BoundMs)
	}
	if d := got.Delivery; d.Deliveries != 300 || d.RowsInserted != 5 || d.Sequences != 100 || !d.Complete || d.Table != "Track" {
		t.Errorf("delivery %+v: want 3 rows × 100 connections, 5 inserted, 100 sequences, complete, table Track", d)
	}
}
