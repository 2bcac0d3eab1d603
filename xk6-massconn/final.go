package massconn

import (
	"sync"
	"time"

	"go.k6.io/k6/js/common"
	"go.k6.io/k6/metrics"
)

// k6 closes its sample channel right after the test-end event has been
// handled; a send after that panics, and PushIfNotDone with the iteration's
// context (cancelled when the iteration ends or is cut) silently drops the
// sample. So a pool's last flush is sent without looking at that context,
// and the test-end event waits for every pool's last flush before letting
// k6 close the channel. That way every counter the engine counted reaches
// the summary and the thresholds, whatever ended the iteration.

// testEndEvent is k6's event.TestEnd (go.k6.io/k6/internal/event, which
// extensions cannot import; 3 in k6 v1.8.1). The subscription checks the
// name of every event it gets, so a renumbering in a later k6 turns into
// "no hook" (final samples are then pushed as before, best effort), not
// into a wrong wait.
const (
	testEndEvent     = 3
	testEndEventName = "TestEnd"
)

// finalFlushWait bounds how long the test end waits for pools still
// closing: close grace (2 s by default) plus forcing sockets closed.
const finalFlushWait = 30 * time.Second

// finals tracks the pools whose last flush has not been sent yet, and
// whether k6 may still receive samples.
type finals struct {
	hookOnce sync.Once
	hooked   bool // a TestEnd subscription exists

	mu      sync.Mutex
	cond    *sync.Cond
	pending int  // pools not yet finally flushed
	ended   bool // the test has ended: k6 is about to close its sample channel

	sendMu sync.RWMutex // held for reading around every send; for writing to set ended
}

// hook subscribes to k6's global test-end event once per process.
func (f *finals) hook(events common.Events) {
	f.hookOnce.Do(func() {
		f.cond = sync.NewCond(&f.mu)
		if events.Global == nil {
			return
		}
		_, ch := events.Global.Subscribe(testEndEvent)
		f.hooked = true
		go func() {
			for evt := range ch {
				if evt.Type.String() == testEndEventName {
					f.waitAll(finalFlushWait)
				}
				if evt.Done != nil {
					evt.Done()
				}
			}
		}()
	})
}

func (f *finals) add() {
	f.mu.Lock()
	f.pending++
	f.mu.Unlock()
}

func (f *finals) done() {
	f.mu.Lock()
	f.pending--
	f.cond.Broadcast()
	f.mu.Unlock()
}

// waitAll waits (bounded) until every pool has sent its last flush, then
// stops all further sends.
func (f *finals) waitAll(limit time.Duration) {
	timer := time.AfterFunc(limit, func() {
		f.mu.Lock()
		f.ended = true
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	f.mu.Lock()
	for f.pending > 0 && !f.ended {
		f.cond.Wait()
	}
	f.mu.Unlock()
	timer.Stop()
	f.sendMu.Lock()
	f.mu.Lock()
	f.ended = true
	f.mu.Unlock()
	f.sendMu.Unlock()
}

// send pushes samples whatever the state of the iteration's context, as
// long as the test has not ended. It reports whether they were sent.
func (f *finals) send(out chan<- metrics.SampleContainer, samples metrics.SampleContainer) bool {
	f.sendMu.RLock()
	defer f.sendMu.RUnlock()
	f.mu.Lock()
	ended := f.ended
	f.mu.Unlock()
	if ended {
		return false
	}
	out <- samples
	return true
}
