// Package mosquittotest runs Mosquitto, the Eclipse MQTT broker from
// Debian (a real server nobody on this project wrote), for the tests of the
// mqtt adapter: the engine's and the k6-level ones. Its clients
// mosquitto_pub and mosquitto_sub publish and listen over plain TCP.
package mosquittotest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// Broker is a running Mosquitto.
type Broker struct {
	WS  string // ws:// URL of its WebSocket listener
	TCP int    // port of its plain MQTT listener
}

// Options configure the broker.
type Options struct {
	// Users, when not empty, turns anonymous access off: only these
	// usernames with these passwords may connect.
	Users map[string]string
}

// Need skips the test when the Mosquitto programs are not on PATH, or
// fails it under CI=true, where the real broker is required (.ci/run
// installs it).
func Need(t testing.TB) {
	t.Helper()
	for _, prog := range []string{"mosquitto", "mosquitto_pub", "mosquitto_sub", "mosquitto_passwd"} {
		if _, err := exec.LookPath(prog); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not on PATH: in CI the real broker is required (apt-get install mosquitto mosquitto-clients)", prog)
			}
			t.Skipf("%s is not on PATH: install mosquitto and mosquitto-clients to run the MQTT tests", prog)
		}
	}
}

// Start runs `mosquitto -c FILE` with a private configuration: a WebSocket
// listener and a plain TCP one on free loopback ports, no persistence. It
// stops with the test.
func Start(t testing.TB, o Options) Broker {
	t.Helper()
	Need(t)
	dir := t.TempDir()
	var conf strings.Builder
	conf.WriteString("per_listener_settings false\npersistence false\nlog_type error\nlog_dest stderr\n")
	// $SYS counters every second, for tests that wait for subscriptions;
	// at most 10 QoS 1 messages in flight per client, so that a client
	// that does not acknowledge them stops receiving after ten.
	conf.WriteString("max_keepalive 65535\nsys_interval 1\nmax_inflight_messages 10\n")
	if os.Geteuid() == 0 {
		conf.WriteString("user root\n") // keep reading the files of this test's directory
	}
	if len(o.Users) == 0 {
		conf.WriteString("allow_anonymous true\n")
	} else {
		conf.WriteString("allow_anonymous false\npassword_file " + passwordFile(t, dir, o.Users) + "\n")
	}
	for attempt := 0; ; attempt++ {
		ws, tcp := testpeer.FreePort(t), testpeer.FreePort(t)
		// The WebSocket listener names the loopback interface, not its
		// address: Debian's mosquitto 2.0.11 (libwebsockets 4.1.6 built
		// in) fails to start one given 127.0.0.1 on a host with IPv6
		// (libwebsockets finds no interface with that address: "Unable to
		// create websockets listener"); "lo" with socket_domain ipv4 binds
		// 127.0.0.1 exactly.
		text := conf.String() + fmt.Sprintf("listener %d lo\nprotocol websockets\nsocket_domain ipv4\nlistener %d 127.0.0.1\nprotocol mqtt\n", ws, tcp)
		path := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		exited := testpeer.Daemon(t, "mosquitto", "-c", path)
		if listening(exited, ws, tcp) {
			return Broker{WS: "ws://127.0.0.1:" + strconv.Itoa(ws) + "/", TCP: tcp}
		}
		if attempt == 2 {
			t.Fatal("mosquitto did not start listening (see its log above)")
		}
	}
}

// listening waits until both ports take connections, false if mosquitto
// exited first (a port taken meanwhile) or never listened.
func listening(exited <-chan struct{}, ports ...int) bool {
	deadline := time.Now().Add(20 * time.Second)
	for _, port := range ports {
		for {
			select {
			case <-exited:
				return false
			default:
			}
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return true
}

// passwordFile writes users with mosquitto_passwd -b.
func passwordFile(t testing.TB, dir string, users map[string]string) string {
	t.Helper()
	path := filepath.Join(dir, "passwords")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for user, password := range users {
		if out, err := exec.Command("mosquitto_passwd", "-b", path, user, password).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	return path
}

// Sys reads one of the broker's $SYS counters, e.g.
// "subscriptions/count" ($SYS/broker/subscriptions/count), with
// credentials if given; -1 when it could not be read.
func (b Broker) Sys(t testing.TB, name string, auth ...string) int {
	t.Helper()
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(b.TCP), "-t", "$SYS/broker/" + name, "-C", "1", "-W", "5"}
	if len(auth) == 2 {
		args = append(args, "-u", auth[0], "-P", auth[1])
	}
	out, err := exec.Command("mosquitto_sub", args...).Output()
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return -1
	}
	return n
}

// Publisher is a mosquitto_pub -l: every line written is one publication.
type Publisher struct {
	in   io.WriteCloser
	done chan error
}

// Publish starts mosquitto_pub on the broker's TCP listener for topic at
// qos; its credentials, if the broker wants some, are user and password.
func (b Broker) Publish(t testing.TB, topic string, qos int, auth ...string) *Publisher {
	t.Helper()
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(b.TCP), "-t", topic, "-q", strconv.Itoa(qos), "-l"}
	if len(auth) == 2 {
		args = append(args, "-u", auth[0], "-P", auth[1])
	}
	cmd := exec.Command("mosquitto_pub", args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mosquitto_pub: %v", err)
	}
	p := &Publisher{in: in, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.in.Close() // mosquitto_pub -l exits at the end of its input
		if err := <-p.done; err != nil {
			t.Errorf("mosquitto_pub: %v", err)
		}
	})
	return p
}

// Line publishes one message.
func (p *Publisher) Line(t testing.TB, payload string) {
	t.Helper()
	if _, err := io.WriteString(p.in, payload+"\n"); err != nil {
		t.Fatalf("mosquitto_pub: %v", err)
	}
}

// Subscriber is a mosquitto_sub on the broker's TCP listener.
type Subscriber struct {
	Lines <-chan string // payloads received, one a line
}

// Subscribe starts mosquitto_sub on topic and returns once its
// subscription is in place (it prints a ready line for a probe
// publication first).
func (b Broker) Subscribe(t testing.TB, topic string) Subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "mosquitto_sub", "-h", "127.0.0.1", "-p", strconv.Itoa(b.TCP), "-t", topic, "-q", "1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting mosquitto_sub: %v", err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	// The subscription is in place once a probe publication comes back.
	deadline := time.After(20 * time.Second)
	for {
		if err := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(b.TCP), "-t", topic, "-m", "probe").Run(); err != nil {
			t.Fatalf("mosquitto_pub probe: %v", err)
		}
		select {
		case line := <-lines:
			if line == "probe" {
				return Subscriber{Lines: lines}
			}
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("mosquitto_sub did not receive a probe publication")
		}
	}
}
