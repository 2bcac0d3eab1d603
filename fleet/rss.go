package fleet

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/massconn/massconn/internal/procfs"
)

// RSSHeader is the first line of every rss.csv the fleet writes.
var RSSHeader = []string{"unix_ms", "role", "pid", "rss_kb"}

// RSSSampler appends one rss.csv row per live process every interval.
type RSSSampler struct {
	mu    sync.Mutex
	w     *csv.Writer
	f     *os.File
	procs map[int]string // pid -> role
}

// NewRSSSampler creates path (with its header) for sampling.
func NewRSSSampler(path string) (*RSSSampler, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create rss log: %w", err)
	}
	w := csv.NewWriter(f)
	if err := w.Write(RSSHeader); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &RSSSampler{w: w, f: f, procs: map[int]string{}}, nil
}

// Watch adds pid under role ("k6" or "server").
func (s *RSSSampler) Watch(pid int, role string) {
	s.mu.Lock()
	s.procs[pid] = role
	s.mu.Unlock()
}

// Sample writes one row per watched process still alive; it forgets those
// that are gone and reports how many are left.
func (s *RSSSampler) Sample(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, role := range s.procs {
		kb, err := procfs.VmRSS(pid)
		if err != nil || kb == 0 { // gone, or a zombie waiting to be reaped
			delete(s.procs, pid)
			continue
		}
		_ = s.w.Write([]string{strconv.FormatInt(now.UnixMilli(), 10), role, strconv.Itoa(pid), strconv.FormatInt(kb, 10)})
	}
	s.w.Flush()
	return len(s.procs)
}

// Run samples every interval until ctx ends, or, when untilGone is set,
// until no watched process is left.
func (s *RSSSampler) Run(ctx context.Context, every time.Duration, untilGone bool) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if left := s.Sample(time.Now()); untilGone && left == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close flushes and closes the file.
func (s *RSSSampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Flush()
	if err := s.w.Error(); err != nil {
		s.f.Close()
		return fmt.Errorf("write rss log: %w", err)
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close rss log: %w", err)
	}
	return nil
}

// RSSRow is one parsed rss.csv row.
type RSSRow struct {
	Time  time.Time
	Role  string
	PID   int
	RSSKB int64
}

// ReadRSS parses an rss.csv.
func ReadRSS(r io.Reader) ([]RSSRow, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = len(RSSHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("rss header: %w", err)
	}
	if strings.Join(head, ",") != strings.Join(RSSHeader, ",") {
		return nil, fmt.Errorf("rss header is %q, want %q", strings.Join(head, ","), strings.Join(RSSHeader, ","))
	}
	var out []RSSRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("rss row: %w", err)
		}
		ms, err1 := strconv.ParseInt(rec[0], 10, 64)
		pid, err2 := strconv.Atoi(rec[2])
		kb, err3 := strconv.ParseInt(rec[3], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("rss row %q: %w", strings.Join(rec, ","), err)
		}
		out = append(out, RSSRow{Time: time.UnixMilli(ms), Role: rec[1], PID: pid, RSSKB: kb})
	}
}
