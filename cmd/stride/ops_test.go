package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The operator's probes and knobs against the real binary: stride ready
// (the image's HEALTHCHECK), /healthz, --log-level, stride_build_info.
func TestReadyLogLevelAndBuildInfo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the stride binary")
	}
	flows := t.TempDir()
	if err := os.WriteFile(filepath.Join(flows, "hello.yaml"), []byte("flow: hello\ntrigger: {http: {path: /hello, methods: [GET]}}\nsteps:\n  - respond: {body: hi}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Nothing listens here: not ready, and why.
	out, err := exec.Command(strideBin, "ready", "--admin-addr", freeAddr(t)).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "stride ready:") {
		t.Errorf("ready with no server: exit %d %s", code, out)
	}

	p := startStride(t, flows, []string{"STRIDE_ADMIN_TOKEN=tok-123456"}, "--log-level", "warn")
	p.waitHealthy(t)
	out, err = exec.Command(strideBin, "ready", "--admin-addr", p.admin).CombinedOutput()
	if code := exitCode(err); code != 0 || strings.TrimSpace(string(out)) != "ready" {
		t.Errorf("ready: exit %d %s", code, out)
	}
	if status, _, body := get(t, "http://"+p.admin+"/healthz"); status != 200 || !strings.Contains(string(body), "alive") {
		t.Errorf("healthz without a token: %d %s", status, body)
	}
	status, _, metrics := get(t, "http://"+p.admin+"/metrics", "Authorization", "Bearer tok-123456")
	if status != 200 || !strings.Contains(string(metrics), `stride_build_info{commit="`) || !strings.Contains(string(metrics), "stride_data_free_bytes") {
		t.Errorf("metrics lack stride_build_info or stride_data_free_bytes: %d", status)
	}
	if strings.Contains(p.stderr.String(), "level=INFO") {
		t.Errorf("--log-level warn still writes INFO lines:\n%s", p.stderr.String())
	}

	for _, bad := range [][]string{{"--log-level", "loud"}, {"--log-format", "xml"}} {
		code, _, stderr := cli(append([]string{"run", "--flows", flows}, bad...)...)
		if code != 2 || !strings.Contains(stderr, bad[0]) {
			t.Errorf("%v: exit %d %s", bad, code, stderr)
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// --tls-cert/--tls-key serve the flows over HTTPS.
func TestRunServesTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, pool := selfSigned(t)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	flows := t.TempDir()
	if err := os.WriteFile(filepath.Join(flows, "hello.yaml"), []byte("flow: hello\ntrigger: {http: {path: /hello, methods: [GET]}}\nsteps:\n  - respond: {body: hi}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startStride(t, flows, nil, "--tls-cert", cert, "--tls-key", key)
	p.waitHealthy(t)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + p.addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hi" || resp.TLS == nil {
		t.Errorf("%d %q tls=%v", resp.StatusCode, body, resp.TLS != nil)
	}
	if code, _, stderr := cli("run", "--flows", flows, "--tls-cert", cert); code != 2 || !strings.Contains(stderr, "go together") {
		t.Errorf("a certificate without its key: exit %d %s", code, stderr)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stride test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pool
}
