// Package nchantest runs nginx with the nchan module, a pub/sub server
// nobody on this project wrote, as a child of a test: WebSocket (and
// EventSource) subscribers on /sub, HTTP publishers on /pub, both keyed by
// the channel in ?id=. It is the "your server, not ours" target of the
// fleet's tests, and of any later test that needs a foreign server.
//
// Debian packages: nginx-light and libnginx-mod-nchan (.ci/run installs
// them). The config is private to the test: a temporary prefix holds the
// pid file, the logs and nginx's temp paths, so no root paths are touched.
package nchantest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"golang.org/x/sys/unix"

	"github.com/massconn/massconn/internal/freeport"
)

// ModulePath is where Debian's libnginx-mod-nchan puts the module.
const ModulePath = "/usr/lib/nginx/modules/ngx_nchan_module.so"

// Options size the server; the zero value is a small one for functional
// tests.
type Options struct {
	// WorkerConnections is nginx's events.worker_connections: how many
	// connections (clients and its own) one worker holds. 0 = 1024.
	WorkerConnections int
	// Workers is worker_processes; 0 = 1.
	Workers int
	// Addr is host:port to listen on; "" = a free loopback port.
	Addr string
	// EventSourcePing, when set, makes nchan write a keep-alive comment
	// line (": heartbeat", no event) to every EventSource subscriber this
	// often (nchan_eventsource_ping_interval, whole seconds, at least 1).
	EventSourcePing time.Duration
}

// Server is a running nginx+nchan.
type Server struct {
	Addr string // host:port it listens on
	Dir  string // its prefix: nginx.conf, error.log, temp paths

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
}

// SubURL is the WebSocket subscriber URL of channel.
func (s *Server) SubURL(channel string) string {
	return "ws://" + s.Addr + "/sub?id=" + url.QueryEscape(channel)
}

// EventSourceURL is the EventSource (Server-Sent Events) subscriber URL
// of channel: the same location as SubURL, over plain HTTP.
func (s *Server) EventSourceURL(channel string) string {
	return "http://" + s.Addr + "/sub?id=" + url.QueryEscape(channel)
}

// PubURL is the HTTP publisher URL of channel: POST the message as the body.
func (s *Server) PubURL(channel string) string {
	return "http://" + s.Addr + "/pub?id=" + url.QueryEscape(channel)
}

// StatusURL is nchan_stub_status: plain-text counters (subscribers,
// total published messages, ...).
func (s *Server) StatusURL() string { return "http://" + s.Addr + "/status" }

// PID is the nginx master's process id; its workers are its children.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Start runs nginx+nchan for the test and stops it when the test ends.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	// Not t.TempDir: its parent is 0700, and nginx's workers, run as an
	// unprivileged user when the test is root, must reach the prefix.
	dir, err := os.MkdirTemp("", "nchantest-")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(opt, dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("nginx+nchan: %v", err)
		}
		if t.Failed() {
			t.Logf("nginx+nchan's files are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return s
}

// New runs nginx+nchan with its prefix in dir (which must exist) and waits
// until it answers on /status. Stop it with Stop.
func New(opt Options, dir string) (*Server, error) {
	if _, err := exec.LookPath("nginx"); err != nil {
		return nil, fmt.Errorf("nginx is not installed (apt-get install nginx-light libnginx-mod-nchan; .ci/run does): %w", err)
	}
	if _, err := os.Stat(ModulePath); err != nil {
		return nil, fmt.Errorf("the nchan module is not installed (apt-get install libnginx-mod-nchan): %w", err)
	}
	if opt.Addr != "" {
		return start(opt, dir, opt.Addr)
	}
	// A port found free can be taken before nginx binds it: try again.
	var lastErr error
	for range 5 {
		port, err := freeport.Loopback()
		if err != nil {
			return nil, err
		}
		s, err := start(opt, dir, fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(opt Options, dir, addr string) (*Server, error) {
	// Run as root, nginx's workers drop to an unprivileged user, who must
	// reach the temp paths and the document root.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("nginx prefix: %w", err)
	}
	// An empty document root: a path that is none of nchan's locations is
	// answered 404, as a URL the server does not have.
	if err := os.MkdirAll(filepath.Join(dir, "html"), 0o755); err != nil {
		return nil, fmt.Errorf("nginx root: %w", err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := writeConfig(conf, dir, addr, opt); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		return nil, fmt.Errorf("nginx output file: %w", err)
	}
	cmd := exec.Command("nginx", "-c", conf, "-p", dir)
	cmd.Stdout, cmd.Stderr = log, log
	// If the test binary dies, nginx must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	s := &Server{Addr: addr, Dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { s.err = cmd.Wait(); log.Close(); close(s.exited) }()
	if err := s.waitReady(10 * time.Second); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls /status until nginx answers, it exits, or wait passes.
func (s *Server) waitReady(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.StatusURL())
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			why := s.err
			if why == nil {
				why = errors.New("exit status 0")
			}
			return fmt.Errorf("nginx exited at start (%w): %s", why, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx on %s did not answer /status within %v: %s", s.Addr, wait, s.logTail())
		}
	}
}

// logTail is the end of nginx's own output and error log, for errors.
func (s *Server) logTail() string {
	var parts []string
	for _, name := range []string{"nginx.out", "error.log"} {
		b, _ := os.ReadFile(filepath.Join(s.Dir, name))
		if t := strings.TrimSpace(string(b)); t != "" {
			lines := strings.Split(t, "\n")
			parts = append(parts, name+": "+strings.Join(lines[max(0, len(lines)-5):], "\n"))
		}
	}
	if len(parts) == 0 {
		return "no output"
	}
	return strings.Join(parts, "\n")
}

// Stop asks nginx to stop (SIGTERM: fast shutdown, workers too) and kills
// it if it is still running after a few seconds. Stopping twice is fine.
func (s *Server) Stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return errors.New("nginx did not stop within 10s of SIGTERM and was killed: " + s.logTail())
}

// Published is nchan's "total published messages" from /status.
func (s *Server) Published(ctx context.Context) (int64, error) {
	return s.statusCounter(ctx, "total published messages")
}

// WaitSubscribers waits until n subscribers are connected, failing the
// test after 10 s.
func (s *Server) WaitSubscribers(tb testing.TB, n int64) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.Subscribers(context.Background())
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nchan has %d subscribers (%v) after 10s, want %d", got, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Subscribers is nchan's "subscribers" from /status: those connected now.
func (s *Server) Subscribers(ctx context.Context) (int64, error) {
	return s.statusCounter(ctx, "subscribers")
}

func (s *Server) statusCounter(ctx context.Context, name string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.StatusURL(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("nchan status: %w", err)
	}
	defer resp.Body.Close()
	st, err := ParseStatus(resp.Body)
	if err != nil {
		return 0, err
	}
	v, ok := st[name]
	if !ok {
		return 0, fmt.Errorf("nchan status has no %q", name)
	}
	return v, nil
}

// The config: one server on addr, nchan's three locations, every path
// nginx writes under dir. A new subscriber starts at messages published
// after it connected (newest), as a live feed's client does; the default
// (oldest) would replay what the channel keeps.
var configTemplate = template.Must(template.New("nginx.conf").Parse(`load_module {{.Module}};
daemon off;
worker_processes {{.Workers}};
worker_rlimit_nofile {{.NoFile}};
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections {{.WorkerConnections}}; }
http {
  access_log off;
  client_body_temp_path {{.Dir}}/client_body_temp;
  proxy_temp_path {{.Dir}}/proxy_temp;
  fastcgi_temp_path {{.Dir}}/fastcgi_temp;
  uwsgi_temp_path {{.Dir}}/uwsgi_temp;
  scgi_temp_path {{.Dir}}/scgi_temp;
  server {
    listen {{.Addr}} backlog=4096;
    root {{.Dir}}/html;
    location = /pub { nchan_publisher; nchan_channel_id $arg_id; }
    location = /sub { nchan_subscriber; nchan_channel_id $arg_id; nchan_subscriber_first_message newest;{{if .Ping}}
      nchan_eventsource_ping_interval {{.Ping}}; nchan_eventsource_ping_comment "heartbeat"; nchan_eventsource_ping_event "";{{end}} }
    location = /status { nchan_stub_status; }
  }
}
`))

func writeConfig(path, dir, addr string, opt Options) error {
	wc := opt.WorkerConnections
	if wc <= 0 {
		wc = 1024
	}
	workers := max(opt.Workers, 1)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("nginx config: %w", err)
	}
	err = configTemplate.Execute(f, map[string]any{
		"Module": ModulePath, "Dir": dir, "Addr": addr, "Workers": workers,
		// Each connection is a descriptor, plus a few for logs and listeners.
		"NoFile": wc + 64, "WorkerConnections": wc,
		"Ping": pingSeconds(opt.EventSourcePing),
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("nginx config %s: %w", path, err)
	}
	_, err = net.ResolveTCPAddr("tcp", addr)
	return err
}

// pingSeconds is nchan_eventsource_ping_interval for d: whole seconds, at
// least 1; 0 (no ping) for d <= 0.
func pingSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return max(1, int(d.Round(time.Second)/time.Second))
}
