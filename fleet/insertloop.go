package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/massconn/massconn/internal/launch"
)

// insertLoop runs `massconn-server insert` for the run. One that exits
// while the run goes on (its start-up migration can meet a deadlock with
// busy servers) is said and restarted a few times; without it no row
// would be checked.
type insertLoop struct {
	ctx   context.Context // the run: once it ends, the loop is not restarted
	bin   string
	args  []string
	every time.Duration
	log   string // the loop's output, appended over restarts
	logf  func(format string, args ...any)

	mu       sync.Mutex
	proc     *launch.Proc // nil when not running
	problems []string
	restarts int
}

// maxInsertRestarts is how often an insert loop that exits is started again.
const maxInsertRestarts = 3

// start starts the loop unless it runs already or the run has ended.
func (l *insertLoop) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc != nil || l.ctx.Err() != nil {
		return
	}
	f, err := os.OpenFile(l.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) //nolint:gosec // logs are meant to be read
	if err != nil {
		l.logf("insert loop did not start: %v", err)
		return
	}
	p, err := launch.Start(launch.Spec{Name: "insert loop", Out: f, Log: l.log, Bin: l.bin, Args: l.args})
	if err != nil {
		f.Close()
		l.logf("insert loop did not start: %v", err)
		return
	}
	l.proc = p
	l.logf("insert loop started: a row every %v", l.every)
	go l.watch(p, f)
}

// watch waits for p to exit, closes its log (launch copies the output
// into it until then: closed earlier, the loop dies of SIGPIPE on its next
// line) and, when it exited by itself during the run, records why and
// restarts it.
func (l *insertLoop) watch(p *launch.Proc, log *os.File) {
	status := "exit status 0"
	if err := p.Wait(context.Background()); err != nil {
		status = errors.Unwrap(err).Error()
	}
	log.Close()
	l.mu.Lock()
	if l.ctx.Err() != nil || l.proc != p {
		l.mu.Unlock()
		return
	}
	l.proc = nil
	msg := fmt.Sprintf("insert loop exited during the run (%s): %s", status, p.Tail(1))
	l.logf("%s", msg)
	l.problems = append(l.problems, msg)
	l.restarts++
	again := l.restarts <= maxInsertRestarts
	l.mu.Unlock()
	if again {
		time.Sleep(time.Second)
		l.start()
	}
}

// stop interrupts a running loop, waits until it has exited, and returns
// what went wrong with it during the run. The run's context has ended
// already, so it is not restarted.
func (l *insertLoop) stop() []string {
	l.mu.Lock()
	p := l.proc
	l.proc = nil
	problems := slices.Clone(l.problems)
	l.mu.Unlock()
	if p != nil {
		p.Signal(os.Interrupt)
		<-p.Exited()
	}
	return problems
}

// messageSource makes the messages of a run: started at once or when
// every connection is open, stopped at teardown, saying what went wrong.
type messageSource interface {
	start()
	stop() []string
}

// startMessages prepares the insert loop (or against a target, the
// publisher) and starts it now, unless it waits for the connections
// (cfg.InsertAfter: watchProgress starts it).
func (r *localRun) startMessages() {
	if r.cfg.Scenario == HeartbeatScenario {
		return // no rows: the heartbeat comments are the only traffic
	}
	if r.publisher != nil {
		r.publisher.ctx = r.runCtx
		r.messages = r.publisher
	} else {
		r.messages = r.insertLoop()
	}
	if !r.cfg.InsertAfter {
		r.messages.start()
	}
}

// insertLoop is `massconn-server insert` for the run's database.
func (r *localRun) insertLoop() *insertLoop {
	args := []string{"insert", "--database-url", r.dbURL, "--every", r.cfg.InsertEvery.String()}
	if r.cfg.InsertCount > 0 {
		args = append(args, "--count", fmt.Sprint(r.cfg.InsertCount))
	}
	return &insertLoop{
		ctx: r.runCtx, bin: r.cfg.Server, args: args, every: r.cfg.InsertEvery,
		log: filepath.Join(r.serverDir, "insert.log"), logf: r.logf,
	}
}
