//go:build !linux

package engine

import "time"

// Without epoll every connection goes through the portable engine.

func numLoops() int { return 0 }

// checkEngineEnv has nothing to check: the loops' variables apply to Linux.
func checkEngineEnv() error { return nil }

func (p *Pool) start(batch []int64) {
	for _, idx := range batch {
		p.portable.dial(p, idx)
	}
}

func (p *Pool) closeAll(grace time.Duration) { p.portable.closeAll(p, grace) }

func (p *Pool) forceClose() { p.portable.forceClose() }
