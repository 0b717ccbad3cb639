package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
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

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// The user and password of examples/web-config.yml.
const (
	webUser     = "prometheus"
	webPassword = "change-me"
)

// writeServerCert writes a self-signed certificate for 127.0.0.1 and its
// key as server.crt and server.key in dir, the names the example web
// config uses, and returns the certificate.
func writeServerCert(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "msgraph_lro_exporter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "server.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	writeFile(t, dir, "server.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), 0o600)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// webConfigs are the web configurations to test: the example users start
// from.
func webConfigs() []string { return []string{"examples/web-config.yml"} }

// With --web.config.file, every endpoint (metrics, probe, reload, health,
// readiness, landing page, anything else) is served over TLS only, with the
// configured certificate and security headers, and answers 401 to a request
// without the right user and password. No unauthenticated request reaches
// Graph or reloads the configuration.
func TestWebConfigCoversEveryEndpoint(t *testing.T) {
	for _, wc := range webConfigs() {
		t.Run(filepath.Base(filepath.Dir(wc)), func(t *testing.T) { testWebConfig(t, wc) })
	}
}

func testWebConfig(t *testing.T, webConfig string) {
	tn := graphtest.NewTenant(t)
	ref := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"}
	tn.SetOperation(ref.URLPath(), map[string]any{"id": ref.ID, "status": "succeeded", "createdDateTime": "2022-12-14T05:54:35.400029Z"})
	dir := t.TempDir()
	example, err := os.ReadFile(webConfig)
	if err != nil {
		t.Fatal(err)
	}
	wcFile := writeFile(t, dir, "web-config.yml", string(example), 0o600)
	cert := writeServerCert(t, dir)
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	cfg := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: "+ref.ID+"}\n"), 0o600)

	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfg, "--web.config.file="+wcFile, "--web.enable-lifecycle")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(x.stderr.String(), "TLS is enabled.") {
		if time.Now().After(deadline) {
			t.Fatalf("TLS is not enabled:\n%s", x.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := "https://" + strings.TrimPrefix(x.url, "http://")
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	do := func(method, path string, auth ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(auth) == 2 {
			req.SetBasicAuth(auth[0], auth[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	loads := func() int { return strings.Count(x.stderr.String(), `msg="configuration loaded"`) }
	loadsBefore, graphBefore := loads(), tn.Requests()
	endpoints := []struct{ method, path string }{
		{"GET", "/metrics"},
		{"GET", "/probe?tenant=contoso&scope=industryData&id=" + ref.ID},
		{"POST", "/-/reload"},
		{"GET", "/-/healthy"},
		{"GET", "/-/ready"},
		{"GET", "/"},
		{"GET", "/no/such/page"},
	}
	for _, ep := range endpoints {
		for _, auth := range [][]string{nil, {webUser, "wrong"}, {"admin", webPassword}, {webUser, ""}, {"", ""}} {
			resp, body := do(ep.method, ep.path, auth...)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s %s with %q: %d, WWW-Authenticate %q; want 401, Basic", ep.method, ep.path, auth, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(body, "msgraph_lro") || strings.Contains(body, "Reloaded") {
				t.Errorf("%s %s with %q answered:\n%s", ep.method, ep.path, auth, body)
			}
		}
	}
	if n := tn.Requests(); n != graphBefore {
		t.Errorf("unauthenticated requests caused %d Graph requests", n-graphBefore)
	}
	if n := loads(); n != loadsBefore {
		t.Errorf("an unauthenticated POST /-/reload reloaded the configuration")
	}

	for _, ep := range endpoints {
		resp, body := do(ep.method, ep.path, webUser, webPassword)
		if resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("%s %s with the right password: 401", ep.method, ep.path)
		}
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || !resp.TLS.PeerCertificates[0].Equal(cert) {
			t.Errorf("%s %s: not served with the configured certificate", ep.method, ep.path)
		}
		if resp.TLS != nil && resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("%s %s: TLS version %x", ep.method, ep.path, resp.TLS.Version)
		}
		for _, h := range []string{"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s %s: no %s header", ep.method, ep.path, h)
			}
		}
		switch ep.path {
		case "/metrics":
			if resp.StatusCode != 200 || !strings.Contains(body, `msgraph_lro_up{`) {
				t.Errorf("GET /metrics with the password: %d\n%s", resp.StatusCode, body)
			}
		case "/":
			if resp.StatusCode != 200 || !strings.Contains(body, "Microsoft Graph") {
				t.Errorf("GET / with the password: %d\n%s", resp.StatusCode, body)
			}
		case "/-/reload":
			for end := time.Now().Add(5 * time.Second); loads() == loadsBefore && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond) // the log comes through a pipe
			}
			if resp.StatusCode != 200 || loads() != loadsBefore+1 {
				t.Errorf("POST /-/reload with the password: %d %q, %d loads", resp.StatusCode, body, loads()-loadsBefore)
			}
		}
	}

	// Plain HTTP on the TLS port gets nothing but a complaint.
	resp, err := http.Get(x.url + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "msgraph_lro") {
			t.Errorf("plain HTTP on the TLS port: %d\n%s", resp.StatusCode, b)
		}
	}
	// Below the configured minimum version, no handshake.
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}
	defer old.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: old, Timeout: 5 * time.Second}).Get(base + "/-/healthy"); err == nil {
		resp.Body.Close()
		t.Errorf("a TLS 1.1 client was served: %d", resp.StatusCode)
	}
	// A client that does not trust the certificate gets nothing either.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/-/healthy"); err == nil {
		resp.Body.Close()
		t.Errorf("a client that does not trust the certificate was served: %d", resp.StatusCode)
	}
	if s := x.stderr.String(); strings.Contains(s, webPassword) || strings.Contains(s, tn.ClientSecret) {
		t.Errorf("the log holds the web password or the client secret:\n%s", s)
	}
}

// A web config that cannot be used (a missing certificate, a user whose
// password is not a bcrypt hash) stops the exporter at start with exit code
// 1 and a reason, rather than serving without TLS or authentication.
func TestWebConfigInvalidRefusesToServe(t *testing.T) {
	tn := graphtest.NewTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	cfg := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: x}\n"), 0o600)
	for name, wc := range map[string]string{
		"missing certificate": "tls_server_config:\n  cert_file: nowhere.crt\n  key_file: nowhere.key\n",
		"plain-text password": "basic_auth_users:\n  prometheus: change-me\n",
		"unknown key":         "tls_server_config:\n  cert_file: a\n  key_file: b\nbasic_auth_user:\n  prometheus: x\n",
	} {
		t.Run(name, func(t *testing.T) {
			wcFile := writeFile(t, dir, "web-"+strings.ReplaceAll(name, " ", "-")+".yml", wc, 0o600)
			cmd := exec.Command(binary(t), "--config.file="+cfg, "--web.config.file="+wcFile, "--web.listen-address=127.0.0.1:0")
			cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+tn.CAFile)
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("the exporter kept running with an unusable web config:\n%s", out)
			}
			if code := exitCode(err); code != 1 {
				t.Errorf("exit code %d (%v), want 1:\n%s", code, err, out)
			}
			if !strings.Contains(string(out), "HTTP server failed") {
				t.Errorf("no reason given:\n%s", out)
			}
			if strings.Contains(string(out), tn.ClientSecret) {
				t.Errorf("the output holds the client secret:\n%s", out)
			}

			// --config.check finds the same fault, without serving.
			out, err = exec.Command(binary(t), "--config.check", "--config.file="+cfg, "--web.config.file="+wcFile).CombinedOutput()
			if code := exitCode(err); code != 1 || !strings.HasPrefix(string(out), "msgraph_lro_exporter: --web.config.file "+wcFile+": ") {
				t.Errorf("--config.check with this web config: exit %d:\n%s\nwant exit 1 and msgraph_lro_exporter: --web.config.file %s: …", code, out, wcFile)
			}
		})
	}
	out, err := exec.Command(binary(t), "--config.check", "--config.file="+cfg, "--web.config.file="+filepath.Join(dir, "absent.yml")).CombinedOutput()
	if want := "msgraph_lro_exporter: --web.config.file " + filepath.Join(dir, "absent.yml") + ": open " + filepath.Join(dir, "absent.yml") + ": no such file or directory\n"; exitCode(err) != 1 || string(out) != want {
		t.Errorf("--config.check with a missing web config: %v\n%s\nwant exit 1 and\n%s", err, out, want)
	}
}

// --config.check accepts the example web config once its certificate is
// there, and says so.
func TestConfigCheckWebConfig(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("examples/web-config.yml")
	if err != nil {
		t.Fatal(err)
	}
	wcFile := writeFile(t, dir, "web-config.yml", string(example), 0o600)
	cfg := writeFile(t, dir, "msgraph_lro.yml", "tenants:\n  - name: contoso\n    tenant_id: 00000000-0000-0000-0000-000000000000\n    client_id: 11111111-1111-1111-1111-111111111111\n    client_secret_file: "+writeFile(t, dir, "secret", "s", 0o600)+"\n", 0o600)
	out, err := exec.Command(binary(t), "--config.check", "--config.file="+cfg, "--web.config.file="+wcFile).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "server.crt") {
		t.Errorf("--config.check with the example web config and no certificate: %v\n%s\nwant exit 1 naming server.crt", err, out)
	}
	writeServerCert(t, dir)
	out, err = exec.Command(binary(t), "--config.check", "--config.file="+cfg, "--web.config.file="+wcFile).CombinedOutput()
	if want := cfg + ": OK: 1 tenants, 0 operations, 0 discovery jobs\n" + wcFile + ": OK\n"; err != nil || string(out) != want {
		t.Errorf("--config.check with the example web config: %v\n%s\nwant\n%s", err, out, want)
	}
}

// exitCode is a finished command's exit code, -1 if it did not exit.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
