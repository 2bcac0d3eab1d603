package k6test

import (
	"testing"

	"github.com/massconn/massconn/xk6-massconn/internal/testpeer"
)

// startWSSPeer starts the npm ws peer over Node's https with a fresh
// self-signed certificate for 127.0.0.1 (testpeer.NewCert), and returns
// its wss:// URL and the certificate's PEM file.
func startWSSPeer(t *testing.T) (url, certFile string) {
	t.Helper()
	cert := testpeer.NewCert(t)
	return startWSPeer(t, "TLS_CERT="+cert.CertFile, "TLS_KEY="+cert.KeyFile), cert.CertFile
}

// TestWSSHonoursK6TLSOptions runs pass.js over wss:// and checks that k6's
// own TLS settings reach the engine: insecureSkipTLSVerify, and the system
// roots (SSL_CERT_FILE); without either the certificate is refused.
func TestWSSHonoursK6TLSOptions(t *testing.T) {
	url, certFile := startWSSPeer(t)
	for name, run := range map[string]func(t *testing.T) k6Result{
		"insecureSkipTLSVerify": func(t *testing.T) k6Result {
			return runK6(t, "pass.js", map[string]string{"WS_URL": url}, "--insecure-skip-tls-verify")
		},
		"SSL_CERT_FILE": func(t *testing.T) k6Result {
			t.Setenv("SSL_CERT_FILE", certFile) // for this subtest only
			return runK6(t, "pass.js", map[string]string{"WS_URL": url})
		},
	} {
		t.Run(name, func(t *testing.T) {
			res := run(t)
			if res.code != 0 {
				t.Fatalf("k6 exited %d, want 0:\n%s", res.code, res.output)
			}
			if got := res.value(t, "ws_msgs_received", "count"); got != 1000 {
				t.Errorf("ws_msgs_received = %v, want 1000", got)
			}
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		res := runK6(t, "untrusted.js", map[string]string{"WS_URL": url})
		if res.code != exitThresholdsFailed {
			t.Fatalf("k6 exited %d, want %d (thresholds failed):\n%s", res.code, exitThresholdsFailed, res.output)
		}
		if got := res.value(t, "massconn_failures{reason:tls}", "count"); got != 5 {
			t.Errorf("massconn_failures{reason:tls} = %v, want 5", got)
		}
	})
}
