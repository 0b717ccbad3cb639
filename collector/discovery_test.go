package collector

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// discoverEnv is an exporter with one discovery job whose first listing has
// finished. Later listings are made by hand with e.discoverOnce.
func discoverEnv(t *testing.T, tn *graphtest.Tenant, job Job, ops ...string) (*env, *job) {
	t.Helper()
	e := newEnvFor(t, tn, "", ops...)
	job.Tenant = "contoso"
	if job.Interval == 0 {
		job.Interval = time.Hour
	}
	if job.Retention == 0 {
		job.Retention = 24 * time.Hour
	}
	e.snap.Jobs = []Job{job}
	e.exp.Swap(e.snap)
	t.Cleanup(e.exp.Close)
	j := e.exp.jobs[0]
	deadline := time.Now().Add(5 * time.Second)
	for {
		j.mu.Lock()
		done := !j.lastSuccess.IsZero() || j.errors > 0
		j.mu.Unlock()
		if done {
			return e, j
		}
		if time.Now().After(deadline) {
			t.Fatal("the first listing did not finish")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func watched(e *env) []string {
	var ids []string
	for _, t := range e.exp.st.Load().targets {
		ids = append(ids, t.Source+":"+t.Ref.ID)
	}
	return ids
}

func industryPath(id string) string {
	return graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}.URLPath()
}

// 23 industryData operations over 5 pages are all discovered, watched, and
// shown without a GET each: the list carried them.
func TestDiscoverPages(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetPageSize(5)
	for i := 1; i <= 23; i++ {
		id := fmt.Sprintf("imp-%02d", i)
		tn.SetOperation(industryPath(id), map[string]any{"id": id, "status": "running", "createdDateTime": "2023-06-09T23:00:00Z"})
	}
	e, _ := discoverEnv(t, tn, Job{Scope: graph.ScopeIndustryData, Labels: map[string]string{"team": "education"}})
	if got := len(watched(e)); got != 23 {
		t.Fatalf("watching %d operations, want 23: %v", got, watched(e))
	}
	if got := tn.RequestsFor("/beta/external/industryData/operations"); got != 5 {
		t.Errorf("listing took %d requests, want 5 pages", got)
	}
	before := tn.Requests()
	if n := countUp(t, e); n != 23 {
		t.Errorf("%d operations up, want 23", n)
	}
	if got := tn.Requests() - before; got != 0 {
		t.Errorf("the scrape sent %d requests; the listing had the answers", got)
	}
	// testdata/discover-pages.prom: 23 found, no error, listed at the
	// clock's time, 23 watched.
	compareGolden(t, e.exp, 5*time.Second, "discover-pages", "msgraph_lro_discovery_operations", "msgraph_lro_discovery_errors_total",
		"msgraph_lro_discovery_last_success_timestamp_seconds", "msgraph_lro_operations")
	out, _ := testutil.CollectAndFormat(e.exp.Collector(t.Context()), expfmt.TypeTextPlain, "msgraph_lro_up")
	if !strings.Contains(string(out), `msgraph_lro_up{name="",operation_id="imp-07",scope="industryData",team="education",tenant="contoso"} 1`) {
		t.Errorf("a discovered operation lacks the job's labels:\n%s", out)
	}
}

// A new operation is picked up by the next listing; a final one whose last
// action is older than the retention is dropped; a configured operation
// wins over the same one discovered.
func TestDiscoverChangesAndRetention(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetOperation(industryPath("old"), map[string]any{"id": "old", "status": "succeeded", "lastActionDateTime": "2023-06-09T12:00:00Z"})
	tn.SetOperation(industryPath("mine"), map[string]any{"id": "mine", "status": "running"})
	e, j := discoverEnv(t, tn, Job{Scope: graph.ScopeIndustryData, Retention: 24 * time.Hour},
		`{scope: industryData, id: mine, name: configured}`)
	if got, want := strings.Join(watched(e), " "), "config:mine discovery:old"; got != want {
		t.Fatalf("watching %q, want %q", got, want)
	}
	tn.SetOperation(industryPath("new"), map[string]any{"id": "new", "status": "notStarted"})
	e.clock.Add(13 * time.Hour) // "old" last acted 25 hours ago now
	e.exp.discoverOnce(context.Background(), j)
	if got, want := strings.Join(watched(e), " "), "config:mine discovery:new"; got != want {
		t.Errorf("after the second listing watching %q, want %q", got, want)
	}
}

// A nextLink to another host is not followed, and never gets the token.
func TestDiscoverRefusesForeignNextLink(t *testing.T) {
	var (
		mu     sync.Mutex
		leaked []string
	)
	foreign := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, `{"value":[]}`)
	}))
	defer foreign.Close()
	tn := graphtest.NewTenant(t)
	body := `{"value":[{"id":"a","status":"running"}],"@odata.nextLink":"` + foreign.URL + `/beta/external/industryData/operations?$skiptoken=2"}`
	tn.Inject("/beta/external/industryData/operations", graphtest.Fault{Status: 200, Body: &body})
	e, j := discoverEnv(t, tn, Job{Scope: graph.ScopeIndustryData})
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) != 0 {
		t.Fatalf("the foreign host was asked, with Authorization %q", leaked)
	}
	if j.errors != 1 || len(watched(e)) != 0 {
		t.Errorf("errors %v, watching %v: want 1 error and nothing watched", j.errors, watched(e))
	}
	if u, _ := url.Parse(foreign.URL); !strings.Contains(e.logs.String(), "refusing @odata.nextLink to https://"+u.Host) {
		t.Errorf("the refusal was not logged:\n%s", e.logs.String())
	}
}

// Role alert discovery watches the refresh operation of every alert; an
// alert never refreshed (404) is left out of the metrics, not up 0.
func TestDiscoverRoleAlerts(t *testing.T) {
	tn := graphtest.NewTenant(t)
	for _, a := range []string{"DirectoryRole_1_StaleSignInAlert", "DirectoryRole_1_TooManyGlobalAdmins", "DirectoryRole_1_NoMfaOnRole"} {
		tn.SetOperation("/beta/identityGovernance/roleManagementAlerts/alerts/"+a, map[string]any{"id": a, "alertDefinitionId": a})
	}
	for _, a := range []string{"DirectoryRole_1_StaleSignInAlert", "DirectoryRole_1_NoMfaOnRole"} {
		p := graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: "refresh:" + a}.URLPath()
		tn.SetOperation(p, map[string]any{"id": "refresh:" + a, "status": "succeeded", "lastActionDateTime": "2023-06-09T23:00:00Z"})
	}
	e, _ := discoverEnv(t, tn, Job{Scope: graph.ScopeRoleManagementAlerts})
	if got := len(watched(e)); got != 3 {
		t.Fatalf("watching %v, want the 3 refresh operations", watched(e))
	}
	if q := tn.LastQuery("/beta/identityGovernance/roleManagementAlerts/alerts"); q.Get("$filter") != "scopeId eq '/' and scopeType eq 'DirectoryRole'" {
		t.Errorf("alerts listed with filter %q", q.Get("$filter"))
	}
	want := `
# HELP msgraph_lro_up x
# TYPE msgraph_lro_up gauge
msgraph_lro_up{name="",operation_id="refresh:DirectoryRole_1_NoMfaOnRole",scope="roleManagementAlerts",tenant="contoso"} 1
msgraph_lro_up{name="",operation_id="refresh:DirectoryRole_1_StaleSignInAlert",scope="roleManagementAlerts",tenant="contoso"} 1
`
	e.expectHelpless(5*time.Second, want, "msgraph_lro_up")
}

// Operations beyond global.max_operations are not watched, and counted.
func TestMaxOperations(t *testing.T) {
	tn := graphtest.NewTenant(t)
	ops, _ := importOps(tn, 5)
	e := newEnvFor(t, tn, "  max_operations: 3", ops...)
	if n := countUp(t, e); n != 3 {
		t.Errorf("%d operations up, want 3", n)
	}
	e.expectHelpless(5*time.Second, `
# HELP msgraph_lro_operations_over_limit x
# TYPE msgraph_lro_operations_over_limit gauge
msgraph_lro_operations_over_limit 2
`, "msgraph_lro_operations_over_limit")
	if !strings.Contains(e.logs.String(), "not_watched=2") {
		t.Errorf("the cap was not logged:\n%s", e.logs.String())
	}
}

// Two requests for what is one series (the field form and a pasted URL with
// a query string) are watched once: a duplicate series would fail the
// scrape.
func TestDuplicateSeriesWatchedOnce(t *testing.T) {
	e := importOnly(t, "")
	pasted, err := graph.ParseOperationURL(e.tenant.GraphEndpoint, e.tenant.GraphEndpoint+importPath+"?aadgdc=x")
	if err != nil {
		t.Fatal(err)
	}
	snap := e.snap
	snap.Settings.MaxOperations = 1 // a duplicate is no operation over the cap
	snap.Targets = []Target{
		{Tenant: "contoso", Ref: graph.OperationRef{Scope: graph.ScopeIndustryData, ID: importID}, Source: SourceConfig},
		{Tenant: "contoso", Ref: pasted, Source: SourceConfig},
	}
	e.exp.Swap(snap)
	e.expectHelpless(5*time.Second, good(1)+`
# HELP msgraph_lro_operations_over_limit x
# TYPE msgraph_lro_operations_over_limit gauge
msgraph_lro_operations_over_limit 0
`, append(opMetrics, "msgraph_lro_operations_over_limit")...)
}

// A role alert never refreshed is not asked for again before cache_ttl, and
// a reload that keeps a discovery job does not make it list again at once.
func TestDiscoverQuietAfterwards(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetOperation("/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_1_NoMfaOnRole", map[string]any{"id": "DirectoryRole_1_NoMfaOnRole"})
	job := Job{Scope: graph.ScopeRoleManagementAlerts}
	e, _ := discoverEnv(t, tn, job)
	refresh := graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: "refresh:DirectoryRole_1_NoMfaOnRole"}.URLPath()
	for i := 0; i < 3; i++ {
		e.collect()
		e.clock.Add(10 * time.Second)
	}
	if got := tn.RequestsFor(refresh); got != 1 {
		t.Errorf("the never-refreshed alert was asked for %d times within cache_ttl, want 1", got)
	}
	list := "/beta/identityGovernance/roleManagementAlerts/alerts"
	job.Tenant, job.Interval, job.Retention = "contoso", time.Hour, 24*time.Hour
	e.snap.Jobs = []Job{job}
	e.exp.Swap(e.snap) // what a reload with the same job does
	e.exp.mu.Lock()
	kept := e.exp.jobs[0]
	e.exp.mu.Unlock()
	// 30 s after the first listing (three scrapes 10 s apart), of an
	// hour's interval.
	if got := kept.firstWait(e.clock.Now()); got != time.Hour-30*time.Second {
		t.Errorf("the kept job lists again in %s, want %s: a kept job waits for the rest of its interval", got, time.Hour-30*time.Second)
	}
	if got := tn.RequestsFor(list); got != 1 {
		t.Errorf("the alerts were listed %d times, want 1", got)
	}
	if got := len(watched(e)); got != 1 {
		t.Errorf("after the reload watching %d operations, want the 1 found before", got)
	}
}
