package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// reader is the account that signs in for password resets in these tests.
const reader = "lro-reader@contoso.com"

// signInFixture is a simulated tenant with a password reset (delegated
// only) and an industry-data import (app-only) to watch, and a config that
// has both credentials.
type signInFixture struct {
	tn        *graphtest.Tenant
	dir       string
	cfgFile   string
	cacheFile string
	env       []string
	pw, imp   graph.OperationRef
}

func newSignInFixture(t *testing.T) *signInFixture {
	t.Helper()
	tn := graphtest.NewTenant(t)
	tn.AddUser(reader, graphtest.RoleGlobalReader)
	f := &signInFixture{
		tn: tn, dir: t.TempDir(), env: []string{"SSL_CERT_FILE=" + tn.CAFile},
		pw:  graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: "alice@contoso.com", ID: "9f1c"},
		imp: graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "d194fa3e"},
	}
	tn.SetOperation(f.pw.URLPath(), map[string]any{"id": "9f1c", "status": "running", "createdDateTime": "2020-03-19T12-01-03.45Z", "lastActionDateTime": "2020-03-19T12-01-04.23Z"})
	tn.SetOperation(f.imp.URLPath(), map[string]any{"id": "d194fa3e", "status": "succeeded", "createdDateTime": "2023-01-01T00:00:00Z", "lastActionDateTime": "2023-01-01T00:10:00Z"})
	secret := writeFile(t, f.dir, "secret", tn.ClientSecret, 0o600)
	f.cacheFile = filepath.Join(f.dir, "contoso-cache.json")
	f.cfgFile = writeFile(t, f.dir, "msgraph_lro.yml", fmt.Sprintf(`global:
  cache_ttl: 1s
  terminal_cache_ttl: 1h
tenants:
  - name: contoso
    tenant_id: %s
    client_id: %s
    client_secret_file: %s
    delegated:
      token_cache_file: contoso-cache.json
    authority_host: %s
    disable_instance_discovery: true
    graph_endpoint: %s
operations:
  - {tenant: contoso, scope: authenticationMethods, user: alice@contoso.com, id: 9f1c, name: alice-reset}
  - {tenant: contoso, scope: industryData, id: d194fa3e, name: nightly}
`, tn.TenantID, tn.ClientID, secret, tn.AuthorityHost, tn.GraphEndpoint), 0o644)
	return f
}

// userCode is the code the login command prints for the person to enter.
var userCode = regexp.MustCompile(`enter the code ([A-Z0-9]+) `)

// login runs `login --device-code` and plays the person at the other
// device: it reads the code the command printed and approves it as upn on
// the simulated identity platform. It returns the exit code and output.
func (f *signInFixture) login(t *testing.T, upn string) (int, string) {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(binary(t), "login", "--config.file="+f.cfgFile, "--tenant=contoso", "--device-code")
	cmd.Env = append(os.Environ(), f.env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	approved := false
	deadline := time.After(20 * time.Second)
	for {
		select {
		case err := <-done:
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			return code, out.String()
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("login did not finish:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
			if m := userCode.FindStringSubmatch(out.String()); m != nil && !approved {
				if err := f.tn.ApproveDeviceCode(m[1], upn); err != nil {
					t.Fatalf("approving %s: %v\n%s", m[1], err, out.String())
				}
				approved = true
			}
		}
	}
}

// metrics scrapes the exporter and keeps the series of the given names.
func metrics(t *testing.T, x *exporter, names ...string) string {
	t.Helper()
	code, body := x.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "5")
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	var keep []string
	for _, l := range strings.Split(pick(body, names...), "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

const (
	aliceUp      = `msgraph_lro_up{name="alice-reset",operation_id="9f1c",scope="authenticationMethods",tenant="contoso"}`
	nightlyUp    = `msgraph_lro_up{name="nightly",operation_id="d194fa3e",scope="industryData",tenant="contoso"}`
	aliceRunning = `msgraph_lro_status{name="alice-reset",operation_id="9f1c",scope="authenticationMethods",status="running",tenant="contoso"} 1`
)

// Graph reads password resets only with a delegated token: an app-only
// tenant is refused by --config.check, naming the operation; `login
// --device-code` signs the reader in; the exporter then reads the reset,
// across a restart without a new sign-in, rotating the refresh token in
// the file; a revoked sign-in gives up 0, interaction_required, one log
// line with the command, and one token request per interval; a new
// `login` mends it without a restart.
func TestDelegatedSignInLifecycle(t *testing.T) {
	t.Parallel() // a process of its own that mostly waits
	f := newSignInFixture(t)

	// Without the delegated credential the config is refused.
	appOnly := strings.Replace(readFile(t, f.cfgFile), "    delegated:\n      token_cache_file: contoso-cache.json\n", "", 1)
	appOnlyFile := writeFile(t, f.dir, "app-only.yml", appOnly, 0o644)
	out, err := exec.Command(binary(t), "--config.check", "--config.file="+appOnlyFile).CombinedOutput()
	want := appOnlyFile + `:13: operations[0] "9f1c": scope: Graph allows no application permission for authenticationMethods (password-reset) operations, only a delegated sign-in: tenant "contoso" has no delegated credential; add delegated: {token_cache_file: …} to the tenant and sign in once with ` + "`msgraph_lro_exporter login --tenant=contoso`"
	if err == nil || strings.TrimSpace(string(out)) != program+": "+want {
		t.Fatalf("--config.check of an app-only tenant with a password reset: %v\n got: %s\nwant: %s: %s", err, out, program, want)
	}

	// Before the sign-in, --config.check says what is missing.
	out, err = exec.Command(binary(t), "--config.check", "--config.file="+f.cfgFile).CombinedOutput()
	if want := "warning: tenant \"contoso\": token: delegated sign-in: token cache file " + f.cacheFile + " does not exist: sign in with: msgraph_lro_exporter login --config.file=" + f.cfgFile + " --tenant=contoso\n"; err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("--config.check before login: %v\n%s", err, out)
	}

	// Tokens shorter than MSAL's 5-minute margin: every token call is a
	// refresh, which rotates the refresh token.
	f.tn.SetTokenLifetime(4 * time.Minute)
	code, loginOut := f.login(t, reader)
	if code != 0 {
		t.Fatalf("login exited %d:\n%s", code, loginOut)
	}
	for _, w := range []string{
		"Signed in as " + reader + ".",
		"Delegated permissions granted: UserAuthenticationMethod.Read.All\n",
		"Directory roles: Global Reader\n",
		"Token cache written to " + f.cacheFile + " (mode 0600).",
	} {
		if !strings.Contains(loginOut, w) {
			t.Errorf("login output lacks %q:\n%s", w, loginOut)
		}
	}
	fi, err := os.Stat(f.cacheFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, mode %v; want 0600", err, fi.Mode())
	}
	firstRT := f.tn.LatestRefreshToken(reader)
	if !strings.Contains(readFile(t, f.cacheFile), firstRT) {
		t.Fatal("the cache file does not hold the refresh token the sign-in issued")
	}

	f.tn.ResetCounters()
	x := start(t, f.env, "--config.file="+f.cfgFile)
	got := metrics(t, x, "msgraph_lro_up", "msgraph_lro_status", "msgraph_lro_delegated_sign_in_valid")
	for _, w := range []string{aliceUp + " 1", nightlyUp + " 1", aliceRunning, `msgraph_lro_delegated_sign_in_valid{tenant="contoso"} 1`} {
		if !strings.Contains(got, w) {
			t.Errorf("after login, /metrics lacks %s:\n%s", w, got)
		}
	}
	if n := f.tn.TokenRequestsByGrant("refresh_token"); n != 1 {
		t.Errorf("refresh_token requests = %d, want 1", n)
	}
	rotated := f.tn.LatestRefreshToken(reader)
	if rotated == firstRT || !strings.Contains(readFile(t, f.cacheFile), rotated) {
		t.Error("the rotated refresh token is not in the cache file")
	}

	// A restart uses the file: no new sign-in.
	stop(t, x)
	f.tn.ResetCounters()
	x = start(t, f.env, "--config.file="+f.cfgFile)
	got = metrics(t, x, "msgraph_lro_up")
	if !strings.Contains(got, aliceUp+" 1") {
		t.Errorf("after a restart, alice's reset is not up:\n%s\n%s", got, x.stderr.String())
	}
	if n := f.tn.TokenRequestsByGrant("device_code") + f.tn.TokenRequestsByGrant("authorization_code"); n != 0 {
		t.Errorf("a restart made %d new sign-ins, want 0", n)
	}

	// The sign-in is revoked (password reset, admin revoked sessions).
	f.tn.RevokeSignIns(reader)
	time.Sleep(1100 * time.Millisecond) // cache_ttl
	f.tn.ResetCounters()
	for i := 0; i < 4; i++ {
		got = metrics(t, x, "msgraph_lro_up", "msgraph_lro_token_requests_total", "msgraph_lro_delegated_sign_in_valid")
	}
	for _, w := range []string{
		aliceUp + " 0", nightlyUp + " 1",
		`msgraph_lro_token_requests_total{result="interaction_required",tenant="contoso"} 1`,
		`msgraph_lro_delegated_sign_in_valid{tenant="contoso"} 0`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("after the revocation, /metrics lacks %s:\n%s", w, got)
		}
	}
	if n := f.tn.TokenRequestsByGrant("refresh_token"); n != 1 {
		t.Errorf("4 scrapes of a revoked sign-in made %d refresh requests, want 1 (one per interval); graph requests %d, token requests %d", n, f.tn.Requests(), f.tn.TokenRequests())
	}
	logs := x.stderr.String()
	cmdLine := "sign in again with: msgraph_lro_exporter login --config.file=" + f.cfgFile + " --tenant=contoso"
	if n := strings.Count(logs, cmdLine); n != 1 || !strings.Contains(logs, "AADSTS50173") {
		t.Errorf("want one log line with AADSTS50173 and %q, got %d:\n%s", cmdLine, n, logs)
	}

	// A new sign-in, while the exporter runs, is picked up at once.
	if code, out := f.login(t, reader); code != 0 {
		t.Fatalf("second login exited %d:\n%s", code, out)
	}
	got = metrics(t, x, "msgraph_lro_up", "msgraph_lro_delegated_sign_in_valid")
	if !strings.Contains(got, aliceUp+" 1") || !strings.Contains(got, `msgraph_lro_delegated_sign_in_valid{tenant="contoso"} 1`) {
		t.Errorf("after a new login, alice's reset is not read:\n%s", got)
	}
	checkNoSecret(t, logs+loginOut, f.tn.ClientSecret, firstRT, rotated)
}

// Bad token cache files are named at load, with what is wrong and the
// command that mends it; the app-only operation is served meanwhile.
func TestDelegatedCacheFileBadInput(t *testing.T) {
	f := newSignInFixture(t)
	foreign := func(realm, client string) string {
		b, _ := json.Marshal(map[string]any{
			"Account":      map[string]any{"a": map[string]any{"home_account_id": "u.t", "environment": "login.example", "realm": realm, "username": "someone@fabrikam.com"}},
			"RefreshToken": map[string]any{"r": map[string]any{"home_account_id": "u.t", "environment": "login.example", "client_id": client, "credential_type": "RefreshToken", "secret": "rt"}},
		})
		return string(b)
	}
	cmd := "sign in with: msgraph_lro_exporter login --config.file=" + f.cfgFile + " --tenant=contoso"
	for _, c := range []struct {
		name, content string // content "-" means no file
		want          string
	}{
		{"missing", "-", "does not exist"},
		{"empty", "", "is empty"},
		{"not JSON", "{\"Account\": ", "is not a token cache: not JSON (offset 12)"},
		{"other tenant", foreign("99999999-9999-9999-9999-999999999999", f.tn.ClientID), "holds a sign-in for tenant 99999999-9999-9999-9999-999999999999, not " + f.tn.TenantID},
		{"other client", foreign(f.tn.TenantID, "88888888-8888-8888-8888-888888888888"), "holds a sign-in for client id 88888888-8888-8888-8888-888888888888, not " + f.tn.ClientID},
	} {
		t.Run(c.name, func(t *testing.T) {
			_ = os.Remove(f.cacheFile)
			if c.content != "-" {
				writeFile(t, f.dir, "contoso-cache.json", c.content, 0o600)
			}
			x := start(t, f.env, "--config.file="+f.cfgFile)
			got := metrics(t, x, "msgraph_lro_up", "msgraph_lro_delegated_sign_in_valid")
			for _, w := range []string{aliceUp + " 0", nightlyUp + " 1", `msgraph_lro_delegated_sign_in_valid{tenant="contoso"} 0`} {
				if !strings.Contains(got, w) {
					t.Errorf("/metrics lacks %s:\n%s", w, got)
				}
			}
			want := "token cache file " + f.cacheFile + " " + c.want + ": " + cmd
			if logs := x.stderr.String(); !strings.Contains(logs, want) {
				t.Errorf("the log lacks %q:\n%s", want, logs)
			}
			stop(t, x)
		})
	}
}

// A token cache file that cannot be rewritten: the error is logged at the
// first write, and the reset is still read with the token in memory.
func TestDelegatedCacheFileUnwritable(t *testing.T) {
	f := newSignInFixture(t)
	f.tn.SetTokenLifetime(4 * time.Minute) // every token call refreshes and rewrites the cache
	if code, out := f.login(t, reader); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	// Root writes anywhere, except into an immutable directory.
	if out, err := exec.Command("chattr", "+i", f.dir).CombinedOutput(); err != nil {
		t.Skipf("chattr +i (needs root and ext4 or the like): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", f.dir).Run() })
	x := start(t, f.env, "--config.file="+f.cfgFile)
	if got := metrics(t, x, "msgraph_lro_up"); !strings.Contains(got, aliceUp+" 1") {
		t.Errorf("with an unwritable cache file, alice's reset is not read:\n%s", got)
	}
	logs := x.stderr.String()
	if !strings.Contains(logs, `msg="cannot write the token cache file; the rotated refresh token is kept in memory only`) || !strings.Contains(logs, "operation not permitted") {
		t.Errorf("no clear error for the unwritable cache file:\n%s", logs)
	}
}

// /probe of a password reset on a tenant without a delegated credential is
// refused with the reason.
func TestProbePasswordResetNeedsDelegated(t *testing.T) {
	tn := graphtest.NewTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, ""), 0o644)
	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfgFile)
	code, body := x.get(t, "/probe?tenant=contoso&scope=authenticationMethods&user=alice@contoso.com&id=9f1c")
	want := "Graph allows no application permission for authenticationMethods (password-reset) operations, only a delegated sign-in: tenant \"contoso\" has no delegated credential; add delegated: {token_cache_file: …} to the tenant and sign in once with `msgraph_lro_exporter login --tenant=contoso`\n"
	if code != 400 || body != want {
		t.Errorf("/probe: %d %q, want 400 %q", code, body, want)
	}
	if n := tn.Requests(); n != 0 {
		t.Errorf("the refused probe sent %d requests to Graph", n)
	}
}

// login refuses an account Graph would refuse, and writes nothing.
func TestLoginRefusals(t *testing.T) {
	f := newSignInFixture(t)
	f.tn.AddUser("helpdesk@contoso.com") // no directory role
	code, out := f.login(t, "helpdesk@contoso.com")
	if code != 1 || !strings.Contains(out, "helpdesk@contoso.com signed in, but holds none of the directory roles Graph requires to read other users' password-reset operations (Global Reader, Authentication Administrator, Privileged Authentication Administrator): assign Global Reader to the account and sign in again; nothing was written") {
		t.Errorf("login of an account without a role: exit %d\n%s", code, out)
	}
	f.tn.SetDelegatedPermissions("User.Read")
	code, out = f.login(t, reader)
	if code != 1 || !strings.Contains(out, reader+" signed in, but the token grants none of the delegated permissions that read password-reset operations (UserAuthenticationMethod.Read.All, UserAuthenticationMethod.ReadWrite.All, UserAuthenticationMethod.Read, UserAuthenticationMethod.ReadWrite; granted: User.Read)") {
		t.Errorf("login without the delegated permission: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(f.cacheFile); !os.IsNotExist(err) {
		t.Errorf("a refused login wrote the cache file: %v", err)
	}
	cmd := exec.Command(binary(t), "login", "--config.file="+f.cfgFile, "--tenant=fabrikam", "--device-code")
	out2, err := cmd.CombinedOutput()
	if want := program + " login: " + f.cfgFile + " has no tenant \"fabrikam\"; its tenants: contoso\n"; err == nil || string(out2) != want {
		t.Errorf("login for an unknown tenant: %v %q, want %q", err, out2, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stop interrupts the exporter and waits for it to exit.
func stop(t *testing.T, x *exporter) {
	t.Helper()
	_ = x.cmd.Process.Signal(os.Interrupt)
	select {
	case <-x.done:
	case <-time.After(10 * time.Second):
		t.Fatal("exporter did not stop")
	}
}

func checkNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a secret (%.6s…) shows in the output", s)
		}
	}
}

// signedIn signs reader in to tn by device code (in this process, through
// MSAL's public client) and writes the token cache to dir. It returns the
// tenant's `delegated` key for a config.
func signedIn(t *testing.T, tn *graphtest.Tenant, dir string) string {
	t.Helper()
	tn.AddUser(reader, graphtest.RoleGlobalReader)
	stop := tn.ApproveDeviceCodesAs(reader)
	defer stop()
	path := filepath.Join(dir, "signed-in.json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := graph.Login(ctx, graph.LoginOptions{
		TenantID: tn.TenantID, ClientID: tn.ClientID, AuthorityHost: tn.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: tn.GraphEndpoint,
		CacheFile: path, DeviceCode: true, HTTPClient: tn.HTTPClient(),
	}); err != nil {
		t.Fatalf("signing %s in: %v", reader, err)
	}
	return fmt.Sprintf("    delegated: {token_cache_file: %q}\n", path)
}
