// Package ingest is massconn-bench ingest. It measures how many rows per second one
// massconn-server process ingests from several concurrent writers: a
// throwaway PostgreSQL, one server binary at a time on a fresh database of
// it, one WebSocket client, --writers goroutines inserting one row per
// transaction for --duration. A row counts as ingested when it reached the
// client; the figure is rows over the time from the first insert to the
// last row's arrival. Give several binaries to compare them in one run:
//
//	massconn-bench ingest --server new=bin/massconn-server --server old=/tmp/old-server
//
// It is a benchmark, not a test: it fails only when a row arrives twice;
// rows committed but never delivered are reported as lost (today's
// single-writer mode loses some with several writers).
package ingest

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/lib/pq"
	"github.com/lxzan/gws"

	"github.com/massconn/massconn/internal/freeport"
	"github.com/massconn/massconn/internal/launch"
	"github.com/massconn/massconn/internal/tempdb"
	srvclient "github.com/massconn/massconn/server/client"
)

type serverFlag []string

func (s *serverFlag) String() string     { return strings.Join(*s, ",") }
func (s *serverFlag) Set(v string) error { *s = append(*s, v); return nil }

func Run(args []string, stdout, stderr io.Writer) int {
	var servers serverFlag
	fs := flag.NewFlagSet("massconn-bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&servers, "server", "NAME=PATH of a massconn-server binary; repeat to compare")
	writers := fs.Int("writers", 4, "concurrent writers, one row per transaction each")
	duration := fs.Duration("duration", 20*time.Second, "how long the writers insert")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(servers) == 0 {
		fmt.Fprintln(stderr, "massconn-bench ingest: give at least one --server NAME=PATH, e.g. --server new=bin/massconn-server")
		return 2
	}
	if *writers < 1 || *duration <= 0 {
		fmt.Fprintln(stderr, "massconn-bench ingest: --writers must be at least 1 and --duration positive")
		return 2
	}
	pg, err := tempdb.New()
	if err != nil {
		fmt.Fprintln(stderr, "massconn-bench ingest: postgres:", err)
		return 1
	}
	defer pg.Stop() //nolint:errcheck // best effort at exit
	admin, err := sql.Open("postgres", pg.URL())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer admin.Close()
	type result struct {
		name string
		r    measurement
	}
	var results []result
	for i, s := range servers {
		name, path, ok := strings.Cut(s, "=")
		if !ok {
			fmt.Fprintf(stderr, "massconn-bench ingest: --server %q: want NAME=PATH\n", s)
			return 2
		}
		db := fmt.Sprintf("ingest%d", i)
		if _, err := admin.Exec("CREATE DATABASE " + db); err != nil {
			fmt.Fprintln(stderr, "create database:", err)
			return 1
		}
		url := strings.Replace(pg.URL(), "/postgres?", "/"+db+"?", 1)
		m, err := measure(path, url, *writers, *duration)
		if err != nil {
			fmt.Fprintf(stderr, "massconn-bench ingest: %s: %v\n", name, err)
			return 1
		}
		fmt.Fprintf(stdout, "%-8s %d writers: %d rows committed at %.0f rows/s, %d delivered (each once; %d lost): %.0f rows/s ingested; insert-to-client p50 %v p99 %v\n",
			name, *writers, m.rows, m.writeRate(), m.delivered, m.rows-m.delivered, m.ingestRate(), m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond))
		results = append(results, result{name, m})
	}
	for _, r := range results[1:] {
		fmt.Fprintf(stdout, "%s / %s rows/s: %.2f\n", r.name, results[0].name, r.r.ingestRate()/results[0].r.ingestRate())
	}
	return 0
}

type measurement struct {
	rows       int
	writeTime  time.Duration
	ingestTime time.Duration
	p50, p99   time.Duration
	delivered  int
}

func (m measurement) ingestRate() float64 { return float64(m.delivered) / m.ingestTime.Seconds() }
func (m measurement) writeRate() float64  { return float64(m.rows) / m.writeTime.Seconds() }

func measure(bin, url string, writers int, duration time.Duration) (measurement, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return measurement{}, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	srv, err := launch.Start(launch.Spec{Name: "massconn-server", Out: os.Stderr, Bin: bin,
		Args: []string{"serve", "--listen", addr, "--database-url", url, "--log-level", "warn"}})
	if err != nil {
		return measurement{}, err
	}
	defer func() { _ = srv.Stop(15 * time.Second) }()
	// Rows inserted before the listener is connected are not delivered.
	ready := context.Background()
	if err := srv.WaitHealthy(ready, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		return srvclient.New(addr, 0).Ready(ready)
	}); err != nil {
		return measurement{}, err
	}
	c := &client{arrived: make(chan struct{}, 1)}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws://" + addr + "/ws?topic=Track"})
	if err != nil {
		return measurement{}, fmt.Errorf("dial the server: %w", err)
	}
	defer conn.NetConn().Close()
	go conn.ReadLoop()

	db, err := sql.Open("postgres", url)
	if err != nil {
		return measurement{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(writers)
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var committed atomic.Int64
	var wg sync.WaitGroup
	var werr error
	var errOnce sync.Once
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := db.ExecContext(ctx, `INSERT INTO "Track" (name) VALUES ('ingest')`)
				if err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { werr = err })
					}
					return
				}
				committed.Add(1)
			}
		})
	}
	wg.Wait()
	writeTime := time.Since(start)
	if werr != nil {
		return measurement{}, fmt.Errorf("insert: %w", werr)
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM "Track"`).Scan(&rows); err != nil {
		return measurement{}, err
	}
	// Today's single-writer mode loses rows with several writers: wait
	// until everything arrived or nothing more does, and report the loss.
	c.waitFor(rows, 5*time.Second)
	m := measurement{rows: rows, writeTime: writeTime}
	c.mu.Lock()
	defer c.mu.Unlock()
	m.ingestTime = c.lastAt.Sub(start)
	ids := map[int64]bool{}
	for _, id := range c.ids {
		if ids[id] {
			return m, fmt.Errorf("row %d arrived twice", id)
		}
		ids[id] = true
	}
	m.delivered = len(ids)
	slices.Sort(c.lat)
	m.p50 = c.lat[len(c.lat)/2]
	m.p99 = c.lat[len(c.lat)*99/100]
	return m, nil
}

type client struct {
	mu      sync.Mutex
	ids     []int64
	lat     []time.Duration
	lastAt  time.Time
	arrived chan struct{}
}

func (*client) OnOpen(*gws.Conn)             {}
func (*client) OnClose(*gws.Conn, error)     {}
func (*client) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (*client) OnPong(*gws.Conn, []byte)     {}
func (c *client) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	now := time.Now()
	var m struct {
		ID int64 `json:"id"`
		TS int64 `json:"ts"`
	}
	if json.Unmarshal(msg.Bytes(), &m) != nil {
		return
	}
	c.mu.Lock()
	c.ids = append(c.ids, m.ID)
	c.lat = append(c.lat, now.Sub(time.UnixMicro(m.TS)))
	c.lastAt = now
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

// waitFor waits until n messages arrived or none arrived for quiet.
func (c *client) waitFor(n int, quiet time.Duration) {
	for {
		c.mu.Lock()
		got := len(c.ids)
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-c.arrived:
		case <-time.After(quiet):
			return
		}
	}
}
