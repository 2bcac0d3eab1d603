// Package report holds the merged result of a fleet run and renders it as
// JSON, Markdown and an SVG chart.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Report is one run of one scenario, merged over every k6 process.
type Report struct {
	Title    string `json:"title"`
	Scenario string `json:"scenario"`
	// Transport is how the k6 parts connected: ws (WebSocket) or sse
	// (Server-Sent Events); empty when the merge was not told.
	Transport string    `json:"transport,omitempty"`
	Command   string    `json:"command,omitempty"`
	Generated time.Time `json:"generated"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`

	// Pass is true when every part exited 0 (its thresholds held), no
	// connection failed or dropped, every row inserted while the
	// connections were open reached every connection (Delivery, exact per
	// connection) and the fan-out p99 stayed within its bound.
	Pass     bool     `json:"pass"`
	Problems []string `json:"problems,omitempty"`

	Connections Connections  `json:"connections"`
	Rate        Rate         `json:"connection_rate"`
	Latency     *Percentiles `json:"fanout_latency_ms,omitempty"`     // while every connection was open
	P99BoundMs  float64      `json:"fanout_p99_bound_ms,omitempty"`   // the verdict's bound on Latency.P99
	Delivery    *Delivery    `json:"delivery,omitempty"`              // every row to every connection, from the sequence check
	LatencyAll  *Percentiles `json:"fanout_latency_all_ms,omitempty"` // whole run, connect phase included
	// The highest of the per-second fan-out p99s (Series) and the second
	// of the run it was in: a burst that the whole run's p99 averages away.
	P99PerSecondMaxMs float64        `json:"fanout_p99_per_second_max_ms,omitempty"`
	P99PerSecondMaxAt float64        `json:"fanout_p99_per_second_max_at_s,omitempty"`
	Connecting        *Percentiles   `json:"connecting_ms,omitempty"`
	Messages          Messages       `json:"messages"`
	Memory            Memory         `json:"memory"`
	Servers           *ServerSide    `json:"server_side,omitempty"`    // the servers' own /metrics after the run
	Machine           *MachineMemory `json:"machine,omitempty"`        // memory by component and kernel limits, at the run's peak
	Floor             *Floor         `json:"floor,omitempty"`          // the machine's floor measured in this run, and CPU by component next to it
	Profile           *Profile       `json:"server_profile,omitempty"` // where one server's CPU went during the hold
	Target            *Target        `json:"target,omitempty"`         // a run against someone else's server
	Limit             *Limit         `json:"limit,omitempty"`          // a capacity search: its steps, and where it holds and breaks
	Heartbeat         *Heartbeat     `json:"heartbeat,omitempty"`      // the heartbeat scenario: the server's interval and the longest silence
	Parts             []Part         `json:"parts"`
	Series            []Point        `json:"series"`
	Method            string         `json:"merge_method"`
	Inputs            []string       `json:"inputs"`
	Extra             map[string]any `json:"extra,omitempty"`
}

// Delivery is the exact check that every row inserted while every
// connection was open (and at least the p99 bound before the first part
// started closing) reached every connection: the database says which rows
// those are, the extension's sequence check what each connection received.
type Delivery struct {
	Table string `json:"table"`
	// Unit is what was published: "row" (rows inserted into Table; the
	// default) or "message" (messages published to the URL in Table).
	Unit string `json:"unit,omitempty"`
	// The rows that had to arrive: ids FirstID..LastID (Rows of them; ids
	// of one table from one writer are contiguous) inserted in the window.
	Rows         int64     `json:"rows_expected"`
	FirstID      int64     `json:"first_id"`
	LastID       int64     `json:"last_id"`
	WindowStart  time.Time `json:"window_start"`
	WindowEnd    time.Time `json:"window_end"`
	RowsInserted int64     `json:"rows_inserted_in_run"`
	Sequences    int64     `json:"sequences"`               // connection × topic sequences reported
	Silent       int64     `json:"silent_connections"`      // connections that received no row at all
	StartedLate  int64     `json:"started_after_first_row"` // sequences whose first id > FirstID
	EndedEarly   int64     `json:"ended_before_last_row"`   // sequences whose last id < LastID
	Gaps         int64     `json:"gaps"`                    // ids skipped inside sequences
	Duplicates   int64     `json:"duplicates"`
	Reordered    int64     `json:"reordered"`
	Deliveries   int64     `json:"deliveries_expected"` // Rows × connections
	Complete     bool      `json:"complete"`
	NotChecked   string    `json:"not_checked,omitempty"` // why the check could not be made
}

// MachineMemory is the machine's memory by component when it used the most,
// and the kernel tables the run fills, sampled by the local runner.
type MachineMemory struct {
	Open          int64 `json:"open_at_peak"` // connections open on the servers then
	K6RSS         int64 `json:"k6_rss_bytes"`
	ServerRSS     int64 `json:"servers_rss_bytes"`
	PostgresPSS   int64 `json:"postgres_pss_bytes"` // proportional: shared buffers counted once; -1 = not measured (your own PostgreSQL)
	KernelTCP     int64 `json:"kernel_tcp_bytes"`   // /proc/net/sockstat TCP mem (pages x 4096): socket buffers
	TCPInUse      int64 `json:"tcp_sockets_in_use"`
	Used          int64 `json:"machine_used_bytes"` // MemTotal - MemAvailable
	Total         int64 `json:"machine_total_bytes"`
	ConntrackPeak int64 `json:"conntrack_peak"` // nf_conntrack_count; 0 when netfilter is not loaded
	ConntrackMax  int64 `json:"conntrack_max"`
}

// Connections are counts summed over the parts.
type Connections struct {
	Target        int64            `json:"target"`
	Opened        int64            `json:"opened"`    // handshakes completed
	PeakOpen      int64            `json:"peak_open"` // most open at once, summed per second over parts
	Failures      int64            `json:"failures"`
	FailureReason map[string]int64 `json:"failures_by_reason"`
	Drops         int64            `json:"drops"`
	DropCode      map[string]int64 `json:"drops_by_code"`
	HeldSeconds   float64          `json:"held_seconds"` // from the last part's connect end to the first part's hold end
}

// Rate is how fast the fleet opened its connections.
type Rate struct {
	ConnectSeconds float64 `json:"connect_seconds"` // first process starting to connect .. last one done
	PerSecond      float64 `json:"per_second"`      // opened / connect_seconds
	PeakPerSecond  float64 `json:"peak_per_second"` // best one-second bucket
}

// Percentiles in milliseconds over a weighted sample.
type Percentiles struct {
	Count   int64   `json:"count"`   // values the samples stand for (exact when the extension kept them all)
	Samples int     `json:"samples"` // raw samples merged
	Min     float64 `json:"min"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// Messages delivered to and sent by the clients.
type Messages struct {
	Received          int64   `json:"received"`
	Sent              int64   `json:"sent"`
	ReceivedPerSecond float64 `json:"received_per_second_held"` // while every connection was open
}

// Memory is user-space resident memory (VmRSS) of the processes, averaged
// over the seconds when at least 99% of the peak was open.
type Memory struct {
	ClientProcesses    int     `json:"client_processes"`
	ServerProcesses    int     `json:"server_processes"`
	ClientRSSBytes     int64   `json:"client_rss_bytes"`
	ServerRSSBytes     int64   `json:"server_rss_bytes"`
	ClientBytesPerConn float64 `json:"client_rss_bytes_per_conn"`
	ServerBytesPerConn float64 `json:"server_rss_bytes_per_conn"`
	// The servers' RSS before any k6 process ran (each server's first
	// sample, taken when it was ready: code, runtime, pools) and the
	// plateau's RSS per connection above it: what one more connection
	// costs. Absent when some server's first sample is not older than
	// every k6 sample.
	ServerBaselineBytes             int64   `json:"server_rss_baseline_bytes,omitempty"`
	ServerBytesPerConnAboveBaseline float64 `json:"server_rss_bytes_per_conn_above_baseline,omitempty"`
	// Growth from the second to the last tenth of that plateau, in percent:
	// the soak test's "no memory growth".
	ClientGrowthPct float64 `json:"client_rss_growth_pct"`
	ServerGrowthPct float64 `json:"server_rss_growth_pct"`
	// The least-squares slope of RSS over that plateau (its first tenth
	// left out, as for growth), in bytes per minute: a leak shows as a
	// steady positive slope however long the hold.
	ClientSlopeBytesPerMin float64 `json:"client_rss_slope_bytes_per_min"`
	ServerSlopeBytesPerMin float64 `json:"server_rss_slope_bytes_per_min"`
	PlateauSeconds         int     `json:"plateau_seconds"`
}

// Heartbeat is the heartbeat scenario's figures: the server writes a
// comment to every SSE connection each EverySeconds; each connection
// measures its longest stretch without a byte (massconn_silence).
type Heartbeat struct {
	EverySeconds float64 `json:"every_s"`
	BoundSeconds float64 `json:"bound_s"` // the longest silence that passes: interval + slack
	// LongestSilenceMs is the exact longest silence of any connection.
	LongestSilenceMs float64 `json:"longest_silence_ms"`
	// Silence percentiles over the connections' longest silences.
	Silence    *Percentiles `json:"silence_ms,omitempty"`
	Keepalives int64        `json:"keepalives_received"` // comment lines, all connections
	IdleDrops  int64        `json:"idle_drops"`          // dropped by idleTimeout
}

// Part is one k6 process.
type Part struct {
	Index      int               `json:"index"`
	Segment    string            `json:"segment"`
	Host       string            `json:"host"`
	ExitCode   int               `json:"exit_code"`
	Opened     int64             `json:"opened"`
	PeakOpen   int64             `json:"peak_open"`
	Failures   int64             `json:"failures"`
	Drops      int64             `json:"drops"`
	Received   int64             `json:"received"`
	PeakRSS    int64             `json:"peak_rss_bytes"`
	Thresholds map[string]bool   `json:"thresholds_failed,omitempty"` // "metric: expr" -> crossed
	Checks     map[string][2]int `json:"checks,omitempty"`            // name -> passes, fails
	Dashboard  string            `json:"dashboard,omitempty"`
}

// Point is one second of the run.
type Point struct {
	T           float64  `json:"t"` // seconds since Started
	Open        int64    `json:"open"`
	Opened      int64    `json:"opened"` // handshakes completed in this second
	Received    int64    `json:"received"`
	LatencyP50  *float64 `json:"latency_p50_ms,omitempty"`
	LatencyP99  *float64 `json:"latency_p99_ms,omitempty"`
	ClientRSSMB float64  `json:"client_rss_mb"`
	ServerRSSMB float64  `json:"server_rss_mb"`
}

// Write stores report.json, report.md, report.html and chart.svg in dir.
func Write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	files := map[string][]byte{
		"report.json": append(b, '\n'),
		"report.md":   []byte(Markdown(r)),
		"report.html": []byte(HTML(r)),
		"chart.svg":   []byte(SVG(r)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil { //nolint:gosec // results are meant to be read
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// ServerSide is what the servers counted themselves, summed over them.
type ServerSide struct {
	Snapshots       int              `json:"snapshots"`
	Accepted        int64            `json:"connections_accepted"`
	Rejected        map[string]int64 `json:"connections_rejected_by_reason"`
	MessagesQueued  int64            `json:"messages_queued"`
	Notifications   int64            `json:"notifications"`
	SlowClientDrops int64            `json:"slow_client_drops"`
	PingTimeouts    int64            `json:"ping_timeouts"`
	// From the row's insert in PostgreSQL to its message queued to every
	// subscriber: the server's share of the fan-out latency.
	InsertToQueue *BucketQuantiles `json:"insert_to_queue_ms,omitempty"`
	Hold          *ServerMemory    `json:"memory_while_held,omitempty"`
}

// ServerMemory is the servers' Go runtime accounting while every
// connection was open, summed over the servers: where the memory goes.
type ServerMemory struct {
	Connections     int64 `json:"connections"`
	RSSBytes        int64 `json:"rss_bytes"`
	HeapInuseBytes  int64 `json:"heap_inuse_bytes"`
	StackInuseBytes int64 `json:"stack_inuse_bytes"`
	Goroutines      int64 `json:"goroutines"`
}

// BucketQuantiles are quantiles of a merged Prometheus histogram: each is
// the upper bound of the first bucket holding that fraction, in ms, or -1
// when it lies above the largest finite bucket bound.
type BucketQuantiles struct {
	Count        int64   `json:"count"`
	P50          float64 `json:"p50_at_most"`
	P95          float64 `json:"p95_at_most"`
	P99          float64 `json:"p99_at_most"`
	LargestBound float64 `json:"largest_bucket_ms"`
}

// Bound renders one quantile: "≤ 20" or "> 10000".
func (q BucketQuantiles) Bound(v float64) string {
	if v < 0 {
		return fmt.Sprintf("> %g", q.LargestBound)
	}
	return fmt.Sprintf("≤ %g", v)
}

// Profile is where one server's CPU went during the hold: a Go CPU profile
// (pprof, 100 samples/s) summarised by function and by group.
type Profile struct {
	NotTaken   string  `json:"not_taken,omitempty"` // why there is none
	Server     string  `json:"server,omitempty"`    // listen address of the profiled server
	File       string  `json:"file,omitempty"`      // the profile, for go tool pprof
	Seconds    float64 `json:"seconds"`             // wall time profiled
	CPUSeconds float64 `json:"cpu_seconds"`         // CPU the samples stand for
	Samples    int64   `json:"samples"`
	// Groups add up to 100%: each sample counts once, by its stack.
	Groups []ProfileGroup `json:"groups,omitempty"`
	// Top are the functions with the most CPU of their own (flat), with
	// their cumulative share (their callees included).
	Top []ProfileFunc `json:"top,omitempty"`
}

// ProfileGroup is a share of the profiled CPU.
type ProfileGroup struct {
	Name    string  `json:"name"`
	Pct     float64 `json:"pct"`
	Seconds float64 `json:"cpu_seconds"`
}

// ProfileFunc is one function's share of the profiled CPU.
type ProfileFunc struct {
	Name    string  `json:"name"`
	FlatPct float64 `json:"flat_pct"`
	CumPct  float64 `json:"cum_pct"`
	Group   string  `json:"group"`
}

// Noun is what the delivery check counts, for sentences: "row" or
// "message".
// publishesNothing says the run's scenario delivers no rows (heartbeat:
// the servers write only keep-alive comments), so the rows about delivered
// rows (fan-out latency and its bound, the delivery check, messages
// received and queued) would say nothing and are left out.
func (r *Report) publishesNothing() bool { return r.Heartbeat != nil }

func (d *Delivery) Noun() string {
	if d.Unit == "" {
		return "row"
	}
	return d.Unit
}
