package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the exporter once for all tests of this package.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "msgraph-lro-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "msgraph_lro_exporter")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// statuses are msgraph_lro_status's state set, written out (DESIGN's
// Metrics), not taken from the code under test.
var statuses = []string{"notStarted", "running", "succeeded", "failed", "unknownFutureValue"}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// listening finds the listen address in either log format.
var listening = regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)|"address":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"Listening on"`)

// exporter is the built binary, running.
type exporter struct {
	url    string
	stderr *lockedBuffer
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's; read after done
}

// start runs the binary on 127.0.0.1 port 0 (unless args give a
// --web.listen-address) and waits until it listens. Cleanup interrupts it
// if it is still running.
func start(t testing.TB, env []string, args ...string) *exporter {
	t.Helper()
	return startBinary(t, binary(t), env, args...)
}

// startBinary is start with another build of the exporter (a benchmark's
// baseline).
func startBinary(t testing.TB, bin string, env []string, args ...string) *exporter {
	t.Helper()
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--web.listen-address=") }) {
		args = append([]string{"--web.listen-address=127.0.0.1:0"}, args...)
	}
	x := &exporter{stderr: &lockedBuffer{}, done: make(chan struct{})}
	x.cmd = exec.Command(bin, args...)
	x.cmd.Env = append(os.Environ(), env...)
	x.cmd.Stderr, x.cmd.Stdout = x.stderr, x.stderr
	if err := x.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { x.err = x.cmd.Wait(); close(x.done) }()
	t.Cleanup(func() {
		_ = x.cmd.Process.Signal(os.Interrupt)
		select {
		case <-x.done:
		case <-time.After(10 * time.Second):
			_ = x.cmd.Process.Kill()
			<-x.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := listening.FindStringSubmatch(x.stderr.String()); m != nil {
			x.url = "http://" + m[1] + m[2]
			return x
		}
		select {
		case <-x.done:
			t.Fatalf("exporter exited (%v):\n%s", x.err, x.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter did not start listening:\n%s", x.stderr.String())
		}
	}
}

func (x *exporter) get(t testing.TB, path string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, x.url+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pick keeps the lines of an exposition that belong to the named metrics
// (HELP, TYPE and samples), sorted, for a comparison that does not depend
// on what else the page holds.
func pick(exposition string, names ...string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if i := strings.IndexAny(name, "{ "); i >= 0 {
			name = name[:i]
		}
		for _, n := range names {
			if name == n {
				out = append(out, line)
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// series writes one exposition line with its labels in name order, as
// client_golang writes them: base and extra are name, value pairs.
func series(name string, base []string, value string, extra ...string) string {
	pairs := append(append([]string{}, base...), extra...)
	type lv struct{ n, v string }
	var ls []lv
	for i := 0; i+1 < len(pairs); i += 2 {
		ls = append(ls, lv{pairs[i], pairs[i+1]})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].n < ls[j].n })
	var b strings.Builder
	b.WriteString(name + "{")
	for i, l := range ls {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%q", l.n, l.v)
	}
	fmt.Fprintf(&b, "} %s\n", value)
	return b.String()
}

// samplesOnly drops the HELP and TYPE lines of an exposition.
func samplesOnly(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "# ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func sortedLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func writeFile(t testing.TB, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// tenantConfig is one tenant of tn with a client secret from secretFile,
// instance discovery off, and ops (YAML lines of `operations`).
func tenantConfig(tn *graphtest.Tenant, secretFile, ops string) string {
	return tenantYAML(tn, "client_secret_file: "+secretFile, "    disable_instance_discovery: true\n", ops)
}

// tenantYAML is one tenant of tn with the credential line cred and extra
// (YAML lines of the tenant), and ops (YAML lines of `operations`).
func tenantYAML(tn *graphtest.Tenant, cred, extra, ops string) string {
	return fmt.Sprintf(`tenants:
  - name: contoso
    tenant_id: %s
    client_id: %s
    %s
    authority_host: %s
    graph_endpoint: %s
%soperations:
%s`, tn.TenantID, tn.ClientID, cred, tn.AuthorityHost, tn.GraphEndpoint, extra, ops)
}

// The binary, a config file and the simulated tenant over TLS: /metrics
// shows what Graph says, and no secret shows anywhere.
func TestBinaryAgainstSimulatedTenant(t *testing.T) {
	tn := graphtest.NewTenant(t)
	rma := graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"}
	pw := graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: "alice@contoso.com", ID: "9f1c"}
	tn.SetOperation(rma.URLPath(), map[string]any{
		"id": rma.ID, "createdDateTime": "2023-06-09T22:50:41.5414467Z", "lastActionDateTime": "2023-06-09T22:52:09.0296021Z",
		"resourceLocation": "", "status": "running", "statusDetail": "",
	})
	tn.SetOperation(pw.URLPath(), map[string]any{
		"id": "9f1c", "status": "failed", "createdDateTime": "2020-03-19T12-01-03.45Z", "lastActionDateTime": "2020-03-19T12-01-04.23Z",
		"statusDetail": "Password does not meet complexity requirements",
	})
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret+"\n", 0o600)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", strings.Replace(tenantConfig(tn, secret, fmt.Sprintf(`  - tenant: contoso
    scope: roleManagementAlerts
    id: "%s"
    name: stale-sign-in
    labels: {team: identity}
  - tenant: contoso
    url: %s/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x&aadgsu=y
  - tenant: contoso
    scope: industryData
    id: 404-nobody-home
`, rma.ID, tn.GraphEndpoint)), "operations:\n", signedIn(t, tn, dir)+"operations:\n", 1), 0o644)

	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfgFile, "--log.level=debug")
	code, body := x.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "5")
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	op1 := []string{"tenant", "contoso", "scope", "roleManagementAlerts", "operation_id", rma.ID, "name", "stale-sign-in", "team", "identity"}
	op2 := []string{"tenant", "contoso", "scope", "authenticationMethods", "operation_id", "9f1c", "name", "", "team", ""}
	op3 := []string{"tenant", "contoso", "scope", "industryData", "operation_id", "404-nobody-home", "name", "", "team", ""}
	var w strings.Builder
	// Samples only: their HELP and TYPE are in testdata/demo.metrics, the
	// golden file.
	for _, s := range statuses {
		w.WriteString(series("msgraph_lro_status", op1, map[bool]string{true: "1", false: "0"}[s == "running"], "status", s))
		w.WriteString(series("msgraph_lro_status", op2, map[bool]string{true: "1", false: "0"}[s == "failed"], "status", s))
	}
	w.WriteString(series("msgraph_lro_created_timestamp_seconds", op1, "1.6863510415414467e+09"))
	w.WriteString(series("msgraph_lro_created_timestamp_seconds", op2, "1.58461926345e+09"))
	w.WriteString(series("msgraph_lro_info", op1, "1", "resource_location", "", "status_detail", "", "type", "", "error_code", "", "raw_status", "running"))
	w.WriteString(series("msgraph_lro_info", op2, "1", "resource_location", "", "status_detail", "Password does not meet complexity requirements", "type", "", "error_code", "", "raw_status", "failed"))
	w.WriteString(series("msgraph_lro_up", op1, "1"))
	w.WriteString(series("msgraph_lro_up", op2, "1"))
	w.WriteString(series("msgraph_lro_up", op3, "0"))
	w.WriteString(`msgraph_lro_operations{shard="0",source="config",tenant="contoso"} 3
msgraph_lro_graph_requests_total{code="200",tenant="contoso"} 2
msgraph_lro_graph_operations_fetched_total{tenant="contoso"} 3
msgraph_lro_token_requests_total{result="error",tenant="contoso"} 0
msgraph_lro_token_requests_total{result="interaction_required",tenant="contoso"} 0
msgraph_lro_token_requests_total{result="success",tenant="contoso"} 1
msgraph_lro_token_requests_total{result="unreachable",tenant="contoso"} 0
msgraph_lro_config_last_reload_successful 1
`)
	want := w.String()
	got := samplesOnly(pick(body, "msgraph_lro_status", "msgraph_lro_created_timestamp_seconds", "msgraph_lro_info", "msgraph_lro_up",
		"msgraph_lro_operations", "msgraph_lro_graph_requests_total", "msgraph_lro_graph_operations_fetched_total", "msgraph_lro_token_requests_total", "msgraph_lro_config_last_reload_successful"))
	if got != sortedLines(want) {
		t.Errorf("/metrics:\n%s\n\nwant:\n%s", got, sortedLines(want))
	}
	for _, name := range []string{"msgraph_lro_exporter_build_info", "msgraph_lro_age_seconds", "msgraph_lro_last_action_age_seconds",
		"msgraph_lro_last_success_timestamp_seconds", "msgraph_lro_scrape_duration_seconds", "msgraph_lro_graph_request_duration_seconds_bucket",
		"msgraph_lro_graph_throttled_total", "msgraph_lro_config_last_reload_success_timestamp_seconds"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if q := tn.LastQuery(pw.URLPath()); q.Get("aadgdc") != "x" || q.Get("aadgsu") != "y" {
		t.Errorf("the pasted URL's query was not kept: %v", q)
	}

	// A second scrape inside cache_ttl asks Graph only for the operation
	// whose fetch failed: errors are never cached.
	before := tn.Requests()
	x.get(t, "/metrics")
	if got := tn.Requests() - before; got != 1 {
		t.Errorf("second scrape sent %d Graph requests, want 1 (the 404 again)", got)
	}

	for path, wantText := range map[string]string{"/": "Microsoft Graph", "/-/healthy": "Healthy", "/-/ready": "Ready"} {
		code, page := x.get(t, path)
		if code != 200 || !strings.Contains(page, wantText) {
			t.Errorf("GET %s = %d, %q", path, code, page)
		}
		if strings.Contains(page, tn.ClientSecret) {
			t.Errorf("GET %s shows the client secret", path)
		}
	}
	if strings.Contains(body, tn.ClientSecret) {
		t.Error("/metrics shows the client secret")
	}
	if strings.Contains(x.stderr.String(), tn.ClientSecret) {
		t.Error("the log holds the client secret")
	}
}

// --config.check validates without contacting anything and says what is wrong.
func TestConfigCheck(t *testing.T) {
	tn := graphtest.NewTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	good := writeFile(t, dir, "good.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: x}\n"), 0o644)
	bad := writeFile(t, dir, "bad.yml", tenantConfig(tn, secret, "  - {tenant: fabrikam, scope: industryData, id: x}\n"), 0o644)

	out, err := exec.Command(binary(t), "--config.check", "--config.file="+good).CombinedOutput()
	if err != nil || string(out) != good+": OK: 1 tenants, 1 operations, 0 discovery jobs\n" {
		t.Errorf("--config.check good: %v\n%s", err, out)
	}
	out, err = exec.Command(binary(t), "--config.check", "--config.file="+bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("--config.check bad: exit %v, want 1", err)
	}
	if want := "msgraph_lro_exporter: " + bad + `:10: operations[0] "x": tenant: "fabrikam" is not a configured tenant` + "\n"; string(out) != want {
		t.Errorf("--config.check bad said:\n%s\nwant:\n%s", out, want)
	}
	if tn.TokenRequests() != 0 || tn.Requests() != 0 {
		t.Errorf("--config.check contacted the tenant: %d token, %d Graph requests", tn.TokenRequests(), tn.Requests())
	}
	out, err = exec.Command(binary(t), "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "msgraph_lro_exporter, version ") {
		t.Errorf("--version: %v\n%s", err, out)
	}
}

// --demo serves every status, and promtool finds nothing to complain about.
func TestDemoMetricsPassPromtool(t *testing.T) {
	x := start(t, nil, "--demo")
	var body string
	for _, s := range statuses[:4] {
		if body == "" {
			_, body = x.get(t, "/metrics")
		}
		if !regexp.MustCompile(`msgraph_lro_status\{[^}]*status="` + s + `"[^}]*\} 1\n`).MatchString(body) {
			t.Errorf("demo shows no operation with status %s", s)
		}
	}
	if !strings.Contains(x.stderr.String(), "DEMO MODE") {
		t.Error("the demo does not say it is a demo")
	}
	if strings.Contains(body, `msgraph_lro_up{`) && regexp.MustCompile(`msgraph_lro_up\{[^}]*\} 0`).MatchString(body) {
		t.Errorf("a demo operation is not up:\n%s", pick(body, "msgraph_lro_up"))
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MSGRAPH_LRO_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool is not installed: apt-get install prometheus")
		}
		t.Skip("promtool not installed (apt-get install prometheus); set MSGRAPH_LRO_REQUIRE_PROMTOOL=1 to make this a failure")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
