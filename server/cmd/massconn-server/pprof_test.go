package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/massconn/massconn/internal/freeport"
)

func TestPprofServesACPUProfileOnItsOwnAddress(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Must(t))
	stop, err := servePprof(addr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("profile: %v %s", err, resp.Status)
	}
	// A CPU profile is gzipped protobuf.
	if _, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
		t.Fatalf("profile is not gzip: %v", err)
	}
	if _, err := servePprof(addr, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("a second listener on the same address was accepted")
	}
}

func TestBadPprofAddressNamesTheFlag(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"serve", "--database-url", "postgres://127.0.0.1:1/none", "--pprof", "6060"}, io.Discard, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "--pprof \"6060\" needs host:port") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
