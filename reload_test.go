package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgraph-lro/msgraph_lro_exporter/collector"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// Configuration reload: POST /-/reload and SIGHUP build and check the new
// configuration completely (secret files read, Graph clients built) before
// it replaces the old one; a bad one is refused, logged, and the old one
// stays in use, with msgraph_lro_config_last_reload_successful 0.

// reloadOps are the operations these tests watch, by id.
var reloadOps = map[string]map[string]any{
	"op-a": {"id": "op-a", "status": "running", "createdDateTime": "2024-05-01T10:00:00Z", "lastActionDateTime": "2024-05-01T10:05:00Z"},
	"op-b": {"id": "op-b", "status": "succeeded", "createdDateTime": "2024-05-01T09:00:00Z", "lastActionDateTime": "2024-05-01T09:30:00Z"},
}

func reloadOpPath(id string) string {
	return graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}.URLPath()
}

// reloadTenant is a simulated tenant serving reloadOps.
func reloadTenant(t *testing.T) *graphtest.Tenant {
	tn := graphtest.NewTenant(t)
	for id, f := range reloadOps {
		tn.SetOperation(reloadOpPath(id), f)
	}
	return tn
}

// reloadConfig watches the operations ids, with a cache short enough that
// every scrape asks Graph again.
func reloadConfig(tn *graphtest.Tenant, secretFile string, ids ...string) string {
	var ops strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&ops, "  - {tenant: contoso, scope: industryData, id: %s}\n", id)
	}
	return "global:\n  cache_ttl: 1ms\n  terminal_cache_ttl: 1ms\n" + tenantConfig(tn, secretFile, ops.String())
}

// sample finds the value of the series of name whose labels include every
// k="v" of labels ("" and false if there is none).
func sample(exposition, name string, labels ...string) (string, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		match := true
		for j := 0; j+1 < len(labels); j += 2 {
			if !strings.Contains(rest[:i], fmt.Sprintf("%s=%q", labels[j], labels[j+1])) {
				match = false
			}
		}
		if match {
			return rest[i+1:], true
		}
	}
	return "", false
}

// opsServed lists the operation ids whose msgraph_lro_up is in exposition,
// with their value: "op-a=1 op-b=1".
func opsServed(exposition string) string {
	var got []string
	for _, id := range []string{"op-a", "op-b", "op-c"} {
		if v, ok := sample(exposition, "msgraph_lro_up", "operation_id", id); ok {
			got = append(got, id+"="+v)
		}
	}
	return strings.Join(got, " ")
}

func (x *exporter) post(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Post(x.url+path, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics, which must answer 200.
func (x *exporter) scrape(t *testing.T) string {
	t.Helper()
	code, body := x.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	return body
}

// reloadState is what a scrape says of the configuration in use.
type reloadState struct {
	ops        string // opsServed
	successful string // msgraph_lro_config_last_reload_successful
	when       string // msgraph_lro_config_last_reload_success_timestamp_seconds
	watched    string // msgraph_lro_operations{tenant="contoso"}
}

func stateOf(body string) reloadState {
	s := reloadState{ops: opsServed(body)}
	s.successful, _ = sample(body, "msgraph_lro_config_last_reload_successful")
	s.when, _ = sample(body, "msgraph_lro_config_last_reload_success_timestamp_seconds")
	s.watched, _ = sample(body, "msgraph_lro_operations", "tenant", "contoso")
	return s
}

// waitState scrapes until want holds for the state, for up to 10 seconds
// (a signal is handled asynchronously).
func (x *exporter) waitState(t *testing.T, what string, want func(reloadState) bool) reloadState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := stateOf(x.scrape(t))
		if want(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %+v\nlog:\n%s", what, s, x.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReloadThroughHTTP(t *testing.T) {
	tn := reloadTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret+"\n", 0o600)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", reloadConfig(tn, secret, "op-a"), 0o644)
	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfgFile, "--web.enable-lifecycle")

	first := stateOf(x.scrape(t))
	if first.ops != "op-a=1" || first.successful != "1" || first.watched != "1" || first.when == "" {
		t.Fatalf("at start: %+v", first)
	}

	// Only POST reloads.
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		req, _ := http.NewRequest(method, x.url+"/-/reload", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s /-/reload: %d, Allow %q; want 405, Allow POST", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}

	// A changed config adds an operation.
	writeFile(t, dir, "msgraph_lro.yml", reloadConfig(tn, secret, "op-a", "op-b"), 0o644)
	if code, body := x.post(t, "/-/reload"); code != http.StatusOK || body != "Reloaded.\n" {
		t.Fatalf("POST /-/reload: %d %q", code, body)
	}
	good := stateOf(x.scrape(t))
	if good.ops != "op-a=1 op-b=1" || good.successful != "1" || good.watched != "2" {
		t.Fatalf("after a good reload: %+v", good)
	}
	if a, b := parseFloat(t, first.when), parseFloat(t, good.when); b <= a {
		t.Errorf("success timestamp did not move on: %v then %v", a, b)
	}

	// Each bad config is refused with its error, and the old one stays.
	goodCfg := reloadConfig(tn, secret, "op-a", "op-b")
	for _, bad := range []struct {
		name, content, err string
	}{
		{"unknown key", "unknown_key: 1\n" + reloadConfig(tn, secret, "op-c"), `msgraph_lro.yml:1: unknown key "unknown_key"`},
		{"unknown tenant", strings.Replace(reloadConfig(tn, secret, "op-c"), "{tenant: contoso,", "{tenant: fabrikam,", 1),
			`tenant: "fabrikam" is not a configured tenant`},
		{"missing secret file", reloadConfig(tn, filepath.Join(dir, "no-such-secret"), "op-c"), "no-such-secret: no such file or directory"},
		{"not YAML", "tenants: [\n", "msgraph_lro.yml"},
		{"no file", "", "no such file or directory"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			before := stateOf(x.scrape(t))
			if bad.content == "" {
				os.Remove(cfgFile)
			} else {
				writeFile(t, dir, "msgraph_lro.yml", bad.content, 0o644)
			}
			code, body := x.post(t, "/-/reload")
			if code != http.StatusInternalServerError || !strings.Contains(body, bad.err) {
				t.Errorf("POST /-/reload: %d %q; want 500 with %q", code, body, bad.err)
			}
			s := stateOf(x.scrape(t))
			if s.ops != "op-a=1 op-b=1" || s.watched != "2" || s.successful != "0" || s.when != before.when {
				t.Errorf("after a refused reload: %+v; want the old operations (op-a=1 op-b=1, 2 watched), successful 0, timestamp %s", s, before.when)
			}
			// logfmt escapes the quotes of the error. The line is written
			// before the answer, but reaches the test through a pipe.
			logged := func() bool {
				l := x.stderr.String()
				return strings.Contains(l, "configuration refused") && strings.Contains(l, strings.ReplaceAll(bad.err, `"`, `\"`))
			}
			for deadline := time.Now().Add(3 * time.Second); !logged() && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if !logged() {
				t.Errorf("the refusal is not logged with its error %q:\n%s", bad.err, x.stderr.String())
			}
			// Put the good config back: the gauge says 1 again.
			writeFile(t, dir, "msgraph_lro.yml", goodCfg, 0o644)
			if code, _ := x.post(t, "/-/reload"); code != http.StatusOK {
				t.Fatalf("reloading the good config again: %d", code)
			}
			if s := stateOf(x.scrape(t)); s.successful != "1" || s.ops != "op-a=1 op-b=1" {
				t.Errorf("after the good config again: %+v", s)
			}
		})
	}
	if strings.Contains(x.stderr.String(), tn.ClientSecret) {
		t.Error("the log holds the client secret")
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	tn := reloadTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", reloadConfig(tn, secret, "op-a"), 0o644)
	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfgFile)
	if s := stateOf(x.scrape(t)); s.ops != "op-a=1" {
		t.Fatalf("at start: %+v", s)
	}

	writeFile(t, dir, "msgraph_lro.yml", reloadConfig(tn, secret, "op-b"), 0o644)
	if err := x.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	good := x.waitState(t, "SIGHUP with a changed config", func(s reloadState) bool { return s.ops == "op-b=1" })
	if good.successful != "1" || good.watched != "1" {
		t.Errorf("after SIGHUP: %+v", good)
	}

	writeFile(t, dir, "msgraph_lro.yml", "unknown_key: 1\n"+reloadConfig(tn, secret, "op-a"), 0o644)
	if err := x.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	bad := x.waitState(t, "SIGHUP with a bad config", func(s reloadState) bool { return s.successful == "0" })
	if bad.ops != "op-b=1" || bad.when != good.when {
		t.Errorf("after SIGHUP with a bad config: %+v; want op-b=1 still served, timestamp %s", bad, good.when)
	}
	if !strings.Contains(x.stderr.String(), "unknown_key") {
		t.Errorf("the refused config's error is not logged:\n%s", x.stderr.String())
	}
	if x.cmd.ProcessState != nil {
		t.Fatal("the exporter exited on SIGHUP")
	}
}

// The simulated tenant's client secret cannot be changed, so rotation is
// shown the other way round: the secret file is pointed at a wrong secret
// and the exporter reloaded. The reload is accepted (the file is there and
// not empty), and the next token request, made with what the file now
// says, fails; the right secret and another reload bring tokens back. A
// cached secret would have kept both token requests succeeding.
func TestReloadRereadsSecretFile(t *testing.T) {
	tn := reloadTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret+"\n", 0o600)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", reloadConfig(tn, secret, "op-a"), 0o644)
	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfgFile, "--web.enable-lifecycle")

	tokens := func(body string) string {
		ok, _ := sample(body, "msgraph_lro_token_requests_total", "tenant", "contoso", "result", "success")
		bad, _ := sample(body, "msgraph_lro_token_requests_total", "tenant", "contoso", "result", "error")
		return "success=" + ok + " error=" + bad
	}
	body := x.scrape(t)
	if got := opsServed(body) + " " + tokens(body); got != "op-a=1 success=1 error=0" {
		t.Fatalf("at start: %s", got)
	}

	writeFile(t, dir, "secret", "a-rotated-secret-the-tenant-does-not-know\n", 0o600)
	if code, body := x.post(t, "/-/reload"); code != http.StatusOK {
		t.Fatalf("reload with a rotated secret file: %d %q", code, body)
	}
	time.Sleep(5 * time.Millisecond) // past cache_ttl
	body = x.scrape(t)
	if got := opsServed(body) + " " + tokens(body); got != "op-a=0 success=1 error=1" {
		t.Errorf("after reloading with a wrong secret in the file: %s; want op-a=0 success=1 error=1", got)
	}

	writeFile(t, dir, "secret", tn.ClientSecret+"\n", 0o600)
	if code, body := x.post(t, "/-/reload"); code != http.StatusOK {
		t.Fatalf("reload with the right secret file: %d %q", code, body)
	}
	body = x.scrape(t)
	if got := opsServed(body) + " " + tokens(body); got != "op-a=1 success=2 error=1" {
		t.Errorf("after reloading with the right secret again: %s; want op-a=1 success=2 error=1", got)
	}
	if strings.Contains(x.stderr.String(), tn.ClientSecret) || strings.Contains(x.stderr.String(), "a-rotated-secret") {
		t.Error("the log holds a client secret")
	}
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f
}

// In the process, under the race detector: reloads, good and bad, while
// scrapes run. Every scrape shows one whole configuration, never a mix,
// and the gauge says how the latest reload went.
func TestReloaderConcurrentWithScrapes(t *testing.T) {
	tn := reloadTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", reloadConfig(tn, secret, "op-a"), 0o644)

	logger := log.NewNopLogger()
	metrics := graph.NewMetrics()
	exp := collector.New(logger, time.Now)
	var (
		mu      sync.Mutex
		content = map[bool]string{true: reloadConfig(tn, secret, "op-a", "op-b"), false: "unknown_key: 1\n"}
	)
	r := newReloader(func() (*config.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		return config.Load(cfgFile)
	}, exp, tn.HTTPClient(), metrics, logger)
	if err := r.reload(); err != nil {
		t.Fatal(err)
	}
	static := prometheus.NewRegistry()
	static.MustRegister(metrics, r)
	srv := httptest.NewServer(exp.Handler(static, logger))
	defer srv.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(srv.URL)
				if err != nil {
					errs <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				s := stateOf(string(b))
				// op-b comes only with the two-operation config; a refused
				// config never shows.
				if (s.watched == "1") != !strings.Contains(s.ops, "op-b") || (s.watched != "1" && s.watched != "2") {
					errs <- fmt.Sprintf("a scrape mixes configurations: %+v", s)
					return
				}
			}
		}()
	}
	for i := 0; i < 30; i++ {
		good := i%3 != 2
		mu.Lock()
		if err := os.WriteFile(cfgFile, []byte(content[good]), 0o644); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 && good {
			_ = os.WriteFile(cfgFile, []byte(reloadConfig(tn, secret, "op-a")), 0o644)
		}
		mu.Unlock()
		err := r.reload()
		if (err == nil) != good {
			t.Errorf("reload %d: %v, want success %v", i, err, good)
		}
		resp, gerr := http.Get(srv.URL)
		if gerr != nil {
			t.Fatal(gerr)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := map[bool]string{true: "1", false: "0"}[good]; stateOf(string(b)).successful != want {
			t.Errorf("reload %d: msgraph_lro_config_last_reload_successful %q, want %s", i, stateOf(string(b)).successful, want)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Without --web.enable-lifecycle, POST /-/reload is refused with 403 and
// changes nothing: no reload, no token cache dropped, no token request.
// SIGHUP still reloads.
func TestReloadLifecycleOff(t *testing.T) {
	tn := reloadTenant(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", reloadConfig(tn, secret, "op-a"), 0o644)
	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfgFile)
	first := stateOf(x.scrape(t))
	if first.ops != "op-a=1" {
		t.Fatalf("at start: %+v", first)
	}
	tokensBefore := tn.TokenRequests()

	writeFile(t, dir, "msgraph_lro.yml", reloadConfig(tn, secret, "op-b"), 0o644)
	for range 3 {
		code, body := x.post(t, "/-/reload")
		if want := "Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle, or send it SIGHUP.\n"; code != http.StatusForbidden || body != want {
			t.Errorf("POST /-/reload without --web.enable-lifecycle: %d %q; want 403 %q", code, body, want)
		}
	}
	if code, _ := x.get(t, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d, want 405", code)
	}
	time.Sleep(5 * time.Millisecond) // past cache_ttl: a dropped token cache would show
	if s := stateOf(x.scrape(t)); s != first {
		t.Errorf("after refused POSTs: %+v; want the state at start %+v", s, first)
	}
	if n := tn.TokenRequests(); n != tokensBefore {
		t.Errorf("refused POSTs caused %d token requests", n-tokensBefore)
	}
	if n := strings.Count(x.stderr.String(), `msg="configuration loaded"`); n != 1 {
		t.Errorf("configuration loaded %d times, want once (at start)", n)
	}

	if err := x.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	x.waitState(t, "SIGHUP without --web.enable-lifecycle", func(s reloadState) bool { return s.ops == "op-b=1" })
}
