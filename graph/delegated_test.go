package graph_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

const reader = "lro-reader@contoso.com"

var (
	resetRef  = graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: "alice@contoso.com", ID: "9f1c"}
	reset2Ref = graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: "bob@contoso.com", ID: "7c2a"}
	importRef = graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "d194fa3e"}
	import2   = graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "5e0b7c3a"}
)

func seed(tn *graphtest.Tenant) {
	for _, r := range []graph.OperationRef{resetRef, reset2Ref, importRef, import2} {
		tn.SetOperation(r.URLPath(), map[string]any{"id": r.ID, "status": "running", "createdDateTime": "2020-03-19T12-01-03.45Z"})
	}
}

// appTokens is the tenant's client-secret credential through real MSAL.
func appTokens(t *testing.T, tn *graphtest.Tenant, m *graph.Metrics) graph.TokenSource {
	t.Helper()
	ts, err := graph.NewTokenSource(graph.CredentialOptions{Tenant: "contoso", TenantID: tn.TenantID, ClientID: tn.ClientID,
		AuthorityHost: tn.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: tn.GraphEndpoint, Kind: graph.CredentialClientSecret,
		Secret: tn.ClientSecret, HTTPClient: tn.HTTPClient(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// delegatedTokens signs reader in by device code and returns the sign-in's
// token source.
func delegatedTokens(t *testing.T, tn *graphtest.Tenant, m *graph.Metrics) graph.TokenSource {
	t.Helper()
	tn.AddUser(reader, graphtest.RoleGlobalReader)
	stop := tn.ApproveDeviceCodesAs(reader)
	defer stop()
	c := &graph.MemoryTokenCache{}
	if _, err := graph.Login(t.Context(), graph.LoginOptions{TenantID: tn.TenantID, ClientID: tn.ClientID,
		AuthorityHost: tn.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: tn.GraphEndpoint, Cache: c, DeviceCode: true, HTTPClient: tn.HTTPClient()}); err != nil {
		t.Fatal(err)
	}
	ts, err := graph.NewDelegatedTokenSource(graph.DelegatedOptions{Tenant: "contoso", TenantID: tn.TenantID, ClientID: tn.ClientID,
		AuthorityHost: tn.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: tn.GraphEndpoint, Cache: c, LoginCommand: "login", HTTPClient: tn.HTTPClient(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func readAll(t *testing.T, c *graph.Client, refs ...graph.OperationRef) []error {
	t.Helper()
	errs := make([]error, len(refs))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c.GetOperations(ctx, refs, func(i int, op *graph.Operation, err error) {
		if err == nil && op.Status != graph.StatusRunning {
			err = errors.New("status " + op.Status)
		}
		errs[i] = err
	})
	return errs
}

// What the exporter did before delegated sign-ins: a password reset read
// with the application's token. Graph (and so the simulator) answers 403,
// alone and inside a $batch, while the other operation of the batch reads.
func TestAppOnlyTokenGetsForbiddenForPasswordResets(t *testing.T) {
	for _, batch := range []bool{false, true} {
		tn := graphtest.NewTenant(t)
		seed(tn)
		c, err := graph.NewClient(graph.ClientOptions{Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint,
			Tokens: appTokens(t, tn, nil), HTTPClient: tn.HTTPClient(), Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		// As a custom operation, the reset is read with the app's token.
		asApp := graph.OperationRef{Scope: graph.ScopeCustom, ID: resetRef.ID, Path: resetRef.URLPath()}
		errs := readAll(t, c, asApp, importRef)
		var gerr *graph.Error
		if !errors.As(errs[0], &gerr) || gerr.StatusCode != 403 || gerr.Code != "accessDenied" {
			t.Errorf("batch %v: password reset with an app-only token: %v, want 403 accessDenied", batch, errs[0])
		}
		if errs[1] != nil {
			t.Errorf("batch %v: the import beside it: %v", batch, errs[1])
		}
		// And the client refuses to try it as a password reset without a
		// delegated sign-in, without asking Graph.
		before := tn.Requests()
		if errs := readAll(t, c, resetRef); errs[0] == nil || !strings.Contains(errs[0].Error(), "has no delegated credential") || tn.Requests() != before {
			t.Errorf("batch %v: password reset without a delegated credential: %v, %d requests", batch, errs[0], tn.Requests()-before)
		}
	}
}

// A tenant with both credentials: each operation gets the token its scope
// needs, and a $batch carries one token, so the batch splits by credential.
func TestEachOperationGetsTheTokenItNeeds(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	m := graph.NewMetrics()
	c, err := graph.NewClient(graph.ClientOptions{Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint,
		Tokens: appTokens(t, tn, m), Delegated: delegatedTokens(t, tn, m), HTTPClient: tn.HTTPClient(), Batch: true, MaxConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	tn.ResetCounters()
	for i, err := range readAll(t, c, importRef, resetRef, import2, reset2Ref) {
		if err != nil {
			t.Errorf("operation %d: %v", i, err)
		}
	}
	if n := tn.Requests(); n != 2 {
		t.Errorf("%d HTTP requests, want 2: a $batch per credential", n)
	}
	if n := tn.RequestsFor("/beta/$batch"); n != 2 {
		t.Errorf("%d $batch requests, want 2", n)
	}
}

// The browser sign-in: authorization code with PKCE through a localhost
// redirect, the simulator playing the browser; the cache file is written
// with mode 0600 and holds the refresh token.
func TestLoginInBrowser(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.AddUser(reader, graphtest.RoleAuthenticationAdministrator)
	tn.SetBrowserUser(reader)
	path := filepath.Join(t.TempDir(), "cache.json")
	var out strings.Builder
	res, err := graph.Login(t.Context(), graph.LoginOptions{TenantID: tn.TenantID, ClientID: tn.ClientID,
		AuthorityHost: tn.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: tn.GraphEndpoint, CacheFile: path,
		HTTPClient: tn.HTTPClient(), OpenURL: tn.OpenURL, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := graph.LoginResult{Username: reader, Permissions: []string{"UserAuthenticationMethod.Read.All"},
		Roles: []string{"Authentication Administrator"}, RolesKnown: true}
	if res.Username != want.Username || strings.Join(res.Permissions, ",") != strings.Join(want.Permissions, ",") ||
		strings.Join(res.Roles, ",") != strings.Join(want.Roles, ",") || !res.RolesKnown {
		t.Errorf("result %+v, want %+v", res, want)
	}
	if !strings.HasPrefix(out.String(), "To sign in, open this URL in a browser:\n"+tn.AuthorityHost+"/"+tn.TenantID+"/oauth2/v2.0/authorize?") ||
		!strings.Contains(out.String(), "code_challenge_method=S256") {
		t.Errorf("printed:\n%s", out.String())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v %v", err, fi)
	}
	b, _ := os.ReadFile(path)
	if rt := tn.LatestRefreshToken(reader); rt == "" || !strings.Contains(string(b), rt) {
		t.Error("the cache file lacks the refresh token")
	}
	if err := graph.InspectTokenCache(b, tn.ClientID, tn.TenantID); err != nil {
		t.Errorf("the written cache does not inspect clean: %v", err)
	}
	if n := tn.TokenRequestsByGrant(graphtest.GrantAuthorizationCode); n != 1 {
		t.Errorf("%d authorization-code redemptions, want 1", n)
	}
}

// WriteFileAtomic leaves the old file or the new one, never a temporary
// one, and sets mode 0600 on a file that was readable by others.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cache.json")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := graph.WriteFileAtomic(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	entries, _ := os.ReadDir(dir)
	if string(b) != "new" || fi.Mode().Perm() != 0o600 || len(entries) != 1 {
		t.Errorf("content %q, mode %v, %d files in the directory; want new, 0600, 1", b, fi.Mode().Perm(), len(entries))
	}
	if err := graph.WriteFileAtomic(filepath.Join(dir, "missing", "cache.json"), []byte("x")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
