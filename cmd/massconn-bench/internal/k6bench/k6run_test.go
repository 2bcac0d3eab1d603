package k6bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogInts(t *testing.T) {
	log := "time=1 level=info msg=\"BENCH open=17998 failed=2 connect_ms=812 failures={\\\"timeout\\\":2}\" source=console\n"
	got, err := logInts(log, "BENCH open=", "open", "connect_ms", "failed")
	if err != nil {
		t.Fatal(err)
	}
	if got["open"] != 17998 || got["connect_ms"] != 812 || got["failed"] != 2 {
		t.Errorf("got %v", got)
	}
	// ms= must not match the tail of connect_ms=.
	if _, err := logInts("BENCH received=5 connect_ms=3\n", "BENCH received=", "ms"); err == nil {
		t.Error("ms found inside connect_ms")
	}
	if _, err := logInts("nothing here\n", "BENCH open=", "open"); err == nil || !strings.Contains(err.Error(), "BENCH open=") {
		t.Errorf("missing line: got %v", err)
	}
}

func TestLineField(t *testing.T) {
	out := "starting\nlistening 41345\nlistening-tls 44601\n"
	if got := lineField(out, "listening"); got != "41345" {
		t.Errorf("listening = %q", got)
	}
	if got := lineField(out, "listening-tls"); got != "44601" {
		t.Errorf("listening-tls = %q", got)
	}
	if got := lineField("listening\n", "listening"); got != "" {
		t.Errorf("no port: %q", got)
	}
}

func TestReadSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.json")
	body := `{"metrics":{"bench_opened_at":{"count":2000,"max":512,"thresholds":{"count>0":false}},"massconn_rtt":{"p(99)":4.5}}}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := readSummary(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.fields("bench_opened_at.count", "bench_opened_at.max", "massconn_rtt.p(99)")
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != 2000 || v[1] != 512 || v[2] != 4.5 {
		t.Errorf("got %v", v)
	}
	if _, err := s.get("ws_sessions", "count"); err == nil || !strings.Contains(err.Error(), "ws_sessions.count") {
		t.Errorf("missing metric: got %v", err)
	}
	if stat(2000) != "2000" || stat(4.5) != "4.500" {
		t.Errorf("stat: %s %s", stat(2000), stat(4.5))
	}
}

func TestEnvIntNamesTheVariable(t *testing.T) {
	t.Setenv("STOCK_CONNS", "2k")
	if _, err := envInt("STOCK_CONNS", 2000); err == nil || !strings.Contains(err.Error(), "STOCK_CONNS") {
		t.Errorf("got %v", err)
	}
	t.Setenv("STOCK_CONNS", "")
	if n, err := envInt("STOCK_CONNS", 2000); err != nil || n != 2000 {
		t.Errorf("empty: %d %v", n, err)
	}
	t.Setenv("MASSCONN_LOCAL_ADDRS", "")
	if got := envSet("MASSCONN_LOCAL_ADDRS", "127.0.0.1"); got != "" {
		t.Errorf("set but empty must stay empty (the kernel's choice), got %q", got)
	}
}
