package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// partInput is everything read from one part directory.
type partInput struct {
	dir     string
	info    PartInfo
	summary *summaryExport
	metrics *partMetrics
	open    []sample // open connections over time, in time order
	rss     []RSSRow
}

func readPart(dir string) (*partInput, error) {
	p := &partInput{dir: dir}
	if err := readJSON(filepath.Join(dir, PartInfoFile), &p.info); err != nil {
		return nil, err
	}
	var err error
	if p.summary, err = readSummary(filepath.Join(dir, SummaryFile)); err != nil {
		if !errors.Is(err, os.ErrNotExist) || p.info.ExitCode == 0 {
			return nil, fmt.Errorf("part %d: %w", p.info.Index, err)
		}
		p.summary = &summaryExport{} // k6 failed before writing one; its exit code says so
	}
	if p.metrics, err = readK6JSON(filepath.Join(dir, MetricsFile)); err != nil {
		return nil, fmt.Errorf("part %d: %w", p.info.Index, err)
	}
	p.open = openSeries(p.metrics)
	return p, nil
}

func readRSSFile(path string) ([]RSSRow, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open rss log: %w", err)
	}
	defer f.Close()
	rows, err := ReadRSS(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rows == nil {
		rows = []RSSRow{}
	}
	return rows, nil
}

// checkTiling insists every segment of the parts' sequence is there once,
// so a missing or doubled part cannot pass for the whole fleet.
func checkTiling(parts []*partInput, partial bool) error {
	n := parts[0].info.Parts
	seen := map[int]string{}
	for _, p := range parts {
		if p.info.Parts != n || p.info.Sequence != parts[0].info.Sequence {
			return fmt.Errorf("%s is part of a %d-part sequence %q, %s of a %d-part sequence %q: not one run",
				p.dir, p.info.Parts, p.info.Sequence, parts[0].dir, n, parts[0].info.Sequence)
		}
		if prev, dup := seen[p.info.Index]; dup {
			return fmt.Errorf("part %d given twice: %s and %s", p.info.Index, prev, p.dir)
		}
		seen[p.info.Index] = p.dir
	}
	if len(seen) != n && !partial {
		var missing []string
		for i := range n {
			if _, ok := seen[i]; !ok {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		return fmt.Errorf("parts %v of %d are missing (use --partial to merge anyway)", missing, n)
	}
	return nil
}

func scenarioOf(script string) string {
	base := filepath.Base(script)
	return base[:len(base)-len(filepath.Ext(base))]
}

// connectionsArg finds -e CONNECTIONS=N among k6 arguments.
func connectionsArg(args []string) int64 {
	for i, a := range args {
		v := a
		if (a == "-e" || a == "--env") && i+1 < len(args) {
			v = args[i+1]
		}
		if n, ok := strings.CutPrefix(v, "CONNECTIONS="); ok {
			if x, err := strconv.ParseInt(n, 10, 64); err == nil {
				return x
			}
		}
	}
	return 0
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy dashboard: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copy dashboard: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy dashboard to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy dashboard to %s: %w", dst, err)
	}
	return nil
}
