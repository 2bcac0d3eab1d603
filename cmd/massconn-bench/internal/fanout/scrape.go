package fanout

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/massconn/massconn/server/pgsource"
)

// runtimeMetrics are the Go runtime figures of the server that say where
// its memory went (from its Prometheus /metrics).
var runtimeMetrics = []string{
	"go_goroutines",
	"go_memstats_heap_inuse_bytes",
	"go_memstats_stack_inuse_bytes",
	"go_memstats_heap_idle_bytes",
	"go_memstats_heap_released_bytes",
	"go_memstats_sys_bytes",
}

// parseMetrics picks the unlabelled samples named in want out of the
// Prometheus text format. Lines it does not understand are skipped: the
// figures are informative and a missing one is shown as absent.
func parseMetrics(r io.Reader, want []string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, w := range want {
			if name != w {
				continue
			}
			value, _, _ = strings.Cut(strings.TrimSpace(value), " ") // drop a timestamp
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				out[name] = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %.200s", url, resp.StatusCode, body)
	}
	return body, nil
}

func scrapeRuntime(ctx context.Context, base string) (map[string]float64, error) {
	body, err := httpGet(ctx, base+"/metrics")
	if err != nil {
		return nil, err
	}
	return parseMetrics(strings.NewReader(string(body)), runtimeMetrics)
}

// ServerHealth is what the bench reads from the server's /healthz: its
// connection count and whether its PostgreSQL listener is connected (rows
// inserted before that are not delivered).
func ServerHealth(ctx context.Context, base string) (conns int64, listening bool, err error) {
	body, err := httpGet(ctx, base+"/healthz")
	if err != nil {
		return 0, false, err
	}
	var h struct {
		Connections *int64 `json:"connections"`
		Listener    string `json:"listener"`
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Connections == nil {
		return 0, false, fmt.Errorf("GET %s/healthz: no connection count in %.200s", base, body)
	}
	return *h.Connections, h.Listener == pgsource.StateConnected, nil
}
