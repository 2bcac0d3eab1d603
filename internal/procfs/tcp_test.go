package procfs

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestParseProcAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"0200007F:0050", "127.0.0.2:80"},
		{"0000000000000000FFFF00000100007F:AE43", "127.0.0.1:44611"},
		{"00000000000000000000000001000000:0016", "[::1]:22"},
	} {
		got, err := parseProcAddr(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("parseProcAddr(%s) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"0100007F", "0100007F:ZZZZ", "01007F:0050", "XX00007F:0050"} {
		if _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%s) accepted", bad)
		}
	}
}

// TestEstablishedToCountsClientSidesFromAFakeTable: only established
// sockets whose remote end is the target count, not the server's own
// ends, not other targets, not other states, not excluded inodes.
func TestEstablishedToCountsClientSidesFromAFakeTable(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	row := func(local, remote, st, inode string) string {
		return "   0: " + local + " " + remote + " " + st + " 00000000:00000000 00:00000000 00000000     0        0 " + inode + " 1 0 100 0 0 10 0\n"
	}
	tcp := header +
		row("0200007F:C000", "0100007F:1F90", "01", "11") + // client -> 127.0.0.1:8080
		row("0200007F:C001", "0100007F:1F90", "01", "12") + // another
		row("0200007F:C002", "0100007F:1F90", "01", "13") + // excluded (our own)
		row("0100007F:1F90", "0200007F:C000", "01", "14") + // the server's end
		row("0200007F:C003", "0100007F:1F90", "06", "15") + // TIME_WAIT
		row("0200007F:C004", "0100007F:1F91", "01", "16") // another port
	tcp6 := header + row("0000000000000000FFFF00000300007F:C000", "0000000000000000FFFF00000100007F:1F90", "01", "17")
	for name, text := range map[string]string{"net/tcp": tcp, "net/tcp6": tcp6} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := System{Root: root}.EstablishedTo([]netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080")}, map[uint64]bool{13: true})
	if err != nil || n != 3 {
		t.Fatalf("EstablishedTo = %d, %v; want 3 (two IPv4, one IPv4-mapped IPv6)", n, err)
	}
}

// TestEstablishedToOfThisMachine: real sockets, real /proc.
func TestEstablishedToOfThisMachine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	target := []netip.AddrPort{netip.MustParseAddrPort(l.Addr().String())}
	n, err := System{}.EstablishedTo(target, nil)
	if err != nil || n != 3 {
		t.Fatalf("EstablishedTo = %d, %v; want 3", n, err)
	}
	mine, err := System{}.SocketInodes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := (System{}).EstablishedTo(target, mine); err != nil || n != 0 {
		t.Fatalf("EstablishedTo without this process's sockets = %d, %v; want 0", n, err)
	}
}

func TestDescendantsOfAShellWithAChild(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var kids []int
	defer func() {
		for _, k := range kids {
			_ = syscall.Kill(k, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	for range 500 {
		if kids = (System{}).Descendants(cmd.Process.Pid); len(kids) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(kids) != 2 {
		t.Fatalf("descendants of sh: %v, want its two sleeps", kids)
	}
}
