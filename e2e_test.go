//go:build e2e

// The end-to-end test: the exporter against the simulated tenant, scraped
// by a real Prometheus that evaluates examples/alerts.yml and sends to a
// real Alertmanager, which delivers to a webhook inside the test.
//
//	make e2e    # go test -tags e2e -count=1 -v -run TestE2E .
//
// Needs prometheus, promtool and prometheus-alertmanager (or alertmanager)
// in PATH: apt-get install -y prometheus prometheus-alertmanager. Without
// them the test fails and says so; it never skips.
//
// Prometheus runs examples/prometheus.yml and examples/alerts.yml, and
// Alertmanager examples/alertmanager.yml, changed only by the text
// substitutions in prometheusConfig, shortenAlerts and alertmanagerConfig:
// addresses and receivers, scrape and evaluation every second, every `for:`
// of the alert rules cut to 1s (MsgraphLroExporterDown's to
// exporterDownFor), keep_firing_for to keepFiringFor, and Alertmanager's
// group waits to 1s. The thresholds themselves stay as shipped: the
// simulated operations carry timestamps hours old. Last, the exporter is
// killed and started again on its address.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

const installHint = "apt-get install -y prometheus prometheus-alertmanager"

// lookPath finds the first of names in PATH, or fails the test saying how
// to install it.
func lookPath(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found in PATH; install it: %s", strings.Join(names, " or "), installHint)
	return ""
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// substitute replaces each old with its new, failing if an old is missing:
// when an example changes, the test must be told, not silently run the
// example unchanged.
func substitute(t *testing.T, file, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s no longer contains %q: update the e2e substitutions", file, pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

var forClause = regexp.MustCompile(`(?m)^(\s+for: )\d+[smh]\s*$`)

// exporterDownFor is MsgraphLroExporterDown's `for:` in the e2e, and
// keepFiringFor every keep_firing_for: the exporter is killed and started
// again within it.
const (
	exporterDownFor = 5 * time.Second
	keepFiringFor   = 30 * time.Second
)

// shortenAlerts is alerts.yml with every `for:` cut to 1s but
// MsgraphLroExporterDown's, cut to exporterDownFor, and every
// keep_firing_for cut to keepFiringFor.
func shortenAlerts(t *testing.T, rules string) string {
	t.Helper()
	if n := len(forClause.FindAllString(rules, -1)); n != 12 {
		t.Fatalf("alerts.yml has %d `for:` clauses, the e2e expects 12: update shortenAlerts", n)
	}
	rules = forClause.ReplaceAllString(rules, "${1}1s")
	return substitute(t, "examples/alerts.yml", rules,
		"expr: up{job=\"msgraph_lro\"} == 0\n        for: 1s\n", fmt.Sprintf("expr: up{job=\"msgraph_lro\"} == 0\n        for: %s\n", model(exporterDownFor)),
		"keep_firing_for: 10m\n", fmt.Sprintf("keep_firing_for: %s\n", model(keepFiringFor)))
}

// model writes d as Prometheus durations are written.
func model(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Seconds())) }

// alertmanagerConfig is examples/alertmanager.yml delivering to the
// webhook, waiting a second where it would wait minutes.
func alertmanagerConfig(t *testing.T, hookURL string) string {
	t.Helper()
	return substitute(t, "examples/alertmanager.yml", readExample(t, "alertmanager.yml"),
		"http://127.0.0.1:5001/", hookURL+"/",
		"group_wait: 30s", "group_wait: 1s",
		"group_interval: 5m", "group_interval: 1s")
}

// prometheusConfig is examples/prometheus.yml pointed at the exporter and
// Alertmanager, scraping and evaluating every second, its /probe job
// reading targets from sdDir.
func prometheusConfig(t *testing.T, exporterAddr, alertmanagerAddr, sdDir string) string {
	t.Helper()
	return substitute(t, "examples/prometheus.yml", readExample(t, "prometheus.yml"),
		"scrape_interval: 30s", "scrape_interval: 1s",
		"evaluation_interval: 30s", "evaluation_interval: 1s",
		"scrape_timeout: 20s", "scrape_timeout: 1s",
		"'localhost:10071'", "'"+exporterAddr+"'",
		"replacement: localhost:10071", "replacement: "+exporterAddr,
		"[/etc/prometheus/msgraph_lro/*.yml]", "["+filepath.Join(sdDir, "*.yml")+"]",
		"'localhost:9093'", "'"+alertmanagerAddr+"'")
}

// alertRuleNames lists the alerts of alerts.yml.
func alertRuleNames(rules string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s+- alert: (\S+)`).FindAllStringSubmatch(rules, -1) {
		names = append(names, m[1])
	}
	return names
}

// ruleNames lists the rules of alerts.yml, recording and alerting, in order.
func ruleNames(rules string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s+- (?:alert|record): (\S+)`).FindAllStringSubmatch(rules, -1) {
		names = append(names, m[1])
	}
	return names
}

// server is Prometheus or Alertmanager, running.
type server struct {
	name string
	addr string // 127.0.0.1:port
	out  *lockedBuffer
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs bin with args(port) on a free port and waits for its
// /-/ready. Neither server takes port 0, so a port is picked and freed
// first; another process may take it meanwhile, hence the retries.
func startServer(t *testing.T, name, bin string, args func(port int) []string) *server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, portTaken := tryStartServer(t, name, bin, args)
		if s != nil {
			return s
		}
		if !portTaken || attempt == 5 {
			t.Fatalf("%s did not start", name)
		}
	}
}

// tryStartServer is one attempt of startServer: the running server, or
// nil and whether the port was taken (worth another try); other failures
// fail the test.
func tryStartServer(t *testing.T, name, bin string, args func(port int) []string) (*server, bool) {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, args(port)...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			if strings.Contains(out.String(), "address already in use") {
				t.Logf("%s: port %d taken, trying another", name, port)
				return nil, true
			}
			t.Fatalf("%s exited:\n%s", name, out.String())
		default:
		}
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Cleanup(func() {
					stop()
					if t.Failed() {
						t.Logf("%s log:\n%s", name, out.String())
					}
				})
				return &server{name: name, addr: addr, out: out}, false
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("%s not ready within 30s:\n%s", name, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) value() float64 {
	str, _ := s.Value[1].(string)
	f, _ := strconv.ParseFloat(str, 64)
	return f
}

// promAPI reads Prometheus' HTTP API.
type promAPI struct{ base string }

func (p promAPI) get(path string, params url.Values, v any) error {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

// query runs an instant query; a scalar answer counts as one sample.
func (p promAPI) query(q string) ([]promSample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {q}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var v []promSample
		return v, json.Unmarshal(data.Result, &v)
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(data.Result, &s); err != nil {
			return nil, err
		}
		return []promSample{{Value: s}}, nil
	}
	return nil, fmt.Errorf("query %s: result type %s", q, data.ResultType)
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func (p promAPI) alerts() ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := p.get("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// firing reports whether alertname fires with labels including want.
func firing(alerts []promAlert, alertname string, want map[string]string) bool {
	for _, a := range alerts {
		if a.State == "firing" && a.Labels["alertname"] == alertname && hasLabels(a.Labels, want) {
			return true
		}
	}
	return false
}

func hasLabels(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// eventually polls check every 250ms until it holds, or fails the test
// with what check last said.
func eventually(t *testing.T, what string, timeout time.Duration, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// webhookAlert is one alert of Alertmanager's webhook payload.
type webhookAlert struct {
	Receiver    string            `json:"-"` // of the notification that carried it
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// webhook is the receiver Alertmanager delivers to.
type webhook struct {
	t      *testing.T
	mu     sync.Mutex
	alerts []webhookAlert
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var msg struct {
		Receiver string         `json:"receiver"`
		Alerts   []webhookAlert `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range msg.Alerts {
		a.Receiver = msg.Receiver
		w.t.Logf("webhook %q received: %s %s tenant=%q operation_id=%q severity=%q\n    summary: %s\n    description: %s",
			msg.Receiver, a.Status, a.Labels["alertname"], a.Labels["tenant"], a.Labels["operation_id"], a.Labels["severity"],
			a.Annotations["summary"], a.Annotations["description"])
		w.alerts = append(w.alerts, a)
	}
}

// count is how many deliveries of alerts with this status, name and labels
// the webhook received.
func (w *webhook) count(status, alertname string, want map[string]string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.alerts {
		if a.Status == status && a.Labels["alertname"] == alertname && hasLabels(a.Labels, want) {
			n++
		}
	}
	return n
}

// received returns the first delivered alert with this status, name and labels.
func (w *webhook) received(status, alertname string, want map[string]string) (webhookAlert, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.alerts {
		if a.Status == status && a.Labels["alertname"] == alertname && hasLabels(a.Labels, want) {
			return a, true
		}
	}
	return webhookAlert{}, false
}

// amAlert is one alert of Alertmanager's API.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// amAlerts lists Alertmanager's alerts that match every filter
// (`name="value"`), inhibited ones included.
func amAlerts(addr string, filters ...string) ([]amAlert, error) {
	resp, err := http.Get("http://" + addr + "/api/v2/alerts?" + url.Values{"filter": filters}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var as []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		return nil, err
	}
	return as, nil
}

// activeAt is when Prometheus says each firing alert of this name began,
// by operation_id.
func (p promAPI) activeAt(alertname string) (map[string]string, error) {
	var data struct {
		Alerts []struct {
			Labels   map[string]string `json:"labels"`
			State    string            `json:"state"`
			ActiveAt string            `json:"activeAt"`
		} `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == alertname && a.State == "firing" {
			m[a.Labels["operation_id"]] = a.ActiveAt
		}
	}
	return m, nil
}

// e2eOp is one operation of the simulated tenant.
type e2eOp struct {
	tenant string
	cfg    string         // its entry under operations:
	path   string         // where graphtest serves it ("" = nowhere: 404)
	id     string         // operation_id label
	fields map[string]any // its JSON
	status string         // the status the exporter must show ("" = never read)
}

// e2eConfig is the exporter's config: contoso with the right secret and
// the delegated sign-in given, fabrikam with a wrong secret.
func e2eConfig(tn *graphtest.Tenant, secret, wrongSecret, delegated string, ops []e2eOp, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sglobal:\n  cache_ttl: 500ms\n  terminal_cache_ttl: 500ms\n  request_timeout: 2s\ntenants:\n", extra)
	for _, tt := range []struct{ name, secret string }{{"contoso", secret}, {"fabrikam", wrongSecret}} {
		fmt.Fprintf(&b, "  - name: %s\n    tenant_id: %s\n    client_id: %s\n    client_secret_file: %s\n    authority_host: %s\n    disable_instance_discovery: true\n    graph_endpoint: %s\n",
			tt.name, tn.TenantID, tn.ClientID, tt.secret, tn.AuthorityHost, tn.GraphEndpoint)
		if tt.name == "contoso" {
			b.WriteString(delegated)
		}
	}
	b.WriteString("operations:\n")
	for _, o := range ops {
		fmt.Fprintf(&b, "  - {tenant: %s, %s}\n", o.tenant, o.cfg)
	}
	return b.String()
}

// TestE2EExamples checks what the e2e run cannot see: the threshold index
// at the top of alerts.yml, the scrape config with its /probe job, and the
// dashboard's variables.
func TestE2EExamples(t *testing.T) {
	promtool := lookPath(t, "promtool")
	rules := readExample(t, "alerts.yml")
	lines := strings.Split(rules, "\n")
	index := regexp.MustCompile(`^#   lines?\s+([\d,]+)\s+(MsgraphLro\w+)\s+(.+?)\s{2,}`)
	seen := map[string]bool{}
	for _, l := range lines {
		m := index.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		seen[m[2]] = true
		what := strings.TrimPrefix(m[3], "for: ")
		for _, n := range strings.Split(m[1], ",") {
			i, _ := strconv.Atoi(n)
			if i < 1 || i > len(lines) || !strings.Contains(lines[i-1], what) || strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
				t.Errorf("alerts.yml header: %q says line %d holds %q; it holds %q", strings.TrimSpace(l), i, what, lines[max(0, min(i, len(lines))-1)])
				continue
			}
			// The line must belong to the named alert: the nearest alert above it.
			for j := i - 1; j >= 0; j-- {
				if a := strings.TrimPrefix(strings.TrimSpace(lines[j]), "- alert: "); a != strings.TrimSpace(lines[j]) {
					if a != m[2] {
						t.Errorf("alerts.yml header: line %d belongs to %s, not %s", i, a, m[2])
					}
					break
				}
			}
		}
	}
	for _, a := range alertRuleNames(rules) {
		if !seen[a] {
			t.Errorf("alerts.yml header lists no threshold of %s", a)
		}
	}

	// The annotated exporter config is valid, given its secret file.
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", "an-example-secret", 0o600)
	example := writeFile(t, dir, "msgraph_lro.yml",
		substitute(t, "examples/msgraph_lro.yml", readExample(t, "msgraph_lro.yml"),
			"client_secret_file: /run/secrets/msgraph ", "client_secret_file: "+secret+" ",
			"token_cache_file: /var/lib/msgraph_lro/contoso-cache.json ", "token_cache_file: "+filepath.Join(dir, "contoso-cache.json")+" "), 0o644)
	if out, err := exec.Command(binary(t), "--config.check", "--config.file="+example).CombinedOutput(); err != nil {
		t.Errorf("examples/msgraph_lro.yml: --config.check: %v\n%s", err, out)
	}

	// The scrape config, /probe job included, is valid.
	prom := readExample(t, "prometheus.yml")
	if !strings.Contains(prom, "  - job_name: msgraph_lro_probe\n    metrics_path: /probe\n") {
		t.Error("examples/prometheus.yml has no /probe job")
	}
	writeFile(t, dir, "alerts.yml", rules, 0o644)
	cfg := writeFile(t, dir, "prometheus.yml", prom, 0o644)
	if out, err := exec.Command(promtool, "check", "config", cfg).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}

	var dash struct {
		SchemaVersion int `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Name, Type string
				Query      any
			} `json:"list"`
		} `json:"templating"`
	}
	raw := readExample(t, "grafana-dashboard.json")
	if err := json.Unmarshal([]byte(raw), &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["tenant"] != "query" || vars["scope"] != "query" {
		t.Errorf("dashboard variables: %v; want datasource (datasource), tenant and scope (query)", vars)
	}
	if dash.SchemaVersion < 38 {
		t.Errorf("dashboard schemaVersion %d: Grafana 10 writes 38 or later", dash.SchemaVersion)
	}
	var panels []any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ds, ok := x["datasource"].(map[string]any); ok && ds["type"] == "prometheus" && ds["uid"] != "${datasource}" {
				t.Errorf("dashboard: a datasource is %v, not the ${datasource} variable", ds)
			}
			if _, ok := x["gridPos"]; ok {
				panels = append(panels, x)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var whole any
	_ = json.Unmarshal([]byte(raw), &whole)
	walk(whole)
	if len(panels) == 0 {
		t.Error("dashboard has no panels")
	}
}

// dashboardQueries lists every PromQL expression of the dashboard and
// every label_values() of its variables.
func dashboardQueries(t *testing.T) (exprs []string, labelValues [][2]string) {
	t.Helper()
	var whole any
	if err := json.Unmarshal([]byte(readExample(t, "grafana-dashboard.json")), &whole); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, inTemplating bool)
	lv := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	walk = func(v any, inTemplating bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok {
					switch {
					case k == "expr":
						exprs = append(exprs, s)
					case inTemplating && k == "definition" && strings.HasPrefix(s, "label_values("):
						m := lv.FindStringSubmatch(s)
						if m == nil {
							t.Fatalf("dashboard variable query %q: cannot read", s)
						}
						labelValues = append(labelValues, [2]string{m[1], m[2]})
					}
				}
				walk(e, inTemplating || k == "templating")
			}
		case []any:
			for _, e := range x {
				walk(e, inTemplating)
			}
		}
	}
	walk(whole, false)
	return exprs, labelValues
}

// grafanaVars stands in for Grafana: every tenant and scope, a minute for
// the interval variables.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m", "${__rate_interval}", "1m",
	"$__interval", "1m", "${__interval}", "1m",
	"$__range", "1m", "${__range}", "1m",
	"$tenant", ".*", "${tenant}", ".*",
	"$scope", ".*", "${scope}", ".*",
)

func TestE2E(t *testing.T) {
	began := time.Now()
	promBin := lookPath(t, "prometheus")
	amBin := lookPath(t, "prometheus-alertmanager", "alertmanager")
	lookPath(t, "promtool")

	// The simulated tenant. contoso has the right secret; fabrikam, on the
	// same simulated tenant, a wrong one, so its token requests fail.
	tn := graphtest.NewTenant(t)
	now := time.Now()
	ago := func(d time.Duration) string { return now.Add(-d).UTC().Format("2006-01-02T15:04:05.0000000Z") }
	opFields := func(id, status string, created, last time.Duration, extra map[string]any) map[string]any {
		m := map[string]any{"id": id, "status": status, "createdDateTime": ago(created), "lastActionDateTime": ago(last),
			"resourceLocation": nil, "statusDetail": nil}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	const (
		failedID   = "9f1c6d2e-8a47-4b3f-9e05-1d2c3b4a5f60"
		failedText = "The password does not meet the tenant's complexity requirements."
		stuckID    = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"
		queuedID   = "5e0b7c3a-9d21-4f8e-a6b4-3c2d1e0f9a8b"
		doneID     = "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"
		goneID     = "404-nobody-home"
		throttleID = "a41f2b6c-7d80-4e9a-b3c5-d6e7f8091a2b"
		addedID    = "c0ffee00-1111-4222-8333-444455556666"
		site       = "contoso.sharepoint.com,2c712a2f-f0a6-4b1b-8b25-7a1f6b0f1c4e,8b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
		copyID     = "copy,8f3e2d1c-0b9a-4876-a5b4-c3d2e1f0a9b8"
		backupID   = "3e1f0a9b-8c7d-4e5f-a6b7-c8d9e0f1a2b3"
		probedID   = "0d0e0f10-2a3b-4c5d-8e9f-a0b1c2d3e4f5"
	)
	ref := func(scope, id string) string { return graph.OperationRef{Scope: scope, ID: id}.URLPath() }
	failedPath := graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: "alice@contoso.com", ID: failedID}.URLPath()
	copyPath := graph.OperationRef{Scope: graph.ScopeSites, Site: site, ID: copyID}.URLPath()
	backupPath := "/v1.0/solutions/backupRestore/operations/" + backupID
	ops := []e2eOp{
		{tenant: "contoso", cfg: `scope: authenticationMethods, user: alice@contoso.com, id: ` + failedID + `, name: alice-password-reset, labels: {team: helpdesk}`,
			path: failedPath, id: failedID, status: graph.StatusFailed,
			fields: opFields(failedID, "failed", 12*time.Minute, 10*time.Minute, map[string]any{"statusDetail": failedText})},
		{tenant: "contoso", cfg: `scope: roleManagementAlerts, id: "` + stuckID + `", name: stale-sign-in-refresh, labels: {team: identity}`,
			path: ref(graph.ScopeRoleManagementAlerts, stuckID), id: stuckID, status: graph.StatusRunning,
			fields: opFields(stuckID, "running", 6*time.Hour, 5*time.Hour, nil)},
		{tenant: "contoso", cfg: `scope: industryData, id: ` + queuedID + `, name: sis-import-queued, labels: {team: education}`,
			path: ref(graph.ScopeIndustryData, queuedID), id: queuedID, status: graph.StatusNotStarted,
			fields: opFields(queuedID, "notStarted", 3*time.Hour, 3*time.Hour, nil)},
		{tenant: "contoso", cfg: `scope: industryData, id: ` + doneID + `, name: sis-import-nightly, labels: {team: education}`,
			path: ref(graph.ScopeIndustryData, doneID), id: doneID, status: graph.StatusSucceeded,
			fields: opFields(doneID, "succeeded", 9*time.Hour, 8*time.Hour, map[string]any{"errors": []any{}, // a file validation: warnings, no errors
				"warnings": []any{map[string]any{"code": "OptionalFileNotFound", "target": "classes.csv"}}})},
		{tenant: "contoso", cfg: `scope: sites, site: "` + site + `", id: "` + copyID + `", name: contenttype-copy, labels: {team: sharepoint}`,
			path: copyPath, id: copyID, status: graph.StatusRunning,
			fields: opFields(copyID, "running", 2*time.Minute, 0, map[string]any{"percentageComplete": 40, "type": "contentTypeCopy"})},
		{tenant: "contoso", cfg: `url: "` + backupPath + `", name: backup-restore`,
			path: backupPath, id: backupID, status: graph.StatusUnknownFutureValue,
			fields: opFields(backupID, "cancelled", 10*time.Minute, time.Minute, nil)},
		{tenant: "contoso", cfg: `scope: industryData, id: ` + goneID, id: goneID},
		{tenant: "contoso", cfg: `scope: industryData, id: ` + throttleID + `, name: sis-import-hourly`,
			path: ref(graph.ScopeIndustryData, throttleID), id: throttleID,
			fields: opFields(throttleID, "running", time.Minute, 0, nil)},
		{tenant: "fabrikam", cfg: `scope: industryData, id: ` + queuedID + `, name: fabrikam-import`, id: queuedID},
	}
	for _, o := range ops {
		if o.fields != nil {
			tn.SetOperation(o.path, o.fields)
		}
	}
	tn.Inject(ref(graph.ScopeIndustryData, throttleID), graphtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	added := e2eOp{tenant: "contoso", cfg: `scope: industryData, id: ` + addedID + `, name: sis-import-added`,
		path: ref(graph.ScopeIndustryData, addedID), id: addedID, status: graph.StatusRunning,
		fields: opFields(addedID, "running", time.Minute, 0, nil)}
	tn.SetOperation(added.path, added.fields)
	tn.SetOperation(ref(graph.ScopeIndustryData, probedID), opFields(probedID, "succeeded", 2*time.Hour, time.Hour, nil))

	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret+"\n", 0o600)
	wrong := writeFile(t, dir, "wrong-secret", "not-the-secret\n", 0o600)
	// alice's password reset is read with a reader's sign-in. Tokens shorter
	// than MSAL's 5-minute margin are refreshed at every use, so that the
	// revocation below takes effect at once.
	tn.SetTokenLifetime(4 * time.Minute)
	delegated := signedIn(t, tn, dir)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", e2eConfig(tn, secret, wrong, delegated, ops, ""), 0o644)

	// The webhook first, so that its cleanup runs last, after Alertmanager's.
	hook := &webhook{t: t}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)

	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfgFile, "--web.enable-lifecycle")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exporter log:\n%s", x.stderr.String())
		}
	})
	exporterAddr := strings.TrimPrefix(x.url, "http://")

	amDir := t.TempDir()
	amCfg := writeFile(t, amDir, "alertmanager.yml", alertmanagerConfig(t, hookSrv.URL), 0o644)
	am := startServer(t, "alertmanager", amBin, func(port int) []string {
		return []string{"--config.file=" + amCfg, "--storage.path=" + filepath.Join(amDir, "data"),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address="}
	})

	rules := readExample(t, "alerts.yml")
	promDir := t.TempDir()
	writeFile(t, promDir, "alerts.yml", shortenAlerts(t, rules), 0o644)
	// The /probe job's service discovery names one operation that no
	// config lists.
	sdDir := filepath.Join(promDir, "sd")
	if err := os.Mkdir(sdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sdDir, "operations.yml", `- targets: ["`+probedID+`"]
  labels: {__param_tenant: contoso, __param_scope: industryData}
`, 0o644)
	promCfg := writeFile(t, promDir, "prometheus.yml", prometheusConfig(t, exporterAddr, am.addr, sdDir), 0o644)
	prom := startServer(t, "prometheus", promBin, func(port int) []string {
		return []string{"--config.file=" + promCfg, "--storage.tsdb.path=" + filepath.Join(promDir, "data"),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)}
	})
	api := promAPI{base: "http://" + prom.addr}
	t.Logf("exporter %s, prometheus %s, alertmanager %s, webhook %s (%.1fs)", exporterAddr, prom.addr, am.addr, hookSrv.URL, time.Since(began).Seconds())

	t.Run("target up", func(t *testing.T) {
		eventually(t, "exporter target up", 20*time.Second, func() (bool, string) {
			var data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			}
			if err := api.get("/api/v1/targets", nil, &data); err != nil {
				return false, err.Error()
			}
			for _, tg := range data.ActiveTargets {
				if tg.Labels["job"] == "msgraph_lro" && tg.Labels["instance"] == exporterAddr {
					return tg.Health == "up", fmt.Sprintf("health %q, last error %q", tg.Health, tg.LastError)
				}
			}
			return false, fmt.Sprintf("no msgraph_lro target among %d", len(data.ActiveTargets))
		})
	})

	t.Run("every status of every operation", func(t *testing.T) {
		for _, o := range ops {
			sel := fmt.Sprintf(`tenant=%q,operation_id=%q`, o.tenant, o.id)
			wantUp := "1"
			if o.status == "" {
				wantUp = "0"
			}
			eventually(t, "status of "+sel, 20*time.Second, func() (bool, string) {
				up, err := api.query("msgraph_lro_up{" + sel + "}")
				if err != nil || len(up) != 1 || up[0].Value[1] != wantUp {
					return false, fmt.Sprintf("msgraph_lro_up: %v %v, want %s", up, err, wantUp)
				}
				st, err := api.query("msgraph_lro_status{" + sel + "}")
				if err != nil {
					return false, err.Error()
				}
				if o.status == "" {
					return len(st) == 0, fmt.Sprintf("never read, yet has status series %v", st)
				}
				got := map[string]float64{}
				for _, s := range st {
					got[s.Metric["status"]] = s.value()
				}
				for _, s := range statuses {
					want := 0.0
					if s == o.status {
						want = 1
					}
					if v, ok := got[s]; !ok || v != want || len(got) != len(statuses) {
						return false, fmt.Sprintf("msgraph_lro_status: %v, want %s 1 and the other four 0", got, o.status)
					}
				}
				return true, ""
			})
		}
	})

	t.Run("probe job from service discovery", func(t *testing.T) {
		sel := `job="msgraph_lro_probe",instance="` + probedID + `"`
		eventually(t, "probe of "+probedID, 20*time.Second, func() (bool, string) {
			ok, err := api.query("msgraph_lro_probe_success{" + sel + "}")
			if err != nil || len(ok) != 1 || ok[0].Value[1] != "1" {
				return false, fmt.Sprintf("msgraph_lro_probe_success: %v %v", ok, err)
			}
			st, err := api.query(`msgraph_lro_status{` + sel + `,tenant="contoso",scope="industryData",operation_id="` + probedID + `",status="succeeded"}`)
			return err == nil && len(st) == 1 && st[0].Value[1] == "1", fmt.Sprintf("msgraph_lro_status: %v %v", st, err)
		})
	})

	t.Run("rules loaded and healthy", func(t *testing.T) {
		want := ruleNames(rules)
		eventually(t, "rules of alerts.yml healthy", 20*time.Second, func() (bool, string) {
			var data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					} `json:"rules"`
				} `json:"groups"`
			}
			if err := api.get("/api/v1/rules", nil, &data); err != nil {
				return false, err.Error()
			}
			var got []string
			for _, g := range data.Groups {
				for _, r := range g.Rules {
					if r.Health != "ok" {
						return false, fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
					}
					got = append(got, r.Name)
				}
			}
			return strings.Join(got, " ") == strings.Join(want, " "), fmt.Sprintf("rules %v, want %v", got, want)
		})
	})

	t.Run("alerts fire", func(t *testing.T) {
		expect := []struct {
			alert  string
			labels map[string]string
		}{
			{"MsgraphLroOperationFailed", map[string]string{"operation_id": failedID, "severity": "warning"}},
			{"MsgraphLroOperationStuck", map[string]string{"operation_id": stuckID, "status": "running", "severity": "critical"}},
			{"MsgraphLroOperationNotStarted", map[string]string{"tenant": "contoso", "operation_id": queuedID}},
			{"MsgraphLroOperationUnreadable", map[string]string{"operation_id": goneID}},
			{"MsgraphLroOperationUnreadable", map[string]string{"operation_id": throttleID}},
			{"MsgraphLroOperationUnreadable", map[string]string{"tenant": "fabrikam"}},
			{"MsgraphLroGraphThrottled", map[string]string{"tenant": "contoso"}},
			{"MsgraphLroTokenFailing", map[string]string{"tenant": "fabrikam", "severity": "critical"}},
		}
		eventually(t, "alerts firing in Prometheus", 30*time.Second, func() (bool, string) {
			alerts, err := api.alerts()
			if err != nil {
				return false, err.Error()
			}
			for _, e := range expect {
				if !firing(alerts, e.alert, e.labels) {
					return false, fmt.Sprintf("%s %v not firing; alerts: %v", e.alert, e.labels, alerts)
				}
			}
			return true, ""
		})
		alerts, _ := api.alerts()
		for _, a := range alerts {
			switch name, id := a.Labels["alertname"], a.Labels["operation_id"]; {
			case name == "MsgraphLroOperationFailed" && id != failedID,
				name == "MsgraphLroOperationStuck" && id != stuckID,
				name == "MsgraphLroOperationNotStarted" && id != queuedID,
				name == "MsgraphLroGraphThrottled" && a.Labels["tenant"] != "contoso",
				name == "MsgraphLroTokenFailing" && a.Labels["tenant"] != "fabrikam",
				name == "MsgraphLroConfigReloadFailed":
				t.Errorf("%s fires for what it should not: %v", name, a.Labels)
			}
		}
	})

	t.Run("failed operation reaches the webhook", func(t *testing.T) {
		var got webhookAlert
		eventually(t, "MsgraphLroOperationFailed delivered", 30*time.Second, func() (bool, string) {
			var ok bool
			got, ok = hook.received("firing", "MsgraphLroOperationFailed", map[string]string{"operation_id": failedID})
			return ok, "not delivered yet"
		})
		if want := "Graph operation alice-password-reset failed (tenant contoso)"; got.Annotations["summary"] != want {
			t.Errorf("summary %q, want %q", got.Annotations["summary"], want)
		}
		if got.Receiver != "msgraph-lro-ticket" {
			t.Errorf("a warning went to %q, want msgraph-lro-ticket", got.Receiver)
		}
		if d := got.Annotations["description"]; !strings.Contains(d, failedText) || !regexp.MustCompile(`failed 1\dm \d+s ago`).MatchString(d) {
			t.Errorf("description %q lacks the status detail or the time since the failure", d)
		}
		t.Logf("MsgraphLroOperationFailed delivered to the webhook %.1fs after the start", time.Since(began).Seconds())
	})

	t.Run("dashboard queries return data", func(t *testing.T) {
		exprs, labelValues := dashboardQueries(t)
		if len(exprs) < 10 {
			t.Fatalf("dashboard has %d expressions", len(exprs))
		}
		dollar := regexp.MustCompile(`\$\{?\w+`)
		for _, e := range exprs {
			q := grafanaVars.Replace(e)
			if v := dollar.FindString(q); v != "" {
				t.Errorf("dashboard expression uses %s, which the e2e does not know:\n%s", v, e)
				continue
			}
			eventually(t, "dashboard expression", 20*time.Second, func() (bool, string) {
				res, err := api.query(q)
				if err != nil {
					return false, fmt.Sprintf("%v\n%s", err, q)
				}
				if len(res) == 0 {
					return false, "no data:\n" + q
				}
				if strings.Contains(e, "group_left(status_detail)") {
					for _, s := range res {
						if s.Metric["operation_id"] == failedID && s.Metric["status_detail"] == failedText {
							return true, ""
						}
					}
					return false, fmt.Sprintf("the failed operation is not in %v", res)
				}
				return true, ""
			})
		}
		for _, lv := range labelValues {
			sel := grafanaVars.Replace(lv[0])
			var values []string
			if err := api.get("/api/v1/label/"+lv[1]+"/values", url.Values{"match[]": {sel}}, &values); err != nil || len(values) == 0 {
				t.Errorf("dashboard variable label_values(%s, %s): %v %v", lv[0], lv[1], values, err)
			}
		}
		t.Logf("%d dashboard expressions and %d variables return data", len(exprs), len(labelValues))
	})

	t.Run("routes and inhibitions of alertmanager.yml", func(t *testing.T) {
		var got webhookAlert
		eventually(t, "MsgraphLroTokenFailing delivered", 30*time.Second, func() (bool, string) {
			var ok bool
			got, ok = hook.received("firing", "MsgraphLroTokenFailing", map[string]string{"tenant": "fabrikam"})
			return ok, "not delivered yet"
		})
		if got.Receiver != "msgraph-lro-pager" {
			t.Errorf("a critical alert went to %q, want msgraph-lro-pager", got.Receiver)
		}
		// fabrikam's operation cannot be read, for want of a token: the
		// token alert holds it back.
		eventually(t, "MsgraphLroOperationUnreadable of fabrikam inhibited", 20*time.Second, func() (bool, string) {
			as, err := amAlerts(am.addr, `alertname="MsgraphLroOperationUnreadable"`, `tenant="fabrikam"`)
			if err != nil || len(as) != 1 {
				return false, fmt.Sprintf("%v %v", as, err)
			}
			return as[0].Status.State == "suppressed" && len(as[0].Status.InhibitedBy) == 1, fmt.Sprintf("%+v", as[0].Status)
		})
	})

	t.Run("stuck operation that succeeds resolves", func(t *testing.T) {
		tn.SetStatus(ref(graph.ScopeRoleManagementAlerts, stuckID), graph.StatusSucceeded)
		eventually(t, "MsgraphLroOperationStuck resolved", 30*time.Second+keepFiringFor, func() (bool, string) {
			alerts, err := api.alerts()
			if err != nil {
				return false, err.Error()
			}
			if firing(alerts, "MsgraphLroOperationStuck", map[string]string{"operation_id": stuckID}) {
				return false, "still firing"
			}
			_, ok := hook.received("resolved", "MsgraphLroOperationStuck", map[string]string{"operation_id": stuckID})
			return ok, "resolution not delivered yet"
		})
	})

	count := func(q string) (int, error) {
		res, err := api.query(q)
		return len(res), err
	}

	// The reloaded config drops the succeeded import and adds another.
	var reloaded []e2eOp
	for _, o := range ops {
		if o.id != doneID {
			reloaded = append(reloaded, o)
		}
	}
	reloaded = append(reloaded, added)

	t.Run("reload changes the watched operations", func(t *testing.T) {
		writeFile(t, dir, "msgraph_lro.yml", e2eConfig(tn, secret, wrong, delegated, reloaded, ""), 0o644)
		if code, body := x.post(t, "/-/reload"); code != http.StatusOK {
			t.Fatalf("POST /-/reload: %d %s", code, body)
		}
		eventually(t, "the reload seen through Prometheus", 20*time.Second, func() (bool, string) {
			n, err := count(fmt.Sprintf(`msgraph_lro_status{operation_id=%q,status="running"} == 1`, addedID))
			if err != nil || n != 1 {
				return false, fmt.Sprintf("added operation: %d series, %v", n, err)
			}
			if n, err := count(fmt.Sprintf(`msgraph_lro_up{operation_id=%q}`, doneID)); err != nil || n != 0 {
				return false, fmt.Sprintf("removed operation: still %d series, %v", n, err)
			}
			res, err := api.query(`msgraph_lro_operations{tenant="contoso",source="config"}`)
			if err != nil || len(res) != 1 || res[0].value() != 8 {
				return false, fmt.Sprintf("msgraph_lro_operations: %v %v, want 8", res, err)
			}
			return true, ""
		})
	})

	t.Run("bad reload keeps the old operations", func(t *testing.T) {
		writeFile(t, dir, "msgraph_lro.yml", e2eConfig(tn, secret, wrong, delegated, ops[:1], "unknown_key: 1\n"), 0o644)
		code, body := x.post(t, "/-/reload")
		if code != http.StatusInternalServerError || !strings.Contains(body, "unknown_key") {
			t.Fatalf("POST /-/reload with a bad config: %d %q; want 500 naming unknown_key", code, body)
		}
		eventually(t, "the refused reload seen through Prometheus", 20*time.Second, func() (bool, string) {
			res, err := api.query(`msgraph_lro_config_last_reload_successful`)
			if err != nil || len(res) != 1 || res[0].value() != 0 {
				return false, fmt.Sprintf("msgraph_lro_config_last_reload_successful: %v %v, want 0", res, err)
			}
			if n, err := count(fmt.Sprintf(`msgraph_lro_up{operation_id=%q} == 1`, addedID)); err != nil || n != 1 {
				return false, fmt.Sprintf("the operation of the config in use is gone: %d, %v", n, err)
			}
			if n, err := count(`msgraph_lro_up{job="msgraph_lro"}`); err != nil || n != len(reloaded) {
				return false, fmt.Sprintf("%d operations served, want the %d of the config in use: %v", n, len(reloaded), err)
			}
			return true, ""
		})
		eventually(t, "MsgraphLroConfigReloadFailed delivered", 30*time.Second, func() (bool, string) {
			_, ok := hook.received("firing", "MsgraphLroConfigReloadFailed", map[string]string{"instance": exporterAddr})
			return ok, "not delivered yet"
		})
	})

	// The reader's sessions are revoked (a password reset, say): the alert
	// for the sign-in reaches Alertmanager, and holds back the Unreadable
	// alert of the password reset it can no longer read.
	t.Run("revoked delegated sign-in alerts once for the tenant", func(t *testing.T) {
		tn.RevokeSignIns(reader)
		eventually(t, "MsgraphLroDelegatedSignInRequired delivered", 30*time.Second, func() (bool, string) {
			_, ok := hook.received("firing", "MsgraphLroDelegatedSignInRequired", map[string]string{"tenant": "contoso"})
			return ok, "not delivered yet"
		})
		eventually(t, "MsgraphLroOperationUnreadable of the password reset inhibited", 30*time.Second, func() (bool, string) {
			as, err := amAlerts(am.addr, `alertname="MsgraphLroOperationUnreadable"`, `operation_id="`+failedID+`"`)
			if err != nil || len(as) != 1 {
				return false, fmt.Sprintf("%v %v", as, err)
			}
			return as[0].Status.State == "suppressed" && len(as[0].Status.InhibitedBy) == 1, fmt.Sprintf("%+v", as[0].Status)
		})
		if !strings.Contains(x.stderr.String(), "sign in again with: msgraph_lro_exporter login --config.file="+cfgFile+" --tenant=contoso") {
			t.Errorf("the exporter's log lacks the login command:\n%s", x.stderr.String())
		}
		// A new sign-in mends it, with no reload.
		signedIn(t, tn, dir)
		eventually(t, "MsgraphLroDelegatedSignInRequired resolved", 30*time.Second, func() (bool, string) {
			_, ok := hook.received("resolved", "MsgraphLroDelegatedSignInRequired", map[string]string{"tenant": "contoso"})
			return ok, "resolution not delivered yet"
		})
	})

	// The exporter dies (SIGKILL, as the OOM killer would) and comes back
	// on the same address within keep_firing_for, as in a rollout.
	restarted := x
	t.Run("exporter killed and restarted", func(t *testing.T) {
		writeFile(t, dir, "msgraph_lro.yml", e2eConfig(tn, secret, wrong, delegated, reloaded, ""), 0o644) // the bad one would not start
		kept := map[string]string{"MsgraphLroOperationFailed": failedID, "MsgraphLroOperationNotStarted": queuedID}
		before := map[string]string{}
		delivered := map[string]int{}
		for name, id := range kept {
			at, err := api.activeAt(name)
			if err != nil || at[id] == "" {
				t.Fatalf("%s of %s not firing before the kill: %v %v", name, id, at, err)
			}
			before[name] = at[id]
			delivered[name] = hook.count("firing", name, map[string]string{"operation_id": id})
		}

		if err := x.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-x.done
		killed := time.Now()
		var down webhookAlert
		eventually(t, "MsgraphLroExporterDown delivered", exporterDownFor+15*time.Second, func() (bool, string) {
			var ok bool
			down, ok = hook.received("firing", "MsgraphLroExporterDown", map[string]string{"instance": exporterAddr})
			return ok, "not delivered yet"
		})
		took := time.Since(killed)
		t.Logf("MsgraphLroExporterDown delivered to %s %.1fs after the kill (for: %s)", down.Receiver, took.Seconds(), exporterDownFor)
		if took < exporterDownFor {
			t.Errorf("MsgraphLroExporterDown delivered %.1fs after the kill, before its for: of %s", took.Seconds(), exporterDownFor)
		}
		if down.Receiver != "msgraph-lro-pager" || down.Labels["severity"] != "critical" {
			t.Errorf("MsgraphLroExporterDown went to %q with severity %q; want msgraph-lro-pager, critical", down.Receiver, down.Labels["severity"])
		}
		// Meanwhile the operation alerts still fire in Prometheus, and
		// Alertmanager holds them back.
		for name, id := range kept {
			at, err := api.activeAt(name)
			if err != nil || at[id] != before[name] {
				t.Errorf("%s of %s while the exporter is down: active since %q (%v), want %q", name, id, at[id], err, before[name])
			}
			eventually(t, name+" inhibited", 10*time.Second, func() (bool, string) {
				as, err := amAlerts(am.addr, `alertname="`+name+`"`, `operation_id="`+id+`"`)
				if err != nil || len(as) != 1 {
					return false, fmt.Sprintf("%v %v", as, err)
				}
				return as[0].Status.State == "suppressed", fmt.Sprintf("%+v", as[0].Status)
			})
		}

		restarted = start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--web.listen-address="+exporterAddr, "--config.file="+cfgFile, "--web.enable-lifecycle")
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("restarted exporter's log:\n%s", restarted.stderr.String())
			}
		})
		t.Logf("exporter back %.1fs after the kill (keep_firing_for: %s)", time.Since(killed).Seconds(), keepFiringFor)
		eventually(t, "MsgraphLroExporterDown resolved", 20*time.Second, func() (bool, string) {
			_, ok := hook.received("resolved", "MsgraphLroExporterDown", map[string]string{"instance": exporterAddr})
			return ok, "resolution not delivered yet"
		})
		// The operations are read again; their alerts go on as they were.
		eventually(t, "operations read again", 20*time.Second, func() (bool, string) {
			n, err := count(fmt.Sprintf(`msgraph_lro_status{job="msgraph_lro",operation_id=%q,status="failed"} == 1`, failedID))
			return err == nil && n == 1, fmt.Sprintf("%d %v", n, err)
		})
		time.Sleep(3 * time.Second) // a few evaluations and Alertmanager flushes
		for name, id := range kept {
			at, err := api.activeAt(name)
			if err != nil || at[id] != before[name] {
				t.Errorf("%s of %s after the restart: active since %q (%v), want %q: it started again", name, id, at[id], err, before[name])
			}
			if n := hook.count("resolved", name, map[string]string{"operation_id": id}); n != 0 {
				t.Errorf("%s of %s: resolved across the restart (%d notifications)", name, id, n)
			}
			if n := hook.count("firing", name, map[string]string{"operation_id": id}); n != delivered[name] {
				t.Errorf("%s of %s: delivered %d times after the restart, %d before: it paged again", name, id, n, delivered[name])
			}
		}
	})

	if strings.Contains(x.stderr.String()+restarted.stderr.String(), tn.ClientSecret) {
		t.Error("the exporter's log holds the client secret")
	}
	if !strings.Contains(x.stderr.String(), "configuration refused") {
		t.Error("the exporter did not log the refused configuration")
	}
	t.Logf("end to end in %.1fs", time.Since(began).Seconds())
}
