package procfs

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// tcpEstablished is the kernel's TCP_ESTABLISHED in /proc/net/tcp's st column.
const tcpEstablished = "01"

// EstablishedTo counts the established TCP sockets on this machine whose
// remote end is one of remotes: the client side of connections to those
// servers (their server side has them as its local end), which is how a
// run against someone else's server counts what is open without asking
// it. Sockets whose inode is in exclude (e.g. this process's own, from
// SocketInodes) are not counted.
func (s System) EstablishedTo(remotes []netip.AddrPort, exclude map[uint64]bool) (int64, error) {
	want := make(map[netip.AddrPort]bool, len(remotes))
	for _, r := range remotes {
		want[netip.AddrPortFrom(r.Addr().Unmap(), r.Port())] = true
	}
	var n int64
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(s.path(name))
		if err != nil {
			if name == "net/tcp6" && os.IsNotExist(err) {
				continue // a kernel without IPv6
			}
			return 0, fmt.Errorf("established connections: %w", err)
		}
		c, err := countEstablished(f, want, exclude)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("established connections: %s: %w", name, err)
		}
		n += c
	}
	return n, nil
}

// countEstablished reads one /proc/net/tcp{,6} table.
func countEstablished(r io.Reader, want map[netip.AddrPort]bool, exclude map[uint64]bool) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Scan() // the header
	var n int64
	for sc.Scan() {
		// sl local remote st tx:rx tr:when retrnsmt uid timeout inode ...
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpEstablished {
			continue
		}
		remote, err := parseProcAddr(f[2])
		if err != nil {
			return 0, err
		}
		if !want[remote] {
			continue
		}
		if len(exclude) > 0 {
			if inode, err := strconv.ParseUint(f[9], 10, 64); err == nil && exclude[inode] {
				continue
			}
		}
		n++
	}
	return n, sc.Err()
}

// parseProcAddr reads "0100007F:1F90": the address as the kernel's 32-bit
// words in host byte order (little-endian here), the port in big-endian
// hex. IPv4-mapped IPv6 addresses come back as IPv4.
func parseProcAddr(s string) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q: no port", s)
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: port: %w", s, err)
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q: not 4 or 16 bytes of hex", s)
	}
	// Each 32-bit word is in host order: turn it into network order.
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(p)), nil
}

// SocketInodes lists the inodes of pid's open sockets (its fd links
// "socket:[INODE]").
func (s System) SocketInodes(pid int) (map[uint64]bool, error) {
	dir := s.path(fmt.Sprintf("%d/fd", pid))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sockets of pid %d: %w", pid, err)
	}
	out := map[uint64]bool{}
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if v, ok := strings.CutPrefix(link, "socket:["); ok {
			if inode, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64); err == nil {
				out[inode] = true
			}
		}
	}
	return out, nil
}

// Descendants lists pid's children, their children and so on: a server
// such as nginx holds its connections in worker processes under a master.
func (s System) Descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	seen := map[int]bool{pid: true}
	for len(queue) > 0 {
		kids, _ := s.Children(queue[0])
		queue = queue[1:]
		for _, k := range kids {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
				queue = append(queue, k)
			}
		}
	}
	return out
}
