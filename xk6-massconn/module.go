package massconn

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/sobek"
	"go.k6.io/k6/js/common"
	"go.k6.io/k6/js/modules"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"

	"github.com/massconn/massconn/xk6-massconn/engine"
)

// sparseTotal stands in for the fleet's total when connect() picks the
// first {{conn}} index but share() was never called: segment starts scaled
// to it are a billion apart per unit, so indices of different processes do
// not collide, they are just not contiguous.
const sparseTotal = 1_000_000_000

// RootModule is shared by every VU of this k6 process. It hands out
// {{conn}} indices and knows every live pool, for the process-wide
// massconn_open gauge.
type RootModule struct {
	nextConn   atomic.Int64 // connections handed out by connect() in this process
	shareTotal atomic.Int64 // total of the latest share() call; 0 = none yet

	mu   sync.Mutex
	live map[*pool]struct{}

	finals finals // last flushes still owed to k6 (final.go)
}

// ModuleInstance is the module as one VU sees it.
type ModuleInstance struct {
	root    *RootModule
	vu      modules.VU
	metrics *metricSet
	exports *sobek.Object
}

var (
	_ modules.Module   = (*RootModule)(nil)
	_ modules.Instance = (*ModuleInstance)(nil)
)

// New returns the module registered as k6/x/massconn.
func New() *RootModule {
	return &RootModule{live: map[*pool]struct{}{}}
}

// NewModuleInstance runs in the init context of each VU; that is where the
// custom metrics must be registered for thresholds on them to be accepted.
func (r *RootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	rt := vu.Runtime()
	env := vu.InitEnv()
	if env == nil || env.Registry == nil {
		common.Throw(rt, errors.New("k6/x/massconn: must be imported in the init context"))
	}
	r.finals.hook(vu.Events())
	ms, err := registerMetrics(env.Registry)
	if err != nil {
		common.Throw(rt, err)
	}
	mi := &ModuleInstance{root: r, vu: vu, metrics: ms, exports: rt.NewObject()}
	for name, fn := range map[string]func(sobek.FunctionCall) sobek.Value{
		"connect": mi.connect,
		"share":   mi.share,
	} {
		if err := mi.exports.Set(name, fn); err != nil {
			common.Throw(rt, fmt.Errorf("k6/x/massconn: exporting %s: %w", name, err))
		}
	}
	if err := mi.exports.Set("version", Version); err != nil {
		common.Throw(rt, fmt.Errorf("k6/x/massconn: exporting version: %w", err))
	}
	return mi
}

// Exports makes the module's object both the default and the named exports.
func (mi *ModuleInstance) Exports() modules.Exports {
	return modules.Exports{
		Default: mi.exports,
		Named: map[string]any{
			"connect": mi.exports.Get("connect"),
			"share":   mi.exports.Get("share"),
			"version": mi.exports.Get("version"),
		},
	}
}

// vuState returns the VU state or throws: both functions need the test's
// options and metric channel, which the init context does not have.
func (mi *ModuleInstance) vuState(fn string) *lib.State {
	state := mi.vu.State()
	if state == nil {
		common.Throw(mi.vu.Runtime(), fmt.Errorf("massconn.%s: call it from a VU function "+
			"(default, a scenario's exec or setup), not from the init context", fn))
	}
	return state
}

// share returns this process's part of total according to its
// --execution-segment, so a fleet of k6 processes started with the segments
// of one sequence together open exactly total connections.
func (mi *ModuleInstance) share(call sobek.FunctionCall) sobek.Value {
	rt := mi.vu.Runtime()
	state := mi.vuState("share")
	total, err := integer("total", call.Argument(0).Export(), 0, true)
	if err != nil {
		common.Throw(rt, fmt.Errorf("massconn.share: the total must be a whole number >= 0, got %s",
			describe(call.Argument(0).Export())))
	}
	mi.root.shareTotal.Store(total)
	return rt.ToValue(state.Options.ExecutionSegment.Scale(total))
}

// connect opens a pool and returns once every connection has been attempted
// and is open or has failed (or the iteration is being stopped).
func (mi *ModuleInstance) connect(call sobek.FunctionCall) sobek.Value {
	rt := mi.vu.Runtime()
	state := mi.vuState("connect")
	opts, err := parseConnectOptions(exportOptions(call.Argument(0)))
	if err != nil {
		common.Throw(rt, err)
	}
	cfg := opts.cfg
	cfg.VU = int64(state.VUIDGlobal) //nolint:gosec // VU ids are far below MaxInt64
	if state.TLSConfig != nil {
		cfg.TLS = state.TLSConfig.Clone() // honours k6's tlsVersion, insecureSkipTLSVerify, ...
	}
	cfg.ConnOffset = opts.connOffset
	if cfg.ConnOffset < 0 {
		cfg.ConnOffset = mi.root.connOffset(state.Options.ExecutionSegment, int64(cfg.Connections))
	}
	if r := newK6Resolver(state); r != nil {
		cfg.Resolver = r
	}
	if len(cfg.LocalAddrs) == 0 {
		cfg.LocalAddrs = k6LocalAddrs(state.Options, cfg.ConnOffset, cfg.Connections)
	}

	ms := *mi.metrics
	ms.builtin = state.BuiltinMetrics
	ms.statusTag = state.Options.SystemTags.Has(metrics.TagStatus)
	tags := state.Tags.GetCurrentValues()
	// The URLs as the script gave them, templates unrendered, so that a
	// pool of a million per-connection URLs is one series, not a million.
	tags.SetSystemTagOrMetaIfEnabled(state.Options.SystemTags, metrics.TagURL, strings.Join(cfg.URLs, " "))
	for k, v := range opts.tags {
		tags.SetTag(k, v)
	}

	ctx := mi.vu.Context()
	eng, err := engine.Dial(ctx, cfg) // validates cfg: rules live in the engine
	if err != nil {
		common.Throw(rt, connectError(err))
	}
	// Every sample of the pool says what its connections speak (ws or
	// sse), so that massconn_* thresholds can tell transports apart.
	tags.SetTag("transport", eng.Transport())
	ms.eventStream = eng.Transport() == "sse"
	p := newPool(mi.root, eng, ctx, state.Samples, &ms, tags)
	// A wait cut short means the iteration is stopping; the pool closes
	// itself then, and hold() returns at once.
	_ = eng.Wait(ctx)
	p.flush()
	return p.object(rt)
}

// connOffset reserves n {{conn}} indices. They start at this process's
// segment start scaled to the fleet total given to share(), so processes of
// one fleet number their connections without overlap.
func (r *RootModule) connOffset(seg *lib.ExecutionSegment, n int64) int64 {
	local := r.nextConn.Add(n) - n
	total := r.shareTotal.Load()
	if total == 0 {
		total = sparseTotal
	}
	return segmentStart(seg, total) + local
}

// segmentStart is the first index of seg's part of [0, total): the same
// rounding as ExecutionSegment.Scale, so consecutive segments tile exactly.
func segmentStart(seg *lib.ExecutionSegment, total int64) int64 {
	if seg == nil {
		return 0
	}
	fromText, _, _ := strings.Cut(seg.String(), ":")
	from, ok := new(big.Rat).SetString(fromText)
	if !ok || from.Sign() == 0 {
		return 0
	}
	head, err := lib.NewExecutionSegment(new(big.Rat), from)
	if err != nil {
		return 0
	}
	return head.Scale(total)
}

func (r *RootModule) track(p *pool) {
	r.mu.Lock()
	r.live[p] = struct{}{}
	r.mu.Unlock()
}

func (r *RootModule) forget(p *pool) {
	r.mu.Lock()
	delete(r.live, p)
	r.mu.Unlock()
}

// openTotal is the number of connections open in all live pools of this
// process: the value of the massconn_open gauge.
func (r *RootModule) openTotal() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for p := range r.live {
		n += p.eng.Stats().Open
	}
	return n
}

// closeGrace is how long close() waits for servers to answer close frames
// when the script does not say.
const closeGrace = 2 * time.Second
