package graphtest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// Location headers name operations in OData's key syntax, in any case, and
// Teams' carry no version: Graph serves them all as the plain path, and so
// does the simulator.
func TestKeySyntaxCaseAndVersionlessPaths(t *testing.T) {
	tn := graphtest.NewTenant(t)
	const teamOp = "/v1.0/teams/dbd8de4f-5d47-48da-87f1-594bed003375/operations/3a6fdce1-c261-48bc-89de-1cfef658c0d5"
	tn.SetOperation(teamOp, map[string]any{"id": "3a6fdce1-c261-48bc-89de-1cfef658c0d5", "status": "inProgress"})
	const caseOp = "/v1.0/security/cases/ediscoveryCases/b0073e4e-4184-41c6-9eb7-8c8cc3e2288b/operations/850c2f64b1ee44a4a69729327aac2b04"
	tn.SetOperation(caseOp, map[string]any{"id": "850c2f64b1ee44a4a69729327aac2b04", "status": "running"})
	app := token(t, tn)
	tn.SetDelegatedPermissions("eDiscovery.ReadWrite.All")
	user := delegatedToken(t, tn, "ediscovery@contoso.com")
	for _, tc := range []struct{ name, token, path string }{
		{"plain", app, teamOp},
		{"key syntax, no version", app, "/teams('dbd8de4f-5d47-48da-87f1-594bed003375')/operations('3a6fdce1-c261-48bc-89de-1cfef658c0d5')"},
		{"key syntax, v1.0", app, "/v1.0/teams('dbd8de4f-5d47-48da-87f1-594bed003375')/operations('3a6fdce1-c261-48bc-89de-1cfef658c0d5')"},
		{"escaped quotes", app, "/v1.0/teams(%27dbd8de4f-5d47-48da-87f1-594bed003375%27)/operations(%273a6fdce1-c261-48bc-89de-1cfef658c0d5%27)"},
		{"another case", user, "/V1.0/security/cases/ediscoverycases('b0073e4e-4184-41c6-9eb7-8c8cc3e2288b')/operations('850c2f64b1ee44a4a69729327aac2b04')"},
	} {
		if r := get(t, tn, tc.token, tc.path); r.StatusCode != http.StatusOK {
			t.Errorf("%s: GET %s = %d %s", tc.name, tc.path, r.StatusCode, r.body)
		}
	}
	if n := tn.RequestsFor(teamOp); n != 4 {
		t.Errorf("RequestsFor(%s) = %d, want 4: every syntax counts as the one operation", teamOp, n)
	}
	if r := get(t, tn, app, "/beta/teams('dbd8de4f-5d47-48da-87f1-594bed003375')/operations('x')"); r.StatusCode != http.StatusNotFound {
		t.Errorf("another operation: %d, want 404", r.StatusCode)
	}
}

// Universal Print and eDiscovery operations allow no application
// permission (their GET pages: "Application: Not supported"): an app-only
// token is refused, alone and in a $batch; a signed-in user's needs the
// delegated permission, and for print the Printer Administrator role.
func TestDelegatedOnlyKinds(t *testing.T) {
	tn := graphtest.NewTenant(t)
	const printOp = "/v1.0/print/operations/81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4"
	const caseOp = "/v1.0/security/cases/ediscoveryCases/b0073e4e/operations/850c2f64"
	tn.SetOperation(printOp, map[string]any{"id": "81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4", "status": map[string]any{"state": "succeeded"}})
	tn.SetOperation(caseOp, map[string]any{"id": "850c2f64", "status": "running"})
	app := token(t, tn)
	tn.SetDelegatedPermissions("Printer.Create", "eDiscovery.ReadWrite.All")
	printAdmin := delegatedToken(t, tn, "printadmin@contoso.com", graphtest.RolePrinterAdministrator)
	noRole := delegatedToken(t, tn, "someone@contoso.com")
	tn.SetDelegatedPermissions("UserAuthenticationMethod.Read.All")
	noScope := delegatedToken(t, tn, "printadmin2@contoso.com", graphtest.RolePrinterAdministrator)
	for _, tc := range []struct {
		name, token, path string
		want              int
	}{
		{"print, app-only", app, printOp, http.StatusForbidden},
		{"print, Printer.Create and Printer Administrator", printAdmin, printOp, http.StatusOK},
		{"print, no role", noRole, printOp, http.StatusForbidden},
		{"print, no Printer permission", noScope, printOp, http.StatusForbidden},
		{"eDiscovery, app-only", app, caseOp, http.StatusForbidden},
		{"eDiscovery, app-only, the list", app, "/v1.0/security/cases/ediscoveryCases/b0073e4e/operations", http.StatusForbidden},
		{"eDiscovery, eDiscovery.ReadWrite.All", noRole, caseOp, http.StatusOK},
		{"eDiscovery, no eDiscovery permission", noScope, caseOp, http.StatusForbidden},
	} {
		if r := get(t, tn, tc.token, tc.path); r.StatusCode != tc.want {
			t.Errorf("%s: GET %s = %d, want %d: %s", tc.name, tc.path, r.StatusCode, tc.want, r.body)
		}
	}
	// In a $batch, each request is judged with the batch's one token.
	b := batch(t, tn, app, "v1.0", `{"requests":[{"id":"1","method":"GET","url":"/print/operations/81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4"},{"id":"2","method":"GET","url":"/teams('t')/operations('o')"}]}`)
	if got := b["1"]; got != http.StatusForbidden {
		t.Errorf("print in a $batch with an app-only token: %d, want 403", got)
	}
	if got := b["2"]; got != http.StatusNotFound {
		t.Errorf("a key-syntax request in a $batch: %d, want 404 (served, and not there)", got)
	}
}

// batch posts body to /{version}/$batch with token and returns each inner
// answer's status by id.
func batch(t *testing.T, tn *graphtest.Tenant, token, version, body string) map[string]int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tn.GraphEndpoint+"/"+version+"/$batch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, tn, req, token, "Content-Type", "application/json")
	var ans struct {
		Responses []struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
		} `json:"responses"`
	}
	if r.StatusCode != http.StatusOK || json.Unmarshal(r.body, &ans) != nil {
		t.Fatalf("$batch: %d %s", r.StatusCode, r.body)
	}
	out := map[string]int{}
	for _, a := range ans.Responses {
		out[a.ID] = a.Status
	}
	return out
}
