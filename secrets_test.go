package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// graphtestToken matches a token the simulated identity platform issues:
// no output of the exporter may hold one. Access and id tokens are JWTs
// (with a signature of 256 random bytes), refresh tokens "1.AQ" and 300
// characters.
var graphtestToken = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{300,}|1\.AQ[A-Za-z0-9_-]{300}`)

// trap is a host the token and the credentials must never reach: a TLS
// server (with httptest's certificate) that counts every connection, even
// one whose handshake fails, and records every request.
type trap struct {
	srv   *httptest.Server
	conns atomic.Int32
	mu    sync.Mutex
	reqs  []string
}

func newTrap(t *testing.T) *trap {
	t.Helper()
	tr := &trap{}
	tr.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tr.mu.Lock()
		tr.reqs = append(tr.reqs, fmt.Sprintf("%s %s Authorization=%q body=%q", r.Method, r.URL, r.Header.Get("Authorization"), b))
		tr.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"succeeded","access_token":"trapped","token_type":"Bearer","expires_in":3600}`)
	}))
	tr.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tr.conns.Add(1)
		}
	}
	tr.srv.StartTLS()
	t.Cleanup(tr.srv.Close)
	return tr
}

// check fails the test if anything reached the trap.
func (tr *trap) check(t *testing.T, what string) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if n := tr.conns.Load(); n != 0 || len(tr.reqs) != 0 {
		t.Errorf("%s: %d connections to the foreign host %s, requests:\n%s", what, n, tr.srv.URL, strings.Join(tr.reqs, "\n"))
	}
}

// caFile writes PEM certificates for SSL_CERT_FILE: httptest's (which all
// httptest TLS servers share) and those of extra PEM files.
func caFile(t *testing.T, dir string, srv *httptest.Server, extra ...string) string {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for _, f := range extra {
		e, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, e...)
	}
	return writeFile(t, dir, "ca.pem", string(b), 0o644)
}

// fakeAuthority is an identity platform that answers MSAL's discovery
// like Entra ID and the token request as token says.
func fakeAuthority(t *testing.T, token http.HandlerFunc) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(segs) == 4 && segs[3] == "openid-configuration" {
			base := srv.URL + "/" + segs[0]
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"token_endpoint":                        base + "/oauth2/v2.0/token",
				"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt"},
				"jwks_uri":                              base + "/discovery/v2.0/keys",
				"issuer":                                base + "/v2.0",
				"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
				"response_modes_supported":              []string{"query"},
				"subject_types_supported":               []string{"pairwise"},
				"id_token_signing_alg_values_supported": []string{"RS256"},
				"response_types_supported":              []string{"code"},
				"scopes_supported":                      []string{"openid"},
			})
			return
		}
		token(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Nothing the exporter shows holds the client secret or an access token:
// not its log at any level in either format, /metrics, /probe, the landing
// page, /-/healthy, /-/ready, a refused /-/reload, nor a goroutine dump
// (SIGQUIT, what a panic prints too) — while Graph and the identity platform
// fail in every way graphtest can make them, and while an identity platform
// echoes the request (secret included) in its error.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel() // a process of its own that mostly waits
	for _, tc := range []struct {
		name, format string
		inline, echo bool
		batch        bool
	}{
		{"secret file, logfmt", "logfmt", false, false, false},
		{"inline secret, json, batch", "json", true, false, true},
		{"identity platform echoes the secret", "logfmt", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			tr := newTrap(t)
			ops := map[string]graph.OperationRef{}
			var lines strings.Builder
			for _, id := range []string{"ok", "fault-500", "fault-429", "fault-json", "fault-truncated", "fault-reset", "missing"} {
				ref := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}
				ops[id] = ref
				fmt.Fprintf(&lines, "  - {tenant: contoso, scope: industryData, id: %s}\n", id)
				if id != "missing" {
					tn.SetOperation(ref.URLPath(), map[string]any{"id": id, "status": "running",
						"createdDateTime": "2020-03-19T12-01-03.45Z", "statusDetail": nil,
						"resourceLocation": tr.srv.URL + "/beta/external/industryData/dataConnectors/" + id})
				}
			}
			pwRef := graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: "alice@contoso.com", ID: "9f1c"}
			tn.SetOperation(pwRef.URLPath(), map[string]any{"id": "9f1c", "status": "failed", "statusDetail": "Password does not meet complexity requirements"})
			fmt.Fprintf(&lines, "  - {tenant: contoso, url: \"%s/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x&aadgsu=y\"}\n", tn.GraphEndpoint)
			body := func(s string) *string { return &s }
			tn.Inject(ops["fault-500"].URLPath(), graphtest.Fault{Status: 500})
			tn.Inject(ops["fault-429"].URLPath(), graphtest.Fault{Status: 429, RetryAfter: "1"})
			tn.Inject(ops["fault-json"].URLPath(), graphtest.Fault{Status: 200, Body: body(`{"status": "running", "id": `)})
			tn.Inject(ops["fault-truncated"].URLPath(), graphtest.Fault{Status: 200, Body: body(`{"stat`)})
			if !tc.batch {
				tn.Inject(ops["fault-reset"].URLPath(), graphtest.Fault{Reset: true})
			}

			dir := t.TempDir()
			authority := tn.AuthorityHost
			env := []string{"SSL_CERT_FILE=" + caFile(t, dir, tr.srv, tn.CAFile)}
			if tc.echo {
				fa := fakeAuthority(t, func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_codes": []int{7000215},
						"error_description": "AADSTS7000215: Invalid client secret provided: " + string(b) + " " + r.FormValue("client_secret")})
				})
				authority = fa.URL
			}
			secretFile := writeFile(t, dir, "secret", tn.ClientSecret+"\n", 0o600)
			cred := "client_secret_file: " + secretFile
			if tc.inline {
				cred = "client_secret: " + tn.ClientSecret
			}
			config := func(extra string) string {
				return fmt.Sprintf("global: {batch: %v}\ntenants:\n  - name: contoso\n    tenant_id: %s\n    client_id: %s\n    %s\n    authority_host: %s\n    disable_instance_discovery: true\n    graph_endpoint: %s\n%soperations:\n%s",
					tc.batch, tn.TenantID, tn.ClientID, cred, authority, tn.GraphEndpoint, extra, lines.String())
			}
			// The password reset is read with a reader's sign-in.
			delegated := signedIn(t, tn, dir)
			cfgFile := writeFile(t, dir, "msgraph_lro.yml", config(delegated), 0o600)

			tn.FailTokens(1, http.StatusUnauthorized) // the first token request fails: AADSTS7000222
			x := start(t, env, "--config.file="+cfgFile, "--log.level=debug", "--log.format="+tc.format, "--web.enable-lifecycle")
			var shown []string
			get := func(path string, hdr ...string) string {
				code, b := x.get(t, path, hdr...)
				shown = append(shown, b)
				return fmt.Sprintf("%d %s", code, b)
			}
			// A short scrape timeout: the inner 5xx and 429 of a $batch are
			// retried after a second, which the scrapes need not wait for.
			for range 2 {
				get("/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "1")
			}
			if !tc.echo {
				// The failed token request is remembered for its back-off
				// (at most a second the first time).
				var m string
				for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
					if m = get("/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "1"); strings.Contains(m, `msgraph_lro_up{`) && strings.Contains(m, tr.srv.URL) {
						break
					}
				}
				if !strings.Contains(m, `msgraph_lro_up{`) || !strings.Contains(m, tr.srv.URL) {
					t.Errorf("/metrics shows no operation, or not its resource_location:\n%s", m)
				}
			}
			get("/probe?tenant=contoso&scope=industryData&id=ok")
			get("/probe?tenant=contoso&scope=industryData&id=fault-500")
			get("/")
			get("/-/healthy")
			get("/-/ready")

			// A reload refused for a mistake next to the secret, then a good one.
			for _, bad := range []string{"    client_secrets: oops\n", "    client_secret: [x]\n", "  - bad: [\n"} {
				writeFile(t, dir, "msgraph_lro.yml", config(bad), 0o600)
				resp, err := http.Post(x.url+"/-/reload", "", nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				shown = append(shown, string(b))
				if resp.StatusCode != http.StatusInternalServerError {
					t.Errorf("reload of a bad config: %d %s", resp.StatusCode, b)
				}
			}
			writeFile(t, dir, "msgraph_lro.yml", config(delegated), 0o600)
			if resp, err := http.Post(x.url+"/-/reload", "", nil); err != nil || resp.StatusCode != 200 {
				t.Errorf("reload of the good config: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			get("/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "1")

			// A goroutine dump: what an unrecovered panic prints.
			if err := x.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
				t.Fatal(err)
			}
			waitQuiet(t, x.stderr, "SIGQUIT: quit")
			logs := x.stderr.String()
			levels := []string{"level=info", "level=warn", "level=error"}
			if !tc.echo { // with no token, Graph never answers: nothing to debug
				levels = append(levels, "level=debug")
			}
			for _, want := range levels {
				if tc.format == "json" {
					want = `"level":"` + strings.TrimPrefix(want, "level=") + `"`
				}
				if !strings.Contains(logs, want) {
					t.Errorf("the log has no %s line: the test does not see every level", want)
				}
			}
			if tc.echo && (!strings.Contains(logs, "AADSTS7000215") || !strings.Contains(logs, "<secret>")) {
				// The echo reached the log, with the secret scrubbed out.
				t.Errorf("the echoing identity platform's error is not in the log, scrubbed:\n%s", logs)
			}
			shown = append(shown, logs)
			for _, s := range shown {
				if strings.Contains(s, tn.ClientSecret) {
					t.Errorf("the client secret shows in:\n%s", s)
				}
				if m := graphtestToken.FindString(s); m != "" {
					t.Errorf("an access token (%s) shows in:\n%s", m, s)
				}
			}
			tr.check(t, "resourceLocation")
		})
	}
}

// waitQuiet waits until out holds marker and has stopped growing: the
// process has written all it will.
func waitQuiet(t *testing.T, out *lockedBuffer, marker string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		s := out.String()
		if strings.Contains(s, marker) && len(s) == last {
			return
		}
		last = len(s)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %q in the output:\n%s", marker, out.String())
}

// --config.check shows no secret: not for a good config with an inline
// secret (it warns about it), not for any mistake made next to one.
func TestConfigCheckShowsNoSecret(t *testing.T) {
	const secret = "Zq8~Fz.inline_SECRET-0123456789abcdefGHIJ"
	const fileSecret = "Kp3~Wd.file_SECRET-9876543210zyxwvuTSRQP"
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "secret", fileSecret+"\n", 0o600)
	tenant := func(cred string) string {
		return "tenants:\n  - name: contoso\n    tenant_id: 00000000-0000-0000-0000-000000000000\n    client_id: 11111111-1111-1111-1111-111111111111\n" + cred +
			"operations:\n  - {tenant: contoso, scope: industryData, id: x}\n"
	}
	for name, tc := range map[string]struct {
		yml  string
		code int
		want string
	}{
		"inline secret":                   {tenant("    client_secret: " + secret + "\n"), 0, "client_secret is inline in the config file; prefer client_secret_file"},
		"inline secret quoted":            {tenant("    client_secret: \"" + secret + "\"\n"), 0, "OK"},
		"secret as a list":                {tenant("    client_secret: [" + secret + "]\n"), 1, "client_secret: must be a string"},
		"secret repeated":                 {tenant("    client_secret: " + secret + "\n    client_secret: " + secret + "x\n"), 1, "repeated key"},
		"unknown key after the secret":    {tenant("    client_secret: " + secret + "\n    client_secrets: " + secret + "\n"), 1, `unknown key "client_secrets"`},
		"two credentials":                 {tenant("    client_secret: " + secret + "\n    client_secret_file: " + secretFile + "\n"), 1, "only one of"},
		"syntax error after the secret":   {tenant("    client_secret: " + secret + "\n    name: [\n"), 1, "msgraph_lro.yml:"},
		"unterminated quoted secret":      {tenant("    client_secret: \"" + secret + "\n"), 1, "msgraph_lro.yml:"},
		"secret file as certificate":      {tenant("    client_certificate_file: " + secretFile + "\n"), 1, "client_certificate_file"},
		"secret in a bad endpoint":        {tenant("    client_secret_file: " + secretFile + "\n    graph_endpoint: https://u:" + secret + "@graph.example\n"), 1, "user information"},
		"secret in a pasted url":          {strings.Replace(tenant("    client_secret_file: "+secretFile+"\n"), "{tenant: contoso, scope: industryData, id: x}", "{tenant: contoso, url: \"https://u:"+secret+"@graph.microsoft.com/beta/external/industryData/operations/x\"}", 1), 1, "user information"},
		"secret file world-readable":      {tenant("    client_secret_file: " + writeFile(t, dir, "open", fileSecret, 0o644) + "\n"), 0, "is readable by group or others"},
		"secret file is a directory":      {tenant("    client_secret_file: " + dir + "\n"), 1, "is a directory"},
		"second document with the secret": {tenant("    client_secret: x\n") + "---\nclient_secret: " + secret + "\n", 1, "a second YAML document"},
	} {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(name, "world-readable") {
				_ = os.Chmod(filepath.Join(dir, "open"), 0o644) // whatever the umask
			}
			cfg := writeFile(t, dir, "msgraph_lro.yml", tc.yml, 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, binary(t), "--config.check", "--config.file="+cfg).CombinedOutput()
			if code := exitCode(err); code != tc.code {
				t.Errorf("exit code %d, want %d:\n%s", code, tc.code, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			for _, s := range []string{secret, fileSecret} {
				if strings.Contains(string(out), s) {
					t.Errorf("--config.check shows the secret %q:\n%s", s, out)
				}
			}
		})
	}
}

// A secret file others may read is warned about in the log when the
// exporter starts (and again at each reload), naming the file and the fix.
func TestWorldReadableSecretFileWarnedAtStart(t *testing.T) {
	tn := graphtest.NewTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o644)
	if err := os.Chmod(secret, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: x}\n"), 0o600)
	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfg)
	want := regexp.MustCompile(`level=warn .*msg=configuration .*` + regexp.QuoteMeta(secret) + ` is readable by group or others \(mode 0644\); chmod 0600 it`)
	deadline := time.Now().Add(5 * time.Second)
	for !want.MatchString(x.stderr.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the world-readable secret file:\n%s", x.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(x.stderr.String(), tn.ClientSecret) {
		t.Error("the log holds the client secret")
	}
}

// The bearer token goes to the tenant's Graph host and nowhere else, from
// whichever direction a foreign host comes.
func TestTokenStaysOnGraphHost(t *testing.T) {
	t.Run("pasted url on another host", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		tr := newTrap(t)
		dir := t.TempDir()
		secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
		trapHost := strings.TrimPrefix(tr.srv.URL, "https://")
		for _, u := range []string{
			tr.srv.URL + "/beta/external/industryData/operations/x",
			"https://" + trapHost + "/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x",
			strings.Replace(tn.GraphEndpoint, "https://", "http://", 1) + "/beta/external/industryData/operations/x",
			"//" + trapHost + "/beta/external/industryData/operations/x",
			tn.GraphEndpoint + "@" + trapHost + "/beta/external/industryData/operations/x",
		} {
			cfg := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, fmt.Sprintf("  - {tenant: contoso, url: %q}\n", u)), 0o600)
			out, err := exec.Command(binary(t), "--config.check", "--config.file="+cfg).CombinedOutput()
			if exitCode(err) != 1 || !strings.Contains(string(out), "url:") {
				t.Errorf("url %s: --config.check exit %v, want 1 and an error about url:\n%s", u, err, out)
			}
		}
		tr.check(t, "pasted url")
	})

	t.Run("resourceLocation on another host", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		tr := newTrap(t)
		ref := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"}
		tn.SetOperation(ref.URLPath(), map[string]any{"id": ref.ID, "status": "succeeded",
			"resourceLocation": tr.srv.URL + "/beta/industryData/dataConnectors/022da4a0-c239-4b07-abed-08dad8e7a07a"})
		dir := t.TempDir()
		secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
		cfg := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: "+ref.ID+"}\n"), 0o600)
		x := start(t, []string{"SSL_CERT_FILE=" + caFile(t, dir, tr.srv, tn.CAFile)}, "--config.file="+cfg)
		for range 2 {
			if code, body := x.get(t, "/metrics"); code != 200 || !strings.Contains(body, `resource_location="`+tr.srv.URL) {
				t.Fatalf("/metrics: %d, no resource_location:\n%s", code, body)
			}
		}
		x.get(t, "/probe?tenant=contoso&scope=industryData&id="+ref.ID)
		tr.check(t, "resourceLocation")
	})

	t.Run("Graph redirects, the binary", func(t *testing.T) {
		tr := newTrap(t)
		fa := fakeAuthority(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"fake-token"}`)
		})
		var graphHits atomic.Int32
		g := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			graphHits.Add(1)
			w.Header().Set("Location", tr.srv.URL+r.URL.RequestURI())
			w.WriteHeader(http.StatusTemporaryRedirect)
		}))
		defer g.Close()
		dir := t.TempDir()
		secret := writeFile(t, dir, "secret", "Zq8~Fz.inline_SECRET-0123456789abcdefGHIJ", 0o600)
		cfgFile := writeFile(t, dir, "msgraph_lro.yml", fmt.Sprintf(`tenants:
  - name: contoso
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret_file: %s
    authority_host: %s
    disable_instance_discovery: true
    graph_endpoint: %s
operations:
  - {tenant: contoso, scope: industryData, id: a}
  - {tenant: contoso, scope: industryData, id: b}
  - {tenant: contoso, scope: sites, site: s, id: c}
`, secret, fa.URL, g.URL), 0o600)
		x := start(t, []string{"SSL_CERT_FILE=" + caFile(t, dir, tr.srv)}, "--config.file="+cfgFile)
		if code, body := x.get(t, "/metrics"); code != 200 || !strings.Contains(body, `msgraph_lro_graph_requests_total{code="307",tenant="contoso"}`) {
			t.Errorf("/metrics: %d\n%s", code, pick(body, "msgraph_lro_graph_requests_total", "msgraph_lro_up"))
		}
		if graphHits.Load() == 0 {
			t.Error("the exporter never asked the Graph endpoint")
		}
		tr.check(t, "Graph redirect (binary)")
	})

	t.Run("identity platform redirects, the binary", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		tr := newTrap(t)
		fa := fakeAuthority(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", tr.srv.URL+"/common/oauth2/v2.0/token")
			w.WriteHeader(http.StatusTemporaryRedirect)
		})
		dir := t.TempDir()
		secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
		cfg := strings.Replace(tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: a}\n"),
			"authority_host: "+tn.AuthorityHost, "authority_host: "+fa.URL, 1)
		cfgFile := writeFile(t, dir, "msgraph_lro.yml", cfg, 0o600)
		x := start(t, []string{"SSL_CERT_FILE=" + caFile(t, dir, tr.srv, tn.CAFile)}, "--config.file="+cfgFile)
		if code, body := x.get(t, "/metrics"); code != 200 || !strings.Contains(body, `msgraph_lro_up{`) {
			t.Errorf("/metrics: %d\n%s", code, body)
		}
		tr.check(t, "identity platform redirect (binary)")
	})
}
