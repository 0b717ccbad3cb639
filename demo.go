package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// demoCycle is how long one simulated operation takes from notStarted to a
// final status and back (it is re-created for the next round).
const demoCycle = 4 * time.Minute

// demoOp is one operation of the simulated tenant.
type demoOp struct {
	cfg    string         // its entry under operations: in the demo config
	path   string         // where graphtest serves it
	fields map[string]any // its JSON at start
	// cycling operations go notStarted → running → final, over and over;
	// phase shifts each one's start so that every status is always on show.
	cycles bool
	phase  time.Duration
	final  string
	rich   bool
}

// demo is a simulated tenant in this process and the config that watches
// it. It writes no file: --demo runs on a read-only root file system.
type demo struct {
	tenant *graphtest.Tenant
	signIn *graph.MemoryTokenCache // the demo reader's delegated sign-in
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ops    []demoOp
	start  time.Time
	now    func() time.Time // the clock that moves the operations
}

func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// startDemo starts the simulated tenant and the clock that moves its
// operations; now is that clock (time.Now but in the golden file's test).
func startDemo(logger log.Logger, now func() time.Time) (*demo, error) {
	t, err := graphtest.StartInMemory()
	if err != nil {
		return nil, err
	}
	d := &demo{tenant: t, start: now(), now: now}
	if d.signIn, err = demoSignIn(t); err != nil {
		t.Close()
		return nil, fmt.Errorf("signing the demo's reader account in: %w", err)
	}
	ago := func(dur time.Duration) string { return graphTime(d.start.Add(-dur)) }
	const alertPrefix = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_"
	site := "contoso.sharepoint.com,2c712a2f-f0a6-4b1b-8b25-7a1f6b0f1c4e,8b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	rmaPath := func(id string) string {
		return graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: id}.URLPath()
	}
	userPath := func(u, id string) string {
		return graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: u, ID: id}.URLPath()
	}
	idPath := func(id string) string { return graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}.URLPath() }
	sitePath := func(id string) string {
		return graph.OperationRef{Scope: graph.ScopeSites, Site: site, ID: id}.URLPath()
	}
	op := func(id, status, created, last string, extra map[string]any) map[string]any {
		m := map[string]any{"id": id, "status": status, "createdDateTime": created, "lastActionDateTime": last, "resourceLocation": "", "statusDetail": ""}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	d.ops = []demoOp{
		{cfg: `{scope: roleManagementAlerts, id: "` + alertPrefix + `StaleSignInAlert", name: stale-sign-in-refresh, labels: {team: identity}}`,
			path: rmaPath(alertPrefix + "StaleSignInAlert"), cycles: true, phase: 0, final: graph.StatusSucceeded},
		{cfg: `{scope: roleManagementAlerts, id: "` + alertPrefix + `RolesAssignedOutsidePimAlert", name: outside-pim-refresh, labels: {team: identity}}`,
			path: rmaPath(alertPrefix + "RolesAssignedOutsidePimAlert"),
			fields: op(alertPrefix+"RolesAssignedOutsidePimAlert", "succeeded", ago(26*time.Hour), ago(25*time.Hour),
				map[string]any{"resourceLocation": t.GraphEndpoint + "/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_RolesAssignedOutsidePimAlert"})},
		{cfg: `{scope: roleManagementAlerts, id: "` + alertPrefix + `TooManyGlobalAdminsAssignedToTenantAlert", name: global-admins-refresh, labels: {team: identity}}`,
			path:   rmaPath(alertPrefix + "TooManyGlobalAdminsAssignedToTenantAlert"),
			fields: op(alertPrefix+"TooManyGlobalAdminsAssignedToTenantAlert", "running", ago(6*time.Hour), ago(5*time.Hour+42*time.Minute), nil)},
		{cfg: `{scope: authenticationMethods, user: alice@contoso.com, id: 2d497bb-57bd-47a6-8749-5ccd0869f2bd, name: alice-password-reset, labels: {team: helpdesk}}`,
			path: userPath("alice@contoso.com", "2d497bb-57bd-47a6-8749-5ccd0869f2bd"),
			// The dashed timestamps of Microsoft's own example.
			fields: map[string]any{"status": "running", "createdDateTime": "2020-03-19T12-01-03.45Z", "lastActionDateTime": "2020-03-19T12-01-04.23Z", "id": "2d497bb-57bd-47a6-8749-5ccd0869f2bd"}},
		{cfg: `{scope: authenticationMethods, user: bob@contoso.com, id: 7c2a9e41-3b5d-4f60-8e1a-2d3c4b5a6978, name: bob-password-reset, labels: {team: helpdesk}}`,
			path: userPath("bob@contoso.com", "7c2a9e41-3b5d-4f60-8e1a-2d3c4b5a6978"),
			fields: op("7c2a9e41-3b5d-4f60-8e1a-2d3c4b5a6978", "failed", ago(50*time.Minute), ago(48*time.Minute),
				map[string]any{"statusDetail": "The password does not meet the tenant's complexity requirements."})},
		{cfg: `{url: "` + t.GraphEndpoint + `/beta/users/carol@contoso.com/authentication/operations/9f1c6d2e-8a47-4b3f-9e05-1d2c3b4a5f60?aadgdc=WUS2&aadgsu=ssprprod-a", name: carol-password-reset, labels: {team: helpdesk}}`,
			path: userPath("carol@contoso.com", "9f1c6d2e-8a47-4b3f-9e05-1d2c3b4a5f60"), cycles: true, phase: 80 * time.Second, final: graph.StatusSucceeded},
		{cfg: `{scope: industryData, id: d194fa3e-18c9-47a1-0fb1-08dad8e7a876, name: sis-import-nightly, labels: {team: education}}`,
			path: idPath("d194fa3e-18c9-47a1-0fb1-08dad8e7a876"),
			fields: op("d194fa3e-18c9-47a1-0fb1-08dad8e7a876", "succeeded", ago(9*time.Hour), ago(8*time.Hour+50*time.Minute),
				map[string]any{"statusDetail": nil, "resourceLocation": t.GraphEndpoint + "/beta/industryData/dataConnectors/022da4a0-c239-4b07-abed-08dad8e7a07a"})},
		{cfg: `{scope: industryData, id: 5e0b7c3a-9d21-4f8e-a6b4-3c2d1e0f9a8b, name: sis-import-queued, labels: {team: education}}`,
			path:   idPath("5e0b7c3a-9d21-4f8e-a6b4-3c2d1e0f9a8b"),
			fields: op("5e0b7c3a-9d21-4f8e-a6b4-3c2d1e0f9a8b", "notStarted", ago(3*time.Hour), ago(3*time.Hour), map[string]any{"resourceLocation": nil})},
		{cfg: `{scope: industryData, id: a41f2b6c-7d80-4e9a-b3c5-d6e7f8091a2b, name: sis-import-hourly, labels: {team: education}}`,
			path: idPath("a41f2b6c-7d80-4e9a-b3c5-d6e7f8091a2b"), cycles: true, phase: 160 * time.Second, final: graph.StatusFailed},
		{cfg: `{scope: sites, site: "` + site + `", id: "copy,8f3e2d1c-0b9a-4876-a5b4-c3d2e1f0a9b8", name: contenttype-copy, labels: {team: sharepoint}}`,
			path: sitePath("copy,8f3e2d1c-0b9a-4876-a5b4-c3d2e1f0a9b8"), cycles: true, phase: 40 * time.Second, final: graph.StatusSucceeded, rich: true},
		{cfg: `{scope: sites, site: "` + site + `", id: "copy,1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", name: contenttype-copy-hr, labels: {team: sharepoint}}`,
			path: sitePath("copy,1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
			fields: op("copy,1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "succeeded", ago(2*time.Hour), ago(time.Hour+55*time.Minute),
				map[string]any{"percentageComplete": 100, "type": "contentTypeCopy", "resourceId": "0x0101009B0B8C5A2F7E4C4A9B8D7E6F5A4B3C2D"})},
		{cfg: `{scope: industryData, id: 0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f, name: sis-import-rollover, labels: {team: education}}`,
			path: idPath("0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f"), cycles: true, phase: 200 * time.Second, final: graph.StatusSucceeded},
		// The other kinds of graph.Kinds, each with what Microsoft's page
		// shows of it.
		{cfg: `{url: "` + t.GraphEndpoint + `/teams('2b8a0b2c-4b1d-4c4e-9f3a-1d2e3f4a5b6c')/operations('3c9b1d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f')", name: team-clone, labels: {team: collaboration}}`,
			path: graph.OperationRef{Scope: graph.ScopeTeams, Team: "2b8a0b2c-4b1d-4c4e-9f3a-1d2e3f4a5b6c", ID: "3c9b1d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}.URLPath(),
			fields: map[string]any{"id": "3c9b1d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "operationType": "cloneTeam", "status": "inProgress", "attemptsCount": 1,
				"createdDateTime": ago(20 * time.Minute), "lastActionDateTime": ago(time.Minute), "targetResourceId": "5d6e7f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f",
				"targetResourceLocation": "/groups('5d6e7f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f')/team", "error": nil}},
		{cfg: `{scope: searchConnections, connection: contosohr, id: 3ed1595a-4bae-43c2-acda-ef973e581323, name: hr-connector-schema, labels: {team: search}}`,
			path:   graph.OperationRef{Scope: graph.ScopeSearchConnections, Connection: "contosohr", ID: "3ed1595a-4bae-43c2-acda-ef973e581323"}.URLPath(),
			fields: map[string]any{"id": "3ed1595a-4bae-43c2-acda-ef973e581323", "status": "completed"}},
		{cfg: `{scope: ediscovery, case: b0073e4e-4184-41c6-9eb7-8c8cc3e2288b, id: 850c2f64b1ee44a4a69729327aac2b04, name: litigation-export, labels: {team: legal}}`,
			path: graph.OperationRef{Scope: graph.ScopeEdiscovery, Case: "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b", ID: "850c2f64b1ee44a4a69729327aac2b04"}.URLPath(),
			fields: map[string]any{"id": "850c2f64b1ee44a4a69729327aac2b04", "@odata.type": "#microsoft.graph.security.ediscoveryExportOperation",
				"action": "contentExport", "status": "partiallySucceeded", "percentProgress": 100,
				"createdDateTime": ago(4 * time.Hour), "completedDateTime": ago(3 * time.Hour)}},
		{cfg: `{scope: print, id: 81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4, name: printer-registration, labels: {team: workplace}}`,
			path: graph.OperationRef{Scope: graph.ScopePrint, ID: "81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4"}.URLPath(),
			fields: map[string]any{"id": "81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4", "@odata.type": "#microsoft.graph.printerCreateOperation",
				"createdDateTime": ago(30 * time.Minute), "status": map[string]any{"state": "succeeded", "description": "The operation has completed successfully."}}},
		{cfg: `{scope: industryData, id: 581b2ef8-dda2-4a3e-bb62-df13fd4a5808, name: sis-validate, labels: {team: education}}`,
			path: idPath("581b2ef8-dda2-4a3e-bb62-df13fd4a5808"),
			// Microsoft's fileValidateOperation example: succeeded, yet a
			// required file is missing.
			fields: op("581b2ef8-dda2-4a3e-bb62-df13fd4a5808", "succeeded", ago(95*time.Minute), ago(94*time.Minute), map[string]any{
				"@odata.type": "#microsoft.graph.industryData.fileValidateOperation", "statusDetail": nil, "validatedFiles": []any{},
				"errors": []any{map[string]any{"code": "RequiredFileNotFound", "target": "orgs.csv",
					"message": "When trying to validate required file orgs.csv encountered RequiredFileNotFound error."}},
				"warnings": []any{
					map[string]any{"code": "OptionalFileNotFound", "target": "classes.csv"},
					map[string]any{"code": "OptionalFileNotFound", "target": "enrollments.csv"}}})},
	}
	for _, o := range d.ops {
		if o.fields != nil {
			t.SetOperation(o.path, o.fields)
		}
	}
	d.step(d.start)
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				d.step(d.now())
			}
		}
	}()
	level.Warn(logger).Log("msg", "DEMO MODE: serving metrics from a simulated tenant in this process; nothing here is real and no credentials are used",
		"operations", len(d.ops), "graph_endpoint", t.GraphEndpoint)
	return d, nil
}

// step moves each cycling operation to where its clock says it is.
func (d *demo) step(now time.Time) {
	for _, o := range d.ops {
		if !o.cycles {
			continue
		}
		el := now.Sub(d.start) + o.phase
		round := el / demoCycle
		in := el % demoCycle
		roundStart := now.Add(-in)
		status, pct := graph.StatusNotStarted, 0.0
		switch {
		case in >= 160*time.Second:
			status, pct = o.final, 100
		case in >= 40*time.Second:
			status, pct = graph.StatusRunning, float64((in-40*time.Second)*100/(120*time.Second))
		}
		id := o.path[strings.LastIndexByte(o.path, '/')+1:]
		f := map[string]any{
			"id": id, "status": status,
			"createdDateTime":    graphTime(roundStart),
			"lastActionDateTime": graphTime(now),
			"resourceLocation":   nil, "statusDetail": "",
		}
		if status == graph.StatusFailed {
			f["statusDetail"] = fmt.Sprintf("Import round %d failed: 3 of 1,204 rows were rejected by the source system.", round+1)
		}
		if o.rich {
			f["percentageComplete"] = pct
			f["type"] = "contentTypeCopy"
			f["resourceId"] = "0x0101009B0B8C5A2F7E4C4A9B8D7E6F5A4B3C2E"
		}
		d.tenant.SetOperation(o.path, f)
	}
}

// Config is the demo's configuration, built and validated like a file.
// The simulated tenant's secret is inline (a secret file would need a
// writable directory); it is no real secret, so the warning about inline
// secrets is dropped.
func (d *demo) Config() (*config.Config, error) {
	var b strings.Builder
	secret, _ := json.Marshal(d.tenant.ClientSecret) // a YAML double-quoted string
	fmt.Fprintf(&b, "global:\n  cache_ttl: 10s\n  terminal_cache_ttl: 1m\n")
	fmt.Fprintf(&b, "tenants:\n  - name: demo\n    tenant_id: %s\n    client_id: %s\n    client_secret: %s\n    delegated: {}\n    authority_host: %s\n    disable_instance_discovery: true\n    graph_endpoint: %s\n",
		d.tenant.TenantID, d.tenant.ClientID, secret, d.tenant.AuthorityHost, d.tenant.GraphEndpoint)
	b.WriteString("operations:\n")
	for _, o := range d.ops {
		b.WriteString("  - " + strings.Replace(o.cfg, "{", "{tenant: demo, ", 1) + "\n")
	}
	// The password resets are read with the demo reader's sign-in, kept in
	// memory, as a real tenant's would be from its token cache file.
	cfg, err := config.ParseWithSignIns("demo", []byte(b.String()), map[string]cache.ExportReplace{"demo": d.signIn})
	if err != nil {
		return nil, err
	}
	ws := cfg.Warnings[:0]
	for _, w := range cfg.Warnings {
		if !strings.Contains(w, "client_secret is inline") {
			ws = append(ws, w)
		}
	}
	cfg.Warnings = ws
	return cfg, nil
}

// demoReader is the account the demo signs in with: a dedicated reader
// with the least-privileged role that reads other users' password resets.
const demoReader = "lro-reader@contoso.com"

// demoSignIn signs the demo's reader in by device code, as `login
// --device-code` does, with the simulated tenant playing the person who
// enters the code.
func demoSignIn(t *graphtest.Tenant) (*graph.MemoryTokenCache, error) {
	// Password resets, print and eDiscovery operations: what their GET
	// pages ask of a signed-in account.
	t.SetDelegatedPermissions("UserAuthenticationMethod.Read.All", "Printer.Create", "eDiscovery.ReadWrite.All")
	t.AddUser(demoReader, graphtest.RoleGlobalReader, graphtest.RolePrinterAdministrator)
	signIn := &graph.MemoryTokenCache{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := t.ApproveDeviceCodesAs(demoReader)
	defer stop()
	_, err := graph.Login(ctx, graph.LoginOptions{
		TenantID: t.TenantID, ClientID: t.ClientID,
		AuthorityHost: t.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: t.GraphEndpoint,
		Cache: signIn, DeviceCode: true, HTTPClient: t.HTTPClient(),
	})
	return signIn, err
}

// HTTPClient trusts the simulated tenant's certificate.
func (d *demo) HTTPClient() *http.Client { return d.tenant.HTTPClient() }

// Close stops the clock and the tenant.
func (d *demo) Close() {
	if d.cancel != nil {
		d.cancel()
		d.wg.Wait()
	}
	d.tenant.Close()
}
