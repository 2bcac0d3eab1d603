// Package centrifugotest runs Centrifugo v6, a real server nobody on this
// project wrote, for the tests of the centrifugo adapter: the engine's and
// the k6-level ones.
package centrifugotest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// Secret signs the connection JWTs the tests make.
const Secret = "massconn-test-secret"

// APIKey is the server API key (header X-API-Key).
const APIKey = "massconn-api-key"

// Server is a running Centrifugo.
type Server struct {
	WS  string // ws:// URL of the client endpoint
	API string // http:// base of the server API
}

// Start runs the Centrifugo v6 binary ($CENTRIFUGO_BINARY, built
// from its Go module by `make bin/centrifugo`) with a config that takes
// HS256 tokens and anonymous clients, and pings every second so that pings
// share frames with publications.
func Start(t testing.TB) Server {
	t.Helper()
	bin := os.Getenv("CENTRIFUGO_BINARY")
	if bin == "" {
		_, here, _, _ := runtime.Caller(0)
		bin = filepath.Join(filepath.Dir(here), "..", "..", "..", "bin", "centrifugo")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Centrifugo is not built at %s (%v): run `make bin/centrifugo` (make unit-test does) or set CENTRIFUGO_BINARY", bin, err)
	}
	for attempt := 0; ; attempt++ {
		port := testpeer.FreePort(t)
		cfg := map[string]any{
			"client": map[string]any{
				"token":                                 map[string]any{"hmac_secret_key": Secret},
				"allow_anonymous_connect_without_token": true,
				"ping_interval":                         "1s",
				"pong_timeout":                          "800ms",
			},
			"channel": map[string]any{"without_namespace": map[string]any{
				"allow_subscribe_for_client": true, "allow_subscribe_for_anonymous": true,
				// Programs' send steps publish from the client (request/ack round trips).
				"allow_publish_for_client": true, "allow_publish_for_anonymous": true,
			}},
			"http_api":    map[string]any{"key": APIKey},
			"health":      map[string]any{"enabled": true},
			"http_server": map[string]any{"address": "127.0.0.1", "port": port},
			"log":         map[string]any{"level": "error"},
		}
		path := filepath.Join(t.TempDir(), "config.json")
		raw, _ := json.Marshal(cfg)
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		exited := testpeer.Daemon(t, bin, "-c", path)
		base := "127.0.0.1:" + strconv.Itoa(port)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{} // the port was taken meanwhile: try another
				continue
			default:
			}
			if resp, err := http.Get("http://" + base + "/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return Server{WS: "ws://" + base + "/connection/websocket", API: "http://" + base + "/api"}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		if attempt == 2 {
			t.Fatal("centrifugo did not become healthy")
		}
	}
}

// Publish sends one publication through Centrifugo's HTTP API.
func (c Server) Publish(t testing.TB, channel string, data any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"channel": channel, "data": data})
	req, _ := http.NewRequest(http.MethodPost, c.API+"/publish", bytes.NewReader(body))
	req.Header.Set("X-API-Key", APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Error != nil {
		t.Fatalf("publish: status %d, error %+v (%v)", resp.StatusCode, out.Error, err)
	}
}

// HS256 makes a connection JWT for user sub, signed with secret.
func HS256(secret, sub string, exp time.Time) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims := enc.EncodeToString(fmt.Appendf(nil, `{"sub":%q,"exp":%d}`, sub, exp.Unix()))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(head + "." + claims))
	return head + "." + claims + "." + enc.EncodeToString(mac.Sum(nil))
}

// Subscribed reports how many clients are subscribed to channel.
func (c Server) Subscribed(channel string) int {
	{
		body, _ := json.Marshal(map[string]any{"pattern": channel})
		req, _ := http.NewRequest(http.MethodPost, c.API+"/channels", bytes.NewReader(body))
		req.Header.Set("X-API-Key", APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var out struct {
			Result struct {
				Channels map[string]struct {
					NumClients int `json:"num_clients"`
				} `json:"channels"`
			} `json:"result"`
		}
		if json.NewDecoder(resp.Body).Decode(&out) != nil {
			return -1
		}
		return out.Result.Channels[channel].NumClients
	}
}

// Info is the part of the server API's info that the tests read: how many
// clients (connections) and distinct users the nodes hold.
type Info struct {
	Clients int
	Users   int
}

// Info asks the server API (POST /api/info) how many clients and users
// are connected, summed over its nodes; ok is false when the API did not
// answer.
func (c Server) Info() (info Info, ok bool) {
	req, _ := http.NewRequest(http.MethodPost, c.API+"/info", bytes.NewReader([]byte("{}")))
	req.Header.Set("X-API-Key", APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Info{}, false
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Nodes []struct {
				NumClients int `json:"num_clients"`
				NumUsers   int `json:"num_users"`
			} `json:"nodes"`
		} `json:"result"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return Info{}, false
	}
	for _, n := range out.Result.Nodes {
		info.Clients += n.NumClients
		info.Users += n.NumUsers
	}
	return info, true
}
