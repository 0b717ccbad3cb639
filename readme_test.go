package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// README's /probe examples work against --demo as written.
func TestReadmeProbeExamples(t *testing.T) {
	examples := regexp.MustCompile(`(?m)^curl 'http://localhost:10071(/probe\?[^']+)'$`).FindAllStringSubmatch(readme(t), -1)
	if len(examples) != 4 {
		t.Fatalf("README has %d /probe examples, want 4", len(examples))
	}
	x := start(t, nil, "--demo")
	for _, e := range examples {
		code, body := x.get(t, e[1])
		if code != 200 || !strings.Contains(body, "\nmsgraph_lro_probe_success 1\n") {
			t.Errorf("README's %s against --demo: %d\n%s", e[1], code, body)
		}
	}
}

// README's openssl command makes the files examples/web-config.yml names,
// and --config.check accepts the example with them.
func TestWebConfigRecipe(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: the recipe cannot be run here")
	}
	m := regexp.MustCompile(`(?m)^openssl req (?:.*\\\n)*.*$`).FindString(readme(t))
	if m == "" {
		t.Fatal("README has no openssl req command")
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", m)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m, err, out)
	}
	example, err := os.ReadFile("examples/web-config.yml")
	if err != nil {
		t.Fatal(err)
	}
	wc := writeFile(t, dir, "web-config.yml", string(example), 0o600)
	cfg := writeFile(t, dir, "msgraph_lro.yml", "tenants:\n  - name: contoso\n    tenant_id: 00000000-0000-0000-0000-000000000000\n    client_id: 11111111-1111-1111-1111-111111111111\n    client_secret_file: "+writeFile(t, dir, "secret", "s", 0o600)+"\n", 0o600)
	out, err := exec.Command(binary(t), "--config.check", "--config.file="+cfg, "--web.config.file="+wc).CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), wc+": OK\n") {
		t.Errorf("--config.check with the recipe's certificate: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.key")); err != nil {
		t.Error(err)
	}
}

// connectProxy answers every CONNECT with 403 and records its target.
type connectProxy struct {
	mu      sync.Mutex
	targets []string
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.targets = append(p.targets, r.Method+" "+r.Host)
	p.mu.Unlock()
	http.Error(w, "no", http.StatusForbidden)
}

func (p *connectProxy) seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.targets, ", ")
}

// HTTPS_PROXY carries the exporter's requests: the token request for a
// tenant goes to the proxy as a CONNECT to the identity platform's host.
// The hosts need no DNS: the proxy is asked for them by name. A host
// outside MSAL's list of Microsoft login hosts is first checked with
// Entra's instance discovery at login.microsoftonline.com, through the
// proxy too; while that cannot be asked (this proxy refuses everything),
// nothing goes to the host at all, and the log says why.
func TestHTTPSProxy(t *testing.T) {
	for _, tc := range []struct {
		name, extra, want string
	}{
		// MSAL's confidential client asks discovery twice (for its cache,
		// then for the request) before the failure is remembered.
		{"instance discovery first", "", "CONNECT login.microsoftonline.com:443, CONNECT login.microsoftonline.com:443"},
		{"instance discovery disabled", "    disable_instance_discovery: true\n", "CONNECT login.proxy-test.invalid:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &connectProxy{}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { srv.Close() })

			dir := t.TempDir()
			cfg := writeFile(t, dir, "msgraph_lro.yml", `tenants:
  - name: contoso
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret_file: `+writeFile(t, dir, "secret", "s3cr3t-for-the-proxy-test", 0o600)+`
    authority_host: https://login.proxy-test.invalid
    graph_endpoint: https://graph.proxy-test.invalid
`+tc.extra+`operations:
  - {tenant: contoso, scope: industryData, id: x}
`, 0o600)
			x := start(t, []string{"HTTPS_PROXY=http://" + ln.Addr().String(), "NO_PROXY=", "no_proxy=", "https_proxy="}, "--config.file="+cfg)
			// Deadline enough for the token request to fail: the scrape
			// then returns once it has.
			x.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "10")
			if got := p.seen(); got != tc.want {
				t.Errorf("the proxy saw %q; want %q", got, tc.want)
			}
			logs := x.stderr.String()
			if strings.Contains(logs, "s3cr3t-for-the-proxy-test") {
				t.Errorf("the log holds the secret: %s", logs)
			}
			// The log line may follow the scrape's answer by a moment.
			const hint = "allow egress to login.microsoftonline.com, or, only for a private cloud you trust, set disable_instance_discovery: true"
			for end := time.Now().Add(15 * time.Second); tc.extra == "" && !strings.Contains(logs, hint) && time.Now().Before(end); logs = x.stderr.String() {
				time.Sleep(50 * time.Millisecond)
			}
			if tc.extra == "" && !strings.Contains(logs, hint) {
				t.Errorf("the log does not say what to do:\n%s", logs)
			}
		})
	}
}
