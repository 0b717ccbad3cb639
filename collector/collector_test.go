package collector

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	msalcache "github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/msgraph-lro/msgraph_lro_exporter/clients"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// Seed examples from Microsoft's "Get longRunningOperation" page, as the
// simulated tenant serves them.
const (
	alertID   = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"
	alertID2  = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_RolesAssignedOutsidePimAlert"
	resetID   = "2d497bb-57bd-47a6-8749-5ccd0869f2bd"
	importID  = "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"
	siteID    = "contoso.sharepoint.com,2c712a2f-f0a6-4b1b-8b25-7a1f6b0f1c4e,8b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	siteOpID  = "copy,8f3e2d1c-0b9a-4876-a5b4-c3d2e1f0a9b8"
	unknownID = "6f1e2d3c-4b5a-4968-8776-655443322110"
)

var (
	alertPath   = graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: alertID}.URLPath()
	alert2Path  = graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: alertID2}.URLPath()
	resetPath   = graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: "alice@contoso.com", ID: resetID}.URLPath()
	importPath  = graph.OperationRef{Scope: graph.ScopeIndustryData, ID: importID}.URLPath()
	sitePath    = graph.OperationRef{Scope: graph.ScopeSites, Site: siteID, ID: siteOpID}.URLPath()
	unknownPath = graph.OperationRef{Scope: graph.ScopeIndustryData, ID: unknownID}.URLPath()
)

// clock is a settable time source for the exporter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Sleep is a wait of d that passes on the clock at once.
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.Add(d)
	return ctx.Err()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an exporter watching a simulated tenant through the real MSAL and
// Graph clients.
type env struct {
	t       *testing.T
	tenant  *graphtest.Tenant
	exp     *Watcher
	metrics *graph.Metrics
	clock   *clock
	cfg     *config.Config
	snap    Snapshot // what the exporter was given
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newEnv starts a tenant and an exporter whose config has the given
// global section and operations (YAML list items, without the tenant key).
func newEnv(t *testing.T, global string, ops ...string) *env {
	t.Helper()
	tn := graphtest.NewTenant(t)
	return newEnvFor(t, tn, global, ops...)
}

func newEnvFor(t *testing.T, tn *graphtest.Tenant, global string, ops ...string) *env {
	t.Helper()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(tn.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if global != "" {
		b.WriteString("global:\n" + global + "\n")
	}
	fmt.Fprintf(&b, "tenants:\n  - name: contoso\n    tenant_id: %s\n    client_id: %s\n    client_secret_file: %s\n    authority_host: %s\n    disable_instance_discovery: true\n    graph_endpoint: %s\n",
		tn.TenantID, tn.ClientID, secret, tn.AuthorityHost, tn.GraphEndpoint)
	// Password resets, print and eDiscovery operations need a signed-in
	// account.
	signIns := map[string]msalcache.ExportReplace{}
	needsSignIn := false
	for _, k := range graph.Kinds {
		needsSignIn = needsSignIn || k.Delegated && strings.Contains(strings.Join(ops, ""), "scope: "+k.Scope)
	}
	if needsSignIn {
		b.WriteString("    delegated: {}\n")
		signIns["contoso"] = SignInReader(t, tn)
	}
	b.WriteString("operations:\n")
	for _, o := range ops {
		b.WriteString("  - " + strings.Replace(o, "{", "{tenant: contoso, ", 1) + "\n")
	}
	cfg, err := config.ParseWithSignIns("test.yml", []byte(b.String()), signIns)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	logs := &syncBuffer{}
	logger := log.NewLogfmtLogger(logs)
	m := graph.NewMetrics()
	clk := &clock{t: time.Date(2023, 6, 10, 0, 0, 0, 0, time.UTC)}
	// A retry's wait within a fetch passes on the exporter's clock, not
	// in real time: the tests stay fast and see the time the wait took.
	cs, err := clients.NewWithRetry(cfg, tn.HTTPClient(), m, logger, graph.RetryPolicy{Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	exp := New(logger, clk.Now)
	snap := SnapshotOf(cfg, cs)
	exp.Swap(snap)
	return &env{t: t, tenant: tn, exp: exp, metrics: m, clock: clk, cfg: cfg, snap: snap, logs: logs}
}

// reader is the account the tests' delegated sign-ins are made with.
const reader = "lro-reader@contoso.com"

// SignInReader signs reader (a Global Reader and Printer Administrator) in
// to tn by device code, through MSAL's public client, with the delegated
// permissions the delegated-only kinds need, and returns the sign-in's
// token cache.
func SignInReader(t testing.TB, tn *graphtest.Tenant) *graph.MemoryTokenCache {
	t.Helper()
	tn.SetDelegatedPermissions("UserAuthenticationMethod.Read.All", "Printer.Create", "eDiscovery.ReadWrite.All")
	tn.AddUser(reader, graphtest.RoleGlobalReader, graphtest.RolePrinterAdministrator)
	stop := tn.ApproveDeviceCodesAs(reader)
	defer stop()
	c := &graph.MemoryTokenCache{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := graph.Login(ctx, graph.LoginOptions{
		TenantID: tn.TenantID, ClientID: tn.ClientID, AuthorityHost: tn.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: tn.GraphEndpoint,
		Cache: c, DeviceCode: true, HTTPClient: tn.HTTPClient(),
	}); err != nil {
		t.Fatalf("signing %s in: %v", reader, err)
	}
	return c
}

// scrape collects once with the given deadline and compares the named
// metrics with the expected exposition text.
func (e *env) expect(timeout time.Duration, want string, names ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := testutil.CollectAndCompare(e.exp.Collector(ctx), sortLabels(e.t, want), names...); err != nil {
		e.t.Error(err)
	}
}

// collect scrapes once and throws the result away.
func (e *env) collect() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	testutil.CollectAndCount(e.exp.Collector(ctx))
}

// sortLabels re-encodes expected exposition text with each series' labels
// in name order, as client_golang emits them, so that tests can write
// labels in the order that reads best (tenant, scope, operation_id, …).
func sortLabels(t *testing.T, text string) io.Reader {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("expected exposition text: %v", err)
	}
	names := make([]string, 0, len(mfs))
	for n, mf := range mfs {
		names = append(names, n)
		for _, m := range mf.GetMetric() {
			sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		if _, err := expfmt.MetricFamilyToText(&b, mfs[n]); err != nil {
			t.Fatal(err)
		}
	}
	return &b
}

func seedTenant(tn *graphtest.Tenant) {
	tn.SetOperation(alertPath, map[string]any{
		"id": alertID, "createdDateTime": "2023-06-09T22:50:41.5414467Z", "lastActionDateTime": "2023-06-09T22:52:09.0296021Z",
		"resourceLocation": "", "status": "running", "statusDetail": "",
	})
	tn.SetOperation(alert2Path, map[string]any{
		"id": alertID2, "createdDateTime": "2023-06-09T22:50:41.5414467Z", "lastActionDateTime": "2023-06-09T22:56:09.0296021Z",
		"resourceLocation": "https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_RolesAssignedOutsidePimAlert",
		"status":           "succeeded", "statusDetail": "",
	})
	tn.SetOperation(resetPath, map[string]any{
		"status": "running", "createdDateTime": "2020-03-19T12-01-03.45Z", "lastActionDateTime": "2020-03-19T12-01-04.23Z", "id": resetID,
	})
	tn.SetOperation(importPath, map[string]any{
		"@odata.type": "#microsoft.graph.longRunningOperation", "createdDateTime": "2022-12-14T05:54:35.400029Z", "id": importID,
		"lastActionDateTime": "2022-12-14T05:54:43.8410226Z",
		"resourceLocation":   "https://graph.microsoft.com/beta/industryData/dataConnectors/022da4a0-c239-4b07-abed-08dad8e7a07a",
		"status":             "succeeded", "statusDetail": nil,
	})
	tn.SetOperation(sitePath, map[string]any{
		"id": siteOpID, "createdDateTime": "2023-06-09T23:00:00Z", "lastActionDateTime": "2023-06-09T23:30:00Z",
		"status": "running", "percentageComplete": 42, "type": "contentTypeCopy", "resourceId": "0x0101",
	})
	tn.SetOperation(unknownPath, map[string]any{
		"id": unknownID, "createdDateTime": "yesterday at noon", "lastActionDateTime": "2023-06-09T23:59:00Z", "status": "paused",
	})
}

var seedOps = []string{
	`{scope: roleManagementAlerts, id: "` + alertID + `", name: stale-sign-in, labels: {team: identity}}`,
	`{scope: roleManagementAlerts, id: "` + alertID2 + `"}`,
	`{scope: authenticationMethods, user: alice@contoso.com, id: ` + resetID + `, labels: {team: helpdesk, env: prod}}`,
	`{scope: industryData, id: ` + importID + `}`,
	`{scope: sites, site: "` + siteID + `", id: "` + siteOpID + `"}`,
	`{scope: industryData, id: ` + unknownID + `}`,
}

func TestSeedExamples(t *testing.T) {
	e := newEnv(t, "", seedOps...)
	seedTenant(e.tenant)
	// testdata/seed-examples.prom: every series of Microsoft's examples.
	compareGolden(t, e.exp, 5*time.Second, "seed-examples", "msgraph_lro_status", "msgraph_lro_created_timestamp_seconds", "msgraph_lro_last_action_timestamp_seconds",
		"msgraph_lro_age_seconds", "msgraph_lro_last_action_age_seconds", "msgraph_lro_completion_ratio", "msgraph_lro_info",
		"msgraph_lro_up", "msgraph_lro_last_success_timestamp_seconds", "msgraph_lro_operations")

	// $select asks only for what we use; a pasted query string is kept (see TestPastedURL).
	if got := e.tenant.LastQuery(alertPath).Get("$select"); got != "id,createdDateTime,lastActionDateTime,resourceLocation,status,statusDetail" {
		t.Errorf("$select = %q", got)
	}
	if got := e.tenant.LastQuery(sitePath).Get("$select"); !strings.HasSuffix(got, ",percentageComplete,type,error") {
		t.Errorf("rich $select = %q", got)
	}
}
