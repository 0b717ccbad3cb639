package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// The Graph client's and the credentials' own containment of the token and
// the secret; the binary's (config, pages, logs) is tested in the root
// package's secrets_test.go.

// trap is a host the token and the credentials must never reach: a TLS
// server (with httptest's certificate) that counts every connection, even
// one whose handshake fails, and records every request.
type trap struct {
	srv   *httptest.Server
	conns atomic.Int32
	mu    sync.Mutex
	reqs  []string
}

func newTrap(t *testing.T) *trap {
	t.Helper()
	tr := &trap{}
	tr.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tr.mu.Lock()
		tr.reqs = append(tr.reqs, fmt.Sprintf("%s %s Authorization=%q body=%q", r.Method, r.URL, r.Header.Get("Authorization"), b))
		tr.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"succeeded","access_token":"trapped","token_type":"Bearer","expires_in":3600}`)
	}))
	tr.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tr.conns.Add(1)
		}
	}
	tr.srv.StartTLS()
	t.Cleanup(tr.srv.Close)
	return tr
}

// check fails the test if anything reached the trap.
func (tr *trap) check(t *testing.T, what string) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if n := tr.conns.Load(); n != 0 || len(tr.reqs) != 0 {
		t.Errorf("%s: %d connections to the foreign host %s, requests:\n%s", what, n, tr.srv.URL, strings.Join(tr.reqs, "\n"))
	}
}

// fakeAuthority is an identity platform that answers MSAL's discovery
// like Entra ID and the token request as token says.
func fakeAuthority(t *testing.T, token http.HandlerFunc) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(segs) == 4 && segs[3] == "openid-configuration" {
			base := srv.URL + "/" + segs[0]
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"token_endpoint":                        base + "/oauth2/v2.0/token",
				"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt"},
				"jwks_uri":                              base + "/discovery/v2.0/keys",
				"issuer":                                base + "/v2.0",
				"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
				"response_modes_supported":              []string{"query"},
				"subject_types_supported":               []string{"pairwise"},
				"id_token_signing_alg_values_supported": []string{"RS256"},
				"response_types_supported":              []string{"code"},
				"scopes_supported":                      []string{"openid"},
			})
			return
		}
		token(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type staticTokenSource string

func (s staticTokenSource) Token(context.Context) (string, error) { return string(s), nil }

// graphtestClient is a Graph client of tn with a client secret.
func graphtestClient(t *testing.T, tn *graphtest.Tenant) *graph.Client {
	t.Helper()
	m := graph.NewMetrics()
	ts, err := graph.NewTokenSource(graph.CredentialOptions{Tenant: "contoso", TenantID: tn.TenantID, ClientID: tn.ClientID,
		AuthorityHost: tn.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: tn.GraphEndpoint, Kind: graph.CredentialClientSecret, Secret: tn.ClientSecret,
		HTTPClient: tn.HTTPClient(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.NewClient(graph.ClientOptions{Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint, Tokens: ts, HTTPClient: tn.HTTPClient(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The client refuses a request path that would leave the Graph host,
// whatever made it.
func TestClientRefusesPathsOffHost(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tr := newTrap(t)
	trapHost := strings.TrimPrefix(tr.srv.URL, "https://")
	// The client itself refuses a request path that would leave the host,
	// whatever made it.
	c := graphtestClient(t, tn)
	for _, p := range []string{"@" + trapHost + "/beta/x/operations/1", ":1@" + trapHost + "/beta/x/operations/1", "." + trapHost + "/beta/x/operations/1"} {
		if _, err := c.GetOperation(context.Background(), graph.OperationRef{Scope: graph.ScopeCustom, ID: "1", Path: p}); err == nil {
			t.Errorf("GetOperation with path %q: no error", p)
		}
	}
	tr.check(t, "crafted path")
}

// Redirects from Graph and from the identity platform are never followed:
// the token and the secret stay where they were sent.
func TestRedirectsNotFollowed(t *testing.T) {
	t.Run("Graph redirects", func(t *testing.T) {
		tr := newTrap(t)
		for _, status := range []int{301, 302, 303, 307, 308} {
			var graphHits atomic.Int32
			g := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				graphHits.Add(1)
				w.Header().Set("Location", tr.srv.URL+r.URL.RequestURI())
				w.WriteHeader(status)
			}))
			c, err := graph.NewClient(graph.ClientOptions{Tenant: "t", GraphEndpoint: g.URL, Tokens: staticTokenSource("secret-token"),
				HTTPClient: g.Client(), Batch: true, MaxConcurrency: 2})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetOperation(context.Background(), graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "x"})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint(status)) {
				t.Errorf("GET answered %d: error %v", status, err)
			}
			var errs []error
			var mu sync.Mutex
			c.GetOperations(context.Background(), []graph.OperationRef{{Scope: graph.ScopeIndustryData, ID: "a"}, {Scope: graph.ScopeIndustryData, ID: "b"}},
				func(_ int, _ *graph.Operation, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
			for _, err := range errs {
				if err == nil {
					t.Errorf("$batch answered %d: no error", status)
				}
			}
			// One GET, one $batch, and the single GETs it falls back to (a
			// 3xx for a $batch is a refusal): each was answered, none followed.
			if n := graphHits.Load(); n < 2 || n > 4 {
				t.Errorf("%d: Graph got %d requests, want 2 to 4: a redirect was followed", status, n)
			}
			g.Close()
		}
		tr.check(t, "Graph redirect")
	})

	// The client secret travels in the body of the token request, which
	// Go's HTTP client sends again to wherever a 307 or 308 points.
	t.Run("identity platform redirects", func(t *testing.T) {
		for _, status := range []int{302, 307, 308} {
			t.Run(fmt.Sprint(status), func(t *testing.T) {
				tr := newTrap(t)
				fa := fakeAuthority(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Location", tr.srv.URL+"/common/oauth2/v2.0/token")
					w.WriteHeader(status)
				})
				const secret = "Zq8~Fz.inline_SECRET-0123456789abcdefGHIJ"
				// httptest's client, as a caller's HTTPClient; the binary below
				// has the default one.
				ts, err := graph.NewTokenSource(graph.CredentialOptions{Tenant: "t", TenantID: "00000000-0000-0000-0000-000000000000",
					ClientID: "11111111-1111-1111-1111-111111111111", AuthorityHost: fa.URL, DisableInstanceDiscovery: true, GraphEndpoint: "https://graph.example",
					Kind: graph.CredentialClientSecret, Secret: secret, HTTPClient: fa.Client(), Metrics: graph.NewMetrics()})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				tok, err := ts.Token(ctx)
				cancel()
				if err == nil {
					t.Errorf("got a token %q through a %d redirect", tok, status)
				}
				tr.check(t, fmt.Sprintf("identity platform %d", status))
			})
		}
	})

}

// MSAL's error for a refused token request quotes the identity platform's
// answer, which may quote the request: the token error must hide the
// credential in every form it can take there, whole or in part.
func TestTokenErrorHidesTheSecret(t *testing.T) {
	// A federated token is a JWT, as Kubernetes projects it.
	const jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bW9uaXRvcmluZzptc2dyYXBoLWxybyJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1pc3N1ZWQtYnkta3ViZXJuZXRlcw"
	for name, tc := range map[string]struct {
		kind, secret string
		echo         func(secret string, form []byte) string
	}{
		"as sent": {graph.CredentialClientSecret, "Zq8~Fz.inline_SECRET-0123456789abcdefGHIJ", func(s string, _ []byte) string {
			return "AADSTS7000215: Invalid client secret provided: " + s
		}},
		"form-encoded": {graph.CredentialClientSecret, "Zq8+Fz/inline=SECRET&0123456789abcdef%GHIJ", func(_ string, form []byte) string {
			return "AADSTS7000215: Invalid client secret provided: " + string(form)
		}},
		"cut short by the error's length limit": {graph.CredentialClientSecret, "Zq8~Fz.inline_SECRET-0123456789abcdefGHIJ", func(s string, _ []byte) string {
			return "AADSTS7000215: " + strings.Repeat("x", 265) + s
		}},
		"federated token": {graph.CredentialFederatedToken, jwt, func(_ string, form []byte) string {
			return "AADSTS7000215: Invalid client assertion provided: " + string(form)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			fa := fakeAuthority(t, func(w http.ResponseWriter, r *http.Request) {
				form, _ := io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_codes": []int{7000215},
					"error_description": tc.echo(tc.secret, form)})
			})
			o := graph.CredentialOptions{Tenant: "t", TenantID: "00000000-0000-0000-0000-000000000000",
				ClientID: "11111111-1111-1111-1111-111111111111", AuthorityHost: fa.URL, DisableInstanceDiscovery: true, GraphEndpoint: "https://graph.example",
				Kind: tc.kind, HTTPClient: fa.Client()}
			if tc.kind == graph.CredentialFederatedToken {
				o.FederatedTokenPath = filepath.Join(t.TempDir(), "token")
				if err := os.WriteFile(o.FederatedTokenPath, []byte(tc.secret), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				o.Secret = tc.secret
			}
			ts, err := graph.NewTokenSource(o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts.Token(context.Background())
			if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
				t.Fatalf("Token: %v, want the identity platform's AADSTS7000215", err)
			}
			msg := err.Error()
			for _, form := range []string{tc.secret, url.QueryEscape(tc.secret), tc.secret[:16], url.QueryEscape(tc.secret)[:16]} {
				if strings.Contains(msg, form) {
					t.Errorf("the token error shows the credential (%q):\n%s", form, msg)
				}
			}
		})
	}
}
