//go:build !linux

package engine

// startSharedLoops does nothing: without epoll there are no shared loops
// (see TestMain).
func startSharedLoops() {}
