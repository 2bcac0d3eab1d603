package testpeer

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NchanModule is where Debian's libnginx-mod-nchan installs the module.
const NchanModule = "/usr/lib/nginx/modules/ngx_nchan_module.so"

// Nchan is nginx with the nchan module, run as the test's child with a
// private configuration: EventSource (and WebSocket) subscribers on
// /sub?id=CHANNEL, publishing by POST to /pub?id=CHANNEL, the last 100
// messages of a channel kept for subscribers that resume with
// Last-Event-ID. A new subscriber gets only messages published after it
// subscribed (nchan's default would send it the whole buffer): a client
// gets what it missed only by asking with Last-Event-ID.
type Nchan struct {
	Addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
}

// NchanOptions sizes the server.
type NchanOptions struct {
	WorkerConnections int // 0 = 1024
	// SubscriberTimeout makes nchan end every subscriber's stream after
	// that many seconds (nchan_subscriber_timeout); 0 = never.
	SubscriberTimeout int
}

const nchanConfig = `load_module %[1]s;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile %[4]d;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections %[4]d; }
http {
	access_log off;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	nchan_message_buffer_length 100;
	nchan_message_timeout 10m;
	server {
		listen %[3]s;
		location = /pub { nchan_publisher; nchan_channel_id $arg_id; }
		location = /sub { nchan_subscriber; nchan_channel_id $arg_id; nchan_subscriber_first_message newest; nchan_subscriber_timeout %[5]d; }
	}
}
`

// StartNchan starts nginx+nchan on a free loopback port and stops it when
// the test ends. It skips the test when nginx or the module is missing,
// and fails it under CI=true, where .ci/run installs them.
func StartNchan(t testing.TB, opts NchanOptions) *Nchan {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(nginx); err != nil {
		skipOrFailInCI(t, "nginx is not installed (apt-get install nginx-light libnginx-mod-nchan)")
	}
	if _, err := os.Stat(NchanModule); err != nil {
		skipOrFailInCI(t, "the nchan module is not installed (apt-get install libnginx-mod-nchan)")
	}
	if opts.WorkerConnections == 0 {
		opts.WorkerConnections = 1024
	}
	dir := t.TempDir()
	// nginx's workers run as nobody when started as root: they must be
	// able to reach the temp paths.
	_ = os.Chmod(dir, 0o755)
	// A free port: taken from the kernel and released for nginx to bind.
	// Another process could take it in between; nginx would then fail to
	// start and the test would say so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	text := fmt.Sprintf(nchanConfig, NchanModule, dir, addr, opts.WorkerConnections, opts.SubscriberTimeout)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-e", filepath.Join(dir, "error.log"), "-c", conf, "-p", dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	n := &Nchan{Addr: addr, cmd: cmd}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	errorLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(b)
	}
	t.Cleanup(func() {
		// SIGTERM: the master stops its workers and exits.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx error.log:\n%s", errorLog())
		}
	})
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return n
		}
		select {
		case <-exited:
			t.Fatalf("nginx+nchan exited at start:\n%s", errorLog())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx+nchan did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SubURL is the subscriber URL of channel id, e.g. http://ADDR/sub?id=id.
func (n *Nchan) SubURL(scheme, id string) string {
	return scheme + "://" + n.Addr + "/sub?id=" + id
}

// Publish posts body to channel id.
func (n *Nchan) Publish(t testing.TB, id, body string) {
	t.Helper()
	resp, err := http.Post("http://"+n.Addr+"/pub?id="+id, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("publishing to nchan: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("publishing to nchan: %s", resp.Status)
	}
}

// Reload makes nginx reload its configuration (SIGHUP): new workers
// start and the old ones close every subscriber ("410 Gone") and exit,
// while the port stays open, so that messages can be published while the
// subscribers are away.
func (n *Nchan) Reload(t testing.TB) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("reloading nginx: %v", err)
	}
}

// Subscribers is how many subscribers nchan counts on channel id (0 for
// a channel it does not know yet), read from the publisher location's
// channel info.
func (n *Nchan) Subscribers(t testing.TB, id string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+n.Addr+"/pub?id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reading nchan's channel info: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0
	}
	var info struct {
		Subscribers int `json:"subscribers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("reading nchan's channel info (%s): %v", resp.Status, err)
	}
	return info.Subscribers
}

// skipOrFailInCI skips the test for a missing peer, or fails it under
// CI=true, where the real peer is required.
func skipOrFailInCI(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why + ": in CI the real server is required")
	}
	t.Skip(why)
}
