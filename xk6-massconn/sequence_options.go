package massconn

import (
	"fmt"
	"strconv"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/metrics"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

// The sequence check's option, metrics and pool.sequence() (engine/sequence.go
// does the checking).

// Names of the sequence check's counters: exact, usable in thresholds such
// as massconn_gaps: ['count==0'].
const (
	gapsMetric       = "massconn_gaps"
	duplicatesMetric = "massconn_duplicates"
	reorderedMetric  = "massconn_reordered"
)

type sequenceMetrics struct {
	gaps, duplicates, reordered *metrics.Metric
}

func registerSequenceMetrics(registry *metrics.Registry) (sequenceMetrics, error) {
	var sm sequenceMetrics
	for name, m := range map[string]**metrics.Metric{
		gapsMetric: &sm.gaps, duplicatesMetric: &sm.duplicates, reorderedMetric: &sm.reordered,
	} {
		var err error
		if *m, err = registry.NewMetric(name, metrics.Counter); err != nil {
			return sm, fmt.Errorf("registering %s: %w", name, err)
		}
	}
	return sm, nil
}

// parseSequence reads sequence: {path: 'id', per: 'topic'}.
func parseSequence(v any) (*engine.SequenceSpec, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badOption("sequence", "must be an object such as {path: 'id', per: 'topic'}, got %s", describe(v))
	}
	if err := checkKeys("sequence.", m, sequenceKeys); err != nil {
		return nil, err
	}
	path, err := str("sequence.path", m["path"])
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, badOption("sequence.path", "is required: where the increasing integer is in each message, e.g. 'id'")
	}
	per, err := str("sequence.per", m["per"])
	if err != nil {
		return nil, err
	}
	return &engine.SequenceSpec{Path: path, Per: per}, nil
}

// sequenceSamples adds the counters' deltas of one Report.
func (b *sampleBuilder) sequence(sm sequenceMetrics, c engine.SequenceCounts) {
	b.count(sm.gaps, c.Gaps)
	b.count(sm.duplicates, c.Duplicates)
	b.count(sm.reordered, c.Reordered)
}

// sequenceZeroSamples makes the counters visible (and their thresholds
// evaluated) in a run where nothing went wrong.
func sequenceZeroSamples(sm sequenceMetrics, tags metrics.TagsAndMeta, now time.Time) metrics.Samples {
	b := sampleBuilder{now: now, tags: tags}
	b.add(sm.gaps, tags.Tags, 0)
	b.add(sm.duplicates, tags.Tags, 0)
	b.add(sm.reordered, tags.Tags, 0)
	return b.out
}

// sequenceObject is pool.sequence(): null without the option, else the
// exact counters and, over every connection, how many had each first and
// last number ({first: {'41': 20000}, last: {'70': 19990, '69': 10}}).
func sequenceObject(rt *sobek.Runtime, eng *engine.Pool) sobek.Value {
	sq, ok := eng.Sequence()
	if !ok {
		return sobek.Null()
	}
	hist := func(h map[int64]int64) map[string]any {
		out := make(map[string]any, len(h))
		for k, n := range h {
			out[strconv.FormatInt(k, 10)] = n
		}
		return out
	}
	return rt.ToValue(map[string]any{
		"gaps":        sq.Gaps,
		"duplicates":  sq.Duplicates,
		"reordered":   sq.Reordered,
		"unreadable":  sq.Unreadable,
		"connections": sq.Connections,
		"silent":      sq.Silent,
		"first":       hist(sq.First),
		"last":        hist(sq.Last),
	})
}
