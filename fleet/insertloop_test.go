package fleet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An insert loop keeps writing its log for the whole run: one that died of
// a closed output (SIGPIPE on its second line) would be restarted and
// reported, and the run would fail for it.
func TestInsertLoopKeepsWritingItsLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := filepath.Join(t.TempDir(), "insert.log")
	l := &insertLoop{
		ctx: ctx, bin: "sh", args: []string{"-c", "echo first line; sleep 0.5; echo second line; exec sleep 60"},
		every: time.Second, log: log, logf: t.Logf,
	}
	l.start()
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(log)
		l.mu.Lock()
		problems := len(l.problems)
		l.mu.Unlock()
		if strings.Contains(string(b), "second line") || problems > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if problems := l.stop(); len(problems) > 0 {
		t.Fatalf("the loop exited during the run: %q", problems)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "first line\nsecond line\n") {
		t.Fatalf("log %q, want both lines", b)
	}
}
