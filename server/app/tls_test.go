package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
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

	"github.com/massconn/massconn/server/app"
	"github.com/massconn/massconn/server/internal/ssetest"
	"github.com/massconn/massconn/server/internal/wstest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "massconn test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSDeliversOverWSS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	url := newDatabase(t, shared)
	a := startApp(t, url, func(c *app.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	db := openDB(t, url)
	c := wstest.DialTLS(t, "wss://"+a.Addr()+"/ws?topic=Track", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	insertRows(t, db, "Track", 3)
	checkExactly(t, "wss client", c.WaitMessages(t, 3), "Track", tableIDs(t, db, "Track"))
}

// An SSE stream over TLS, which the idle-connection poller cannot watch
// (its plaintext is the TLS layer's), delivers and notices its peer
// leaving all the same.
func TestTLSDeliversOverSSE(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	url := newDatabase(t, shared)
	a := startApp(t, url, func(c *app.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	db := openDB(t, url)
	conn, err := tls.Dial("tcp", a.Addr(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	c := ssetest.DialOn(t, conn, a.Addr(), "/sse?topic=Track", nil)
	insertRows(t, db, "Track", 3)
	checkExactly(t, "https SSE client", c.WaitMessages(t, 3), "Track", tableIDs(t, db, "Track"))
	_ = conn.Close()
	wstest.WaitCount(t, "open connections", func() int64 { return a.Hub().Len() }, 0)
}

func TestTLSBadKeyPairIsNamed(t *testing.T) {
	certFile, _, _ := selfSigned(t)
	cfg := app.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DatabaseURL = newDatabase(t, shared)
	cfg.TLSCert, cfg.TLSKey = certFile, filepath.Join(t.TempDir(), "missing.pem")
	_, err := app.Start(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("start with a missing key file: %v; want an error naming --tls-key", err)
	}
}
