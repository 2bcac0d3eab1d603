package tempdb

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	_ "github.com/lib/pq"
)

// A cluster whose test process died is stopped and removed by the next New.
func TestNewReapsClustersOfDeadProcesses(t *testing.T) {
	orphan, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orphan.Stop() })
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(orphan.dir, ownerFile)
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	fresh, err := New() // the live owner of this one is us: it must survive
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Stop() })
	if _, err := os.Stat(orphan.dir); !os.IsNotExist(err) {
		t.Fatalf("orphan %s still there (stat: %v)", orphan.dir, err)
	}
	db, err := sql.Open("postgres", orphan.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err == nil {
		t.Fatalf("orphan cluster on port %d still answers", orphan.port)
	}
	if _, err := os.Stat(fresh.dir); err != nil {
		t.Fatalf("the live cluster was touched: %v", err)
	}
}
