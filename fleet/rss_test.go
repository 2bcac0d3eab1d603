package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The sampler reads this very process from /proc and writes a CSV that
// ReadRSS parses back.
func TestRSSSamplerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), RSSFile)
	s, err := NewRSSSampler(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Watch(os.Getpid(), "k6")
	s.Watch(1<<30, "server") // no such process: forgotten, not an error
	now := time.UnixMilli(1_700_000_000_000)
	if left := s.Sample(now); left != 1 {
		t.Fatalf("%d processes left after a sample, want 1 (the missing one dropped)", left)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ReadRSS(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].PID != os.Getpid() || rows[0].Role != "k6" || rows[0].RSSKB <= 0 || !rows[0].Time.Equal(now) {
		t.Fatalf("rows %+v", rows)
	}
}

func TestReadRSSRejectsOtherFiles(t *testing.T) {
	for _, in := range []string{"", "time,pid\n1,2\n", "unix_ms,role,pid,rss_kb\nx,k6,1,2\n"} {
		if _, err := ReadRSS(strings.NewReader(in)); err == nil {
			t.Errorf("ReadRSS(%q) accepted it", in)
		}
	}
}
