//go:build linux

package engine

// startSharedLoops starts the process-wide event loops (see TestMain).
func startSharedLoops() {
	if _, err := getLoops(); err != nil {
		panic("starting the event loops: " + err.Error())
	}
}
