package collector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-kit/log"
)

func probeGet(t *testing.T, e *env, query string) (int, string) {
	t.Helper()
	srv := httptest.NewServer(e.exp.ProbeHandler(log.NewNopLogger()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/probe?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /probe answers for one operation, from the same cache as /metrics.
func TestProbeOneOperation(t *testing.T) {
	// bob's password reset gives the tenant its delegated sign-in; alice's
	// is probed below without being watched.
	e := newEnv(t, "", `{scope: industryData, id: `+importID+`}`, `{scope: authenticationMethods, user: bob@contoso.com, id: 7c2a}`)
	seedTenant(e.tenant)
	e.collect() // /metrics fetched it
	before := e.tenant.Requests()
	code, body := probeGet(t, e, "tenant=contoso&scope=industryData&id="+importID)
	if code != 200 {
		t.Fatalf("probe: %d %s", code, body)
	}
	if got := e.tenant.Requests() - before; got != 0 {
		t.Errorf("probing a watched operation sent %d requests; it is cached", got)
	}
	lbl := `name="",operation_id="` + importID + `",scope="industryData",tenant="contoso"`
	for _, want := range []string{
		"msgraph_lro_probe_success 1\n",
		`msgraph_lro_status{` + strings.Replace(lbl, `tenant=`, `status="succeeded",tenant=`, 1) + "} 1\n",
		"msgraph_lro_up{" + lbl + "} 1\n",
		"# TYPE msgraph_lro_probe_duration_seconds gauge\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("probe output lacks %q:\n%s", want, body)
		}
	}

	// An operation nobody watches: fetched, with the user it needs.
	code, body = probeGet(t, e, "tenant=contoso&scope=authenticationMethods&user=alice%40contoso.com&id="+resetID)
	if code != 200 || !strings.Contains(body, "msgraph_lro_probe_success 1\n") || e.tenant.RequestsFor(resetPath) != 1 {
		t.Errorf("probe of an unwatched operation: %d, %d requests\n%s", code, e.tenant.RequestsFor(resetPath), body)
	}
	// One Graph has never heard of: probe_success 0, and the scrape answers.
	code, body = probeGet(t, e, "tenant=contoso&scope=industryData&id=nope")
	if code != 200 || !strings.Contains(body, "msgraph_lro_probe_success 0\n") {
		t.Errorf("probe of a missing operation: %d\n%s", code, body)
	}
}

// Every bad input is refused with 400 and a one-line reason, and nothing
// reaches Graph.
func TestProbeRefusesBadInput(t *testing.T) {
	e := newEnv(t, "")
	long := strings.Repeat("x", 513)
	for query, want := range map[string]string{
		"": "missing parameter tenant",
		"tenant=fabrikam&scope=industryData&id=x":                                           `unknown tenant "fabrikam"`,
		"tenant=contoso&id=x":                                                               "missing parameter scope",
		"tenant=contoso&scope=users&id=x":                                                   `unknown scope "users"; one of roleManagementAlerts, authenticationMethods, industryData, sites, siteLists, teams, searchConnections, ediscovery, attackSimulation, onenote, print, engagement`,
		"tenant=contoso&scope=custom&id=x":                                                  `unknown scope "custom"; one of roleManagementAlerts, authenticationMethods, industryData, sites, siteLists, teams, searchConnections, ediscovery, attackSimulation, onenote, print, engagement`,
		"tenant=contoso&scope=industryData":                                                 "missing parameter id",
		"tenant=contoso&scope=industryData&id=a/b":                                          `parameter id must not contain "/" or "\"`,
		"tenant=contoso&scope=industryData&id=..":                                           `parameter id must not be "." or ".."`,
		"tenant=contoso&scope=industryData&id=.":                                            `parameter id must not be "." or ".."`,
		"tenant=contoso&scope=industryData&id=a%5Cb":                                        `parameter id must not contain "/" or "\"`,
		"tenant=contoso&scope=industryData&id=" + url.QueryEscape("https://evil.example/x"): "parameter id must be an id, not a URL",
		"tenant=contoso&scope=industryData&id=a%0Ab":                                        "parameter id must not contain a control character",
		"tenant=contoso&scope=industryData&id=" + long:                                      "parameter id must not be longer than 512 bytes",
		"tenant=contoso&scope=authenticationMethods&id=x":                                   "missing parameter user, which scope authenticationMethods needs",
		"tenant=contoso&scope=sites&id=x":                                                   "missing parameter site, which scope sites needs",
		"tenant=contoso&scope=industryData&id=x&site=s":                                     "parameter site is only for scope sites or siteLists",
		"tenant=contoso&scope=sites&site=..&id=x":                                           `parameter site must not be "." or ".."`,
		"tenant=contoso&scope=authenticationMethods&user=../admin&id=x":                     `parameter user must not contain "/" or "\"`,
		"tenant=contoso&scope=industryData&id=x&url=https://evil.example":                   `unknown parameter "url"; /probe takes tenant, scope, id, and the scope's parents (user, site, list, team, connection, case)`,
		"tenant=contoso&scope=industryData&id=x&id=y":                                       `parameter "id" given 2 times`,
		"tenant=contoso&scope=authenticationMethods&user=alice@contoso.com&id=x":            "Graph allows no application permission for authenticationMethods (password-reset) operations, only a delegated sign-in: tenant \"contoso\" has no delegated credential; add delegated: {token_cache_file: …} to the tenant and sign in once with `msgraph_lro_exporter login --tenant=contoso`",
	} {
		code, body := probeGet(t, e, query)
		if code != 400 || body != want+"\n" {
			t.Errorf("/probe?%s = %d %q, want 400 %q", query, code, body, want)
		}
	}
	if got := e.tenant.Requests(); got != 0 {
		t.Errorf("bad probes sent %d requests to Graph", got)
	}
}
