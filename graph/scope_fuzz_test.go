package graph_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// fuzzEndpoints are Graph endpoints a tenant may have: a cloud's, and a
// test's or proxy's with a port.
var fuzzEndpoints = []string{"https://graph.microsoft.com", "https://127.0.0.1:8443", "https://dod-graph.microsoft.us"}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }

// ParseOperationURL turns what a user pastes into what the client asks
// Graph for, so everything the token may be sent to passes through it.
// Properties of a URL it accepts:
//   - absolute, it was https on the endpoint's host;
//   - the path starts /v1.0/ or /beta/, ends operations/{id}, and has no
//     empty, "." or ".." segment (nothing climbs out of the API);
//   - the scope is known, the id is the last segment;
//   - parsing the result again gives the same ref (a pasted URL and the
//     ref it became are the same operation: one cache key);
//   - a recognised scope's ref, rebuilt from its fields, has the same path;
//   - the URL the client requests is on the endpoint's host, with that path
//     and query, and the client would send the token there.
//
// And of one it refuses: the error never quotes a password given in the
// URL's user information.
func FuzzParseOperationURL(f *testing.F) {
	for _, s := range []string{
		"https://graph.microsoft.com/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x&aadgsu=y",
		"https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/operations/refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert",
		"https://GRAPH.microsoft.com/beta/external/industryData/operations/d194fa3e-18c9-47a1-0fb1-08dad8e7a876",
		"/beta/external/industryData/operations/d194",
		"v1.0/sites/contoso.sharepoint.com,2c712a2f-f0a6-4b1b-8b25-7a1f6b0f1c4e,8b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d/operations/copy,1",
		"/v1.0/solutions/backupRestore/operations/abc",
		"https://127.0.0.1:8443/beta/users/bob%40contoso.com/authentication/operations/a%20b",
		"https://evil.example/beta/external/industryData/operations/x",
		"http://graph.microsoft.com/beta/external/industryData/operations/x",
		"https://user:hunter2@graph.microsoft.com/beta/external/industryData/operations/x",
		"//evil.example/beta/external/industryData/operations/x",
		"/beta/external/industryData/operations/..",
		"/beta/external/industryData/operations/%2E%2E",
		"/beta/users/a%2Fb/authentication/operations/x",
		"/beta/x/operations/a#frag",
		"/beta//operations/x",
		"https://graph.microsoft.com:443/beta/external/industryData/operations/x",
		"https://graph.microsoft.com/beta/external/industryData/operations/x?$select=status&%zz",
		// Location headers of the other kinds, as Graph sends them.
		"/teams('dbd8de4f-5d47-48da-87f1-594bed003375')/operations('3a6fdce1-c261-48bc-89de-1cfef658c0d5')",
		"https://graph.microsoft.com/v1.0/security/cases/ediscoverycases('b0073e4e-4184-41c6-9eb7-8c8cc3e2288b')/operations('850c2f64b1ee44a4a69729327aac2b04')",
		"https://graph.microsoft.com/v1.0/external/connections/contosohr/operations/3ed1595a-4bae-43c2-acda-ef973e581323",
		"/v1.0/employeeExperience/engagementAsyncOperations/eyJfdHlwZSI6IkxvbmdSdW5uaW5nT3BlcmF0aW9uIn0",
		"/v1.0/print/operations/81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4",
		"/v1.0/users/alice@contoso.com/onenote/operations/id-value",
		"/v1.0/sites/root/lists/Documents/operations/contentTypeCopy,0x0101",
		"/beta/security/attackSimulation/operations/2f5548d1-0dd8-4cc8-9de0-e0d6ec7ea3dc",
		"/teams(%27a%27%27b%27)/operations(7)",
		"/v1.0/teams('a'b')/operations('c')",
		"/v1.0/x/y(z)/operations/(a)",
	} {
		for i := range fuzzEndpoints {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, raw string) {
		ep := fuzzEndpoints[int(which)%len(fuzzEndpoints)]
		epURL, _ := url.Parse(ep)
		ref, err := graph.ParseOperationURL(ep, raw)
		if err != nil {
			if u, perr := url.Parse(strings.TrimSpace(raw)); perr == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) >= 4 && !strings.Contains(u.Host+u.Path+u.RawQuery, pw) &&
					strings.Contains(err.Error(), pw) {
					t.Errorf("ParseOperationURL(%q): error quotes the password: %v", raw, err)
				}
			}
			return
		}
		if u, perr := url.Parse(strings.TrimSpace(raw)); perr == nil && (u.IsAbs() || u.Host != "") {
			if u.Scheme != "https" || !strings.EqualFold(u.Host, epURL.Host) {
				t.Fatalf("ParseOperationURL(%q, %q) accepted %s://%s", ep, raw, u.Scheme, u.Host)
			}
		}
		if !strings.HasPrefix(ref.Path, "/v1.0/") && !strings.HasPrefix(ref.Path, "/beta/") {
			t.Fatalf("Path %q does not start /v1.0/ or /beta/", ref.Path)
		}
		if v := ref.Version(); v != "v1.0" && v != "beta" {
			t.Errorf("Version() = %q", v)
		}
		segs := strings.Split(ref.Path[1:], "/")
		for _, s := range segs {
			u, err := url.PathUnescape(s)
			if err != nil || u == "" || u == "." || u == ".." || strings.Contains(u, "/") {
				t.Fatalf("Path %q has segment %q (%q, %v)", ref.Path, s, u, err)
			}
		}
		if len(segs) < 3 || !strings.HasSuffix(strings.ToLower(segs[len(segs)-2]), "operations") {
			t.Errorf("Path %q does not end in operations/{id}", ref.Path)
		}
		if last, _ := url.PathUnescape(segs[len(segs)-1]); ref.ID == "" || ref.ID != last {
			t.Errorf("ID %q, last segment %q", ref.ID, last)
		}
		if !slices.Contains(graph.Scopes, ref.Scope) {
			t.Errorf("Scope %q is not one of %v", ref.Scope, graph.Scopes)
		}
		again := ref.Path
		if ref.RawQuery != "" {
			again += "?" + ref.RawQuery
		}
		ref2, err := graph.ParseOperationURL(ep, again)
		if err != nil || ref2 != ref {
			t.Errorf("ParseOperationURL(%q) = %+v; its own %q gives %+v, %v", raw, ref, again, ref2, err)
		}
		if k := ref.Kind(); ref.Scope != graph.ScopeCustom && ref.Version() == k.Version {
			fields := graph.OperationRef{Scope: ref.Scope, ID: ref.ID}
			for _, p := range k.Parents {
				fields.SetParent(p, ref.Parent(p))
			}
			if fields.URLPath() != ref.Path {
				t.Errorf("ParseOperationURL(%q).Path = %q, but the same operation by its fields is %q", raw, ref.Path, fields.URLPath())
			}
		}
		c, err := graph.NewClient(graph.ClientOptions{Tenant: "t", GraphEndpoint: ep, Tokens: staticToken("tok")})
		if err != nil {
			t.Fatal(err)
		}
		u, err := c.OperationURL(ref)
		if err != nil {
			t.Fatalf("OperationURL(%+v): %v", ref, err)
		}
		if !c.MayCarryToken(u) || u.Host != epURL.Host || u.User != nil {
			t.Fatalf("OperationURL(%+v) = %s: not the endpoint %s, or no token allowed", ref, u, ep)
		}
		back, err := url.Parse(u.String())
		if err != nil || back.Host != epURL.Host || back.EscapedPath() != ref.Path || back.Fragment != "" {
			t.Errorf("OperationURL(%+v) = %q: reparsed host %q, path %q, fragment %q (%v)", ref, u, back.Host, back.EscapedPath(), back.Fragment, err)
		}
		if !strings.HasPrefix(back.RawQuery, ref.RawQuery) || (ref.Scope == graph.ScopeCustom && back.RawQuery != ref.RawQuery) {
			t.Errorf("OperationURL(%+v) = %q: query %q, want %q as pasted", ref, u, back.RawQuery, ref.RawQuery)
		}
	})
}
