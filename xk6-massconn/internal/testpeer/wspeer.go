package testpeer

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// WSPeer starts the npm ws server of engine/testdata/wspeer (or
// $WSPEER_DIR) and returns its base URL, without a path: ws://127.0.0.1:PORT,
// or wss:// when env sets TLS_CERT. env adds KEY=value settings (TLS_CERT,
// TLS_KEY and TLS_MAX_VERSION make it serve wss://; DEFLATE=1 turns on
// permessage-deflate). It stops with the test.
func WSPeer(t testing.TB, env ...string) string {
	t.Helper()
	cmd := exec.Command("node", "server.js", "0")
	cmd.Dir = NodeDir(t, "WSPEER_DIR", "wspeer", "ws")
	cmd.Env = append(os.Environ(), env...)
	port := ListeningPort(t, Run(t, cmd).Lines(), "the npm ws peer")
	if slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "TLS_CERT=") }) {
		return "wss://127.0.0.1:" + port
	}
	return "ws://127.0.0.1:" + port
}

// NodeDir is where the node peer NAME and its node_modules are: $ENV (set
// by make unit-test), or engine/testdata/NAME in this module. It fails the
// test, saying how to install it, when the npm package module is missing.
func NodeDir(t testing.TB, env, name, module string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		_, here, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(here), "..", "..", "engine", "testdata", name)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", module)); err != nil {
		t.Fatalf("the npm peer %s is not installed in %s (%v): run `make xk6-massconn/engine/testdata/%s/node_modules` (make unit-test does)", name, dir, err, name)
	}
	return dir
}
