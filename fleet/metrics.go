package fleet

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// sample is one value of one metric at one time, as k6's JSON output wrote it.
type sample struct {
	t   time.Time
	v   float64
	tag string // the tag that matters for the metric: reason, code; else ""
}

// partMetrics is what the merge keeps from one part's metrics.json.gz.
// An SSE part's metrics have other names (the extension keeps ws_* for
// WebSocket): they land in the same fields, named in sseMetricNames.
type partMetrics struct {
	open         []sample // massconn_open gauge: the process's open connections
	sessions     []sample // ws_sessions: handshakes completed
	sessionEnds  []sample // ws_session_duration: one per ended session (stock k6) or a sample of them
	received     []sample // ws_msgs_received
	sent         []sample // ws_msgs_sent
	latency      []sample // massconn_latency, ms
	connecting   []sample // ws_connecting, ms
	failures     []sample // massconn_failures, tag reason
	drops        []sample // massconn_drops, tag code (WebSocket) or reason (SSE)
	silence      []sample // massconn_silence, ms: per ended SSE stream, its longest silence (a sample, with the exact max)
	keepalives   []sample // massconn_keepalives: SSE comment lines received
	connectStart []sample // fleet_connect_start_ms, value = epoch ms
	connectEnd   []sample // fleet_connect_end_ms
	// the sequence check: counters, and per-connection ends by row id (tag id)
	gaps, duplicates, reordered  []sample
	seqFirst, seqLast, seqSilent []sample
	holdEnd                      []sample // fleet_hold_end_ms, value = epoch ms
}

// k6Line is one line of k6's JSON output; only "Point" lines carry samples.
type k6Line struct {
	Type   string `json:"type"`
	Metric string `json:"metric"`
	Data   struct {
		Time  time.Time         `json:"time"`
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	} `json:"data"`
}

// readK6JSON reads k6's --out json file (gzip when the name ends in .gz).
func readK6JSON(path string) (*partMetrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open k6 output: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	m, err := parseK6JSON(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func parseK6JSON(r io.Reader) (*partMetrics, error) {
	m := &partMetrics{}
	targets := map[string]*[]sample{
		"massconn_open":          &m.open,
		"ws_sessions":            &m.sessions,
		"ws_session_duration":    &m.sessionEnds,
		"ws_msgs_received":       &m.received,
		"ws_msgs_sent":           &m.sent,
		"massconn_latency":       &m.latency,
		"ws_connecting":          &m.connecting,
		"massconn_failures":      &m.failures,
		"massconn_drops":         &m.drops,
		"fleet_connect_start_ms": &m.connectStart,
		"fleet_connect_end_ms":   &m.connectEnd,
		"massconn_gaps":          &m.gaps,
		"massconn_duplicates":    &m.duplicates,
		"massconn_reordered":     &m.reordered,
		"fleet_seq_first":        &m.seqFirst,
		"fleet_seq_last":         &m.seqLast,
		"fleet_seq_silent":       &m.seqSilent,
		"fleet_hold_end_ms":      &m.holdEnd,
		// EventSource (SSE) parts: the same figures under their names.
		"massconn_sessions":         &m.sessions,
		"massconn_connecting":       &m.connecting,
		"massconn_session_duration": &m.sessionEnds,
		"sse_event":                 &m.received,
		"massconn_silence":          &m.silence,
		"massconn_keepalives":       &m.keepalives,
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		// Most lines are samples of metrics the merge skips: look at the
		// name before paying for a full decode.
		if name, ok := metricName(line); ok {
			if _, want := targets[name]; !want {
				continue
			}
		}
		var l k6Line
		if err := json.Unmarshal(line, &l); err != nil {
			// k6 writes whole lines; a torn one means it was killed mid-write.
			return m, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if l.Type != "Point" {
			continue
		}
		dst, ok := targets[l.Metric]
		if !ok {
			continue
		}
		s := sample{t: l.Data.Time, v: l.Data.Value}
		switch l.Metric {
		case "massconn_failures":
			s.tag = l.Data.Tags["reason"]
		case "massconn_drops":
			// A WebSocket drop has its close code; an SSE stream has
			// none, its drop a reason (idle, closed, reset).
			s.tag = l.Data.Tags["code"]
			if s.tag == "" {
				s.tag = l.Data.Tags["reason"]
			}
		case "fleet_seq_first", "fleet_seq_last":
			s.tag = l.Data.Tags["id"]
		}
		*dst = append(*dst, s)
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("read: %w", err)
	}
	return m, nil
}

// summaryExport is the part of k6's --summary-export the report uses.
type summaryExport struct {
	Metrics map[string]struct {
		// true = the threshold was crossed (k6's summary-export convention)
		Thresholds map[string]bool `json:"thresholds"`
	} `json:"metrics"`
	RootGroup struct {
		Checks map[string]struct {
			Passes int `json:"passes"`
			Fails  int `json:"fails"`
		} `json:"checks"`
	} `json:"root_group"`
}

func readSummary(path string) (*summaryExport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read k6 summary: %w", err)
	}
	var s summaryExport
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

var metricKey = []byte(`"metric":"`)

func metricName(line []byte) (string, bool) {
	i := bytes.Index(line, metricKey)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(metricKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}
