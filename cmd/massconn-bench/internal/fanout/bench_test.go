package fanout

import (
	"strings"
	"testing"
	"time"

	srvclient "github.com/massconn/massconn/server/client"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	twenty := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of twenty", twenty, 50, 10 * time.Millisecond},
		{"p99 of twenty is the largest", twenty, 99, 20 * time.Millisecond},
		{"p0 is the smallest", twenty, 0, 1 * time.Millisecond},
		{"p95 of twenty", twenty, 95, 19 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeDoesNotReorderInput(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	s := summarize(in)
	if s.p50 != 2 || s.max != 3 || s.n != 3 {
		t.Errorf("summary %+v", s)
	}
	if in[0] != 3 {
		t.Errorf("input reordered: %v", in)
	}
}

func TestSources(t *testing.T) {
	tests := []struct {
		first     string
		n, per    int
		want      []string
		wantError string
	}{
		{"127.0.0.2", 18000, 10000, []string{"127.0.0.2", "127.0.0.3"}, ""},
		{"127.0.0.2", 10000, 10000, []string{"127.0.0.2"}, ""},
		{"127.255.255.255", 3, 1, nil, "runs out of 127.0.0.0/8"},
		{"10.0.0.1", 1, 1, nil, "must be an IPv4 loopback address"},
		{"localhost", 1, 1, nil, "must be an IPv4 loopback address"},
	}
	for _, tt := range tests {
		got, err := sources(tt.first, tt.n, tt.per)
		if tt.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("sources(%s, %d, %d): error %v, want %q", tt.first, tt.n, tt.per, err, tt.wantError)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Fatalf("sources(%s, %d, %d) = %v, %v", tt.first, tt.n, tt.per, got, err)
		}
		for i := range got {
			if got[i].String() != tt.want[i] {
				t.Errorf("source %d = %s, want %s", i, got[i], tt.want[i])
			}
		}
	}
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	base := []string{"--url", "ws://127.0.0.1:1/ws", "--database-url", "postgres://x", "--server-pid", "1"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--url", "https://x/sse", "--database-url", "postgres://x", "--server-pid", "1"}, "must be a ws:// URL (WebSocket) or an http:// URL (server-sent events)"},
		{[]string{"--url", "ws://x/ws", "--database-url", "postgres://x"}, "missing --server-pid"},
		{append(append([]string{}, base...), "--rounds", "0"), "--rounds must be at least 1"},
		{append(append([]string{}, base...), "--table", "Invoice"), `unknown --table "Invoice"`},
	}
	t.Setenv("DATABASE_URL", "")
	for _, tt := range tests {
		_, err := parseFlags(tt.args, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q): %v, want %q", tt.args, err, tt.want)
		}
	}
	if _, err := parseFlags(base, &strings.Builder{}); err != nil {
		t.Errorf("good flags rejected: %v", err)
	}
}

func TestRuntimeFigures(t *testing.T) {
	// A real /metrics reply parses with expfmt (server/client); the bench
	// picks the unlabelled runtime samples it was asked for.
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 18014
go_memstats_heap_inuse_bytes 3.6847616e+07
go_memstats_stack_inuse_bytes 3.7814272e+07 1700000000000
massconn_connections_rejected_total{reason="max_conns"} 0
`
	m, err := srvclient.ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	got := runtimeFigures(m)
	want := map[string]float64{
		"go_goroutines":                 18014,
		"go_memstats_heap_inuse_bytes":  36847616,
		"go_memstats_stack_inuse_bytes": 37814272,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// FuzzRuntimeFigures: whatever the server sends, the bench returns without
// panicking and only reports names it was asked for.
func FuzzRuntimeFigures(f *testing.F) {
	f.Add("go_goroutines 12\n")
	f.Add("# HELP x\ngo_memstats_heap_inuse_bytes 1e+09 123\n")
	f.Add("go_goroutines NaN\ngo_goroutines\n\n \x00")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := srvclient.ParseMetrics(strings.NewReader(text))
		if err != nil {
			return
		}
		for k := range runtimeFigures(m) {
			found := false
			for _, w := range runtimeMetrics {
				found = found || k == w
			}
			if !found {
				t.Errorf("unrequested metric %q", k)
			}
		}
	})
}
