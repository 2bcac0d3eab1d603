package fanout

import (
	"fmt"

	"github.com/massconn/massconn/internal/procfs"
)

// residentBytes is a process's resident set size (VmRSS): what the server
// really holds in RAM, whatever the Go runtime thinks it uses.
func residentBytes(pid int) (int64, error) {
	kib, err := procfs.VmRSS(pid)
	if err != nil {
		return 0, fmt.Errorf("server RSS (--server-pid %d): %w", pid, err)
	}
	return kib * 1024, nil
}
