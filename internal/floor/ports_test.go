package floor

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Measuring must leave nothing in TIME_WAIT on its client ports: a
// benchmark picks free server ports, measures the floor, then starts its
// servers on those ports, and a floor client's TIME_WAIT on one of them
// made the server's listen fail with "address already in use".
func TestMeasureLeavesNoTimeWait(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := &meter{opts: Options{Pairs: 200, MessageSize: 30, Rounds: 1}}
	if _, err := m.run(); err != nil {
		m.closeAll()
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(m.listener)
	if err != nil {
		t.Fatal(err)
	}
	listenPort := sa.(*unix.SockaddrInet4).Port
	mine := map[int]bool{}
	for _, fd := range m.clients {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		mine[sa.(*unix.SockaddrInet4).Port] = true
	}
	m.closeAll()
	// Only sockets of this measurement count: between one of its client
	// ports and its listener (other processes leave TIME_WAITs too).
	left := 0
	for _, e := range timeWaits(t) {
		if (mine[e[0]] && e[1] == listenPort) || (e[0] == listenPort && mine[e[1]]) {
			left++
		}
	}
	if left > 0 {
		t.Fatalf("%d of the floor's %d connections left in TIME_WAIT", left, len(mine))
	}
}

// timeWaits lists TIME_WAIT sockets of /proc/net/tcp as [local port, remote port].
func timeWaits(t *testing.T) [][2]int {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	defer f.Close()
	var out [][2]int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "06" { // 06: TCP_TIME_WAIT
			continue
		}
		var local, remote int
		if _, err := fmt.Sscanf(fields[1][strings.IndexByte(fields[1], ':')+1:], "%X", &local); err != nil {
			continue
		}
		if _, err := fmt.Sscanf(fields[2][strings.IndexByte(fields[2], ':')+1:], "%X", &remote); err != nil {
			continue
		}
		out = append(out, [2]int{local, remote})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
