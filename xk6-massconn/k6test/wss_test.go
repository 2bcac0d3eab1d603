package k6test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startWSSPeer starts the npm ws peer over Node's https with a fresh
// self-signed ECDSA P-256 certificate for 127.0.0.1, and returns its
// wss:// URL and the certificate's PEM file.
func startWSSPeer(t *testing.T) (url, certFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	certFile, keyFile := filepath.Join(tmp, "cert.pem"), filepath.Join(tmp, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	ws := startWSPeer(t, "TLS_CERT="+certFile, "TLS_KEY="+keyFile)
	return "wss://" + strings.TrimPrefix(ws, "ws://"), certFile
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
