package infra

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/pgtest"
)

// shotsEnv names a directory where the browser tests also leave their
// screenshots, for a person to look at.
const shotsEnv = "MASSCONN_SCREENSHOTS"

// chromium finds the browser; without one the test skips, except in CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if inCI() {
		t.Fatal("no chromium: .ci/run installs the Debian package chromium")
	}
	t.Skip("no chromium (apt-get install chromium); CI installs it")
	return ""
}

// browse runs headless chromium on url with mode (--dump-dom, or
// --screenshot=FILE), giving the page's scripts time to fetch and draw.
func browse(t *testing.T, browser, url string, mode ...string) string {
	t.Helper()
	profile := t.TempDir()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--user-data-dir=" + profile, "--virtual-time-budget=4000",
		"--window-size=1200,900"}, mode...)
	out, err := run(2*time.Minute, profile, append(os.Environ(), "HOME="+profile), browser, append(args, url)...)
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", mode, err, tail(out, 20))
	}
	return out
}

// countColour counts the pixels within a small distance of rgb.
func countColour(img image.Image, rgb [3]uint8) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			d := func(a uint32, c uint8) int { v := int(a>>8) - int(c); return v * v }
			if d(r, rgb[0])+d(g, rgb[1])+d(bl, rgb[2]) < 3*20*20 {
				n++
			}
		}
	}
	return n
}

func keepShot(t *testing.T, src, name string) {
	dir := os.Getenv(shotsEnv)
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, src, filepath.Join(dir, name))
	t.Logf("screenshot kept in %s", filepath.Join(dir, name))
}

// The live status page at / draws the last minutes from the server's own
// history (connections, messages/s, insert-to-send lag), in a real browser,
// against a real server holding real k6 connections.
func TestStatusPageChartsInABrowser(t *testing.T) {
	browser := chromium(t)
	k6 := k6Binary(t)
	pg := pgtest.Start(t)
	port := freeport.Must(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := append(os.Environ(), "DATABASE_URL="+pg.URL(), fmt.Sprintf("LISTEN=127.0.0.1:%d", port))
	start := func(name string, args ...string) {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 15 * time.Second
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cancel()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s log:\n%s", filepath.Base(name), tail(logs.String(), 30))
			}
		})
	}
	start(serverBinary(t), "serve")
	waitFor(t, "the server's /healthz to say ok", func() bool {
		body, err := httpGetBody(base + "/healthz")
		return err == nil && strings.Contains(body, `"status":"ok"`)
	})
	start(serverBinary(t), "insert", "--every", "100ms")
	// Connections ramp up at RATE per second, so the chart has a slope.
	start(k6, "run", "--no-usage-report", "--quiet", filepath.Join(repoRoot, "k6scripts", "capacity.js"),
		"-e", "URLS=ws://127.0.0.1:"+fmt.Sprint(port)+"/ws?topic=Track", "-e", "CONNECTIONS=300", "-e", "RATE=40",
		"-e", "DURATION=60s", "-e", "INSERT_EVERY=100ms")

	// Enough history for a picture: all connections open for a while and
	// rows delivered (conditions, not a sleep of a guessed length).
	var hist struct {
		Samples []struct {
			Connections int64    `json:"connections"`
			Rate        float64  `json:"messages_per_second"`
			Lag         *float64 `json:"lag_mean_ms"`
		} `json:"samples"`
	}
	waitFor(t, "10 samples with all 300 connections open and rows delivered", func() bool {
		body, err := httpGetBody(base + "/status/history")
		if err != nil || json.Unmarshal([]byte(body), &hist) != nil {
			return false
		}
		full := 0
		for _, s := range hist.Samples {
			if s.Connections == 300 && s.Rate > 0 && s.Lag != nil {
				full++
			}
		}
		return full >= 10
	})

	dom := browse(t, browser, base+"/", "--dump-dom")
	for _, chart := range []string{"chart-conns", "chart-rate", "chart-lag"} {
		m := regexp.MustCompile(`(?s)<svg id="` + chart + `".*?</svg>`).FindString(dom)
		if !strings.Contains(m, `class="series"`) || !regexp.MustCompile(`d="M[0-9.]+,[0-9.]+(L[0-9.]+,[0-9.]+){5,}`).MatchString(m) {
			t.Errorf("chart %s has no drawn series of several points in the browser's DOM:\n%.600s", chart, m)
		}
	}
	if m := regexp.MustCompile(`id="conns">([^<]*)<`).FindStringSubmatch(dom); m == nil || m[1] != "300" {
		t.Errorf("the connections tile shows %q, want 300", m)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	browse(t, browser, base+"/", "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// The three series colours of status.html are on screen: the charts
	// were drawn, not just the page's text.
	for name, rgb := range map[string][3]uint8{"connections": {0x2f, 0x6f, 0xdb}, "messages/s": {0x13, 0xa3, 0x84}, "lag": {0xe0, 0x78, 0x2b}} {
		if n := countColour(img, rgb); n < 300 {
			t.Errorf("the screenshot has %d pixels of the %s line colour; the chart was not drawn", n, name)
		}
	}
	keepShot(t, shot, "status-page.png")
}

func httpGetBody(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(r.Body)
	return b.String(), err
}

// waitFor polls cond for up to two minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// The report page of a real run: massconn-fleet run (PostgreSQL, a server,
// the insert loop, two k6 parts on this machine) writes report.html, and a
// browser shows massconn's measures over time, not k6's HTTP panels.
func TestReportPageInABrowser(t *testing.T) {
	browser := chromium(t)
	k6 := k6Binary(t)
	out := filepath.Join(t.TempDir(), "run")
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	log, err := run(10*time.Minute, root, nil, abs(fleetBinary(t)), "run", "--scenario", "capacity",
		"--k6", abs(k6), "--server", abs(serverBinary(t)), "--scripts", filepath.Join(root, "k6scripts"),
		"--connections", "600", "--parts", "2", "--servers", "1", "--duration", "8s",
		"--base-port", fmt.Sprint(freeport.Must(t)), "--out", out, "-e", "RATE=150")
	if err != nil {
		t.Fatalf("massconn-fleet run: %v\n%s", err, tail(log, 40))
	}
	page := filepath.Join(out, "report", "report.html")
	if !fileExists(page) {
		matches, _ := filepath.Glob(filepath.Join(out, "*", "report.html"))
		if len(matches) == 0 {
			matches, _ = filepath.Glob(filepath.Join(out, "report.html"))
		}
		if len(matches) == 0 {
			t.Fatalf("massconn-fleet run wrote no report.html under %s:\n%s", out, tail(log, 20))
		}
		page = matches[0]
	}
	html := string(readAbs(t, page))
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(html) {
		t.Errorf("report.html loads something from the network; it must be self-contained")
	}
	dom := browse(t, browser, "file://"+page, "--dump-dom")
	for _, h := range []string{"Open connections", "Connect rate", "Fan-out latency", "Failures by reason", "Drops by close code", "Latency percentiles", "Parts"} {
		if !strings.Contains(dom, ">"+h) {
			t.Errorf("the report page has no %q section", h)
		}
	}
	if n := strings.Count(dom, `class="series"`); n < 4 {
		t.Errorf("the report page draws %d series, want open connections, connect rate, latency p50 and p99", n)
	}
	if !strings.Contains(dom, `class="verdict pass"`) {
		t.Errorf("a passing run's page does not say PASS:\n%s", tail(log, 30))
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	browse(t, browser, "file://"+page, "--screenshot="+shot, "--window-size=1200,1900")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if n := countColour(img, [3]uint8{0x2f, 0x6f, 0xdb}); n < 300 {
		t.Errorf("the screenshot has %d pixels of the open-connections colour; the chart was not drawn", n)
	}
	keepShot(t, shot, "report-page.png")
}

func readAbs(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keepPageShot screenshots a page for a person when MASSCONN_SCREENSHOTS is
// set and a browser is installed (the tests that check pages in a browser
// are the ones above; this only keeps pictures of other runs' reports).
func keepPageShot(t *testing.T, page, name string) {
	if os.Getenv(shotsEnv) == "" {
		return
	}
	browser := ""
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Logf("%s set but no chromium: no screenshot of %s", shotsEnv, page)
		return
	}
	shot := filepath.Join(t.TempDir(), name)
	browse(t, browser, "file://"+page, "--screenshot="+shot, "--window-size=1200,1900")
	keepShot(t, shot, name)
}
