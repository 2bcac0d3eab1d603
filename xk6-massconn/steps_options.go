package massconn

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/massconn/massconn/xk6-massconn/engine"
	"github.com/massconn/massconn/xk6-massconn/engine/program"
)

// stepKinds are the keys that make a step what it is; each step has one.
var stepKinds = map[string]program.Kind{
	"send": program.Send, "expect": program.Expect, "sleep": program.Sleep, "goto": program.Goto, "close": program.Close,
}

// stepKeys lists what each kind of step accepts besides its own key.
var stepKeys = map[program.Kind][]string{
	program.Send:   {"send", "binary", "qos"},
	program.Expect: {"expect", "prefix", "timeout", "onTimeout"},
	program.Sleep:  {"sleep"},
	program.Goto:   {"goto", "times"},
	program.Close:  {"close"},
}

// parseSteps reads steps: [{send: '...'}, {expect: '...', timeout: '5s'},
// {sleep: {min: '10s', max: '30s'}}, {goto: 2, times: 5}, {close: 1000}].
// The engine compiles and checks the program as a whole (goto targets,
// templates); here each step's shape is checked.
func parseSteps(v any) ([]program.Step, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, badOption("steps", "must be a list such as [{send: 'hello'}, {expect: 'hello', timeout: '5s'}], got %s", describe(v))
	}
	steps := make([]program.Step, 0, len(list))
	for i, item := range list {
		s, err := parseStep(fmt.Sprintf("steps[%d]", i), item)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	return steps, nil
}

func parseStep(name string, v any) (program.Step, error) {
	var s program.Step
	m, ok := v.(map[string]any)
	if !ok {
		return s, badOption(name, "must be an object with one of send, expect, sleep, goto, close, got %s", describe(v))
	}
	var kindKey string
	for key, kind := range stepKinds {
		if _, ok := m[key]; !ok {
			continue
		}
		if kindKey != "" {
			return s, badOption(name, "has both %s and %s: one action per step", kindKey, key)
		}
		kindKey, s.Kind = key, kind
	}
	if kindKey == "" {
		return s, badOption(name, "needs one of send, expect, sleep, goto, close, e.g. {send: 'hello'}")
	}
	if err := checkKeys(name+".", m, stepKeys[s.Kind]); err != nil {
		return s, err
	}
	var err error
	at := name + "." + kindKey
	switch s.Kind {
	case program.Send:
		if s.Text, err = str(at, m["send"]); err != nil {
			return s, err
		}
		if s.Binary, err = boolean(name+".binary", m["binary"]); err != nil {
			return s, err
		}
		qos, err := qosOption(name+".qos", m["qos"], math.MaxUint8)
		if err != nil {
			return s, err
		}
		s.QoS = uint8(qos) //nolint:gosec // at most MaxUint8
	case program.Expect:
		err = parseExpect(name, m, &s)
	case program.Sleep:
		s.Min, s.Max, err = parseRange(at, m["sleep"])
	case program.Goto:
		var target int64
		if target, err = integer(at, m["goto"], 0, true); err != nil {
			return s, err
		}
		s.Target = int(target)
		if t, ok := m["times"]; ok {
			var times int64
			if times, err = integer(name+".times", t, 1, true); err != nil {
				return s, err
			}
			s.Times = int(times)
		}
	case program.Close:
		switch c := m["close"].(type) {
		case bool:
			if !c {
				return s, badOption(at, "must be true (code 1000) or a close code such as 1000 or 4000")
			}
		default:
			var code int64
			if code, err = integer(at, c, 1000, true); err != nil {
				return s, err
			}
			s.Code = int(code)
		}
	}
	return s, err
}

// parseExpect reads expect: 'text' (with prefix) or expect: {path, equals}.
func parseExpect(name string, m map[string]any, s *program.Step) error {
	var err error
	switch e := m["expect"].(type) {
	case string:
		s.Match = e
		if s.Prefix, err = boolean(name+".prefix", m["prefix"]); err != nil {
			return err
		}
	case map[string]any:
		if err := checkKeys(name+".expect.", e, expectPathKeys); err != nil {
			return err
		}
		if s.Path, err = str(name+".expect.path", e["path"]); err != nil {
			return err
		}
		if s.Path == "" {
			return badOption(name+".expect.path", "is required: the JSON field to compare, e.g. {path: 'type', equals: 'joined'}")
		}
		if s.Equals, err = jsonText(name+".expect.equals", e["equals"]); err != nil {
			return err
		}
		if _, ok := m["prefix"]; ok {
			return badOption(name+".prefix", "applies to expect: 'text', not to a path")
		}
	default:
		return badOption(name+".expect", "must be the text to wait for, or {path: 'type', equals: 'joined'}, got %s", describe(e))
	}
	if t, ok := m["timeout"]; ok {
		if s.Timeout, err = duration(name+".timeout", t); err != nil {
			return err
		}
	}
	if s.OnTimeout, err = str(name+".onTimeout", m["onTimeout"]); err != nil {
		return err
	}
	return nil
}

// jsonText is the value equals compares with: a string as it is, a number
// or a boolean as its JSON text.
func jsonText(name string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "", badOption(name, "is required: the value the field must have, e.g. 'joined' or 3")
	}
	return "", badOption(name, "must be a string, a number or a boolean, got %s", describe(v))
}

// parseRange reads a duration or {min, max}.
func parseRange(name string, v any) (time.Duration, time.Duration, error) {
	m, ok := v.(map[string]any)
	if !ok {
		d, err := duration(name, v)
		return d, d, err
	}
	if err := checkKeys(name+".", m, rangeKeys); err != nil {
		return 0, 0, err
	}
	lo, err := duration(name+".min", m["min"])
	if err != nil {
		return 0, 0, err
	}
	hi, err := duration(name+".max", m["max"])
	if err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, badOption(name, "needs min <= max, got min %v max %v", lo, hi)
	}
	return lo, hi, nil
}

// parseLifetime reads lifetime: {min: '60s', max: '600s'} or one duration.
func parseLifetime(v any) (engine.Lifetime, error) {
	if v == nil {
		return engine.Lifetime{}, nil
	}
	lo, hi, err := parseRange("lifetime", v)
	return engine.Lifetime{Min: lo, Max: hi}, err
}
