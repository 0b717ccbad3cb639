package graph_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

func credOptions(tn *graphtest.Tenant, m *graph.Metrics) graph.CredentialOptions {
	return graph.CredentialOptions{
		Tenant: "contoso", TenantID: tn.TenantID, ClientID: tn.ClientID,
		AuthorityHost: tn.AuthorityHost, DisableInstanceDiscovery: true, GraphEndpoint: tn.GraphEndpoint,
		HTTPClient: tn.HTTPClient(), Metrics: m,
	}
}

func tokenCount(m *graph.Metrics, result string) float64 {
	return testutil.ToFloat64(m.TokenRequests.WithLabelValues("contoso", result))
}

// Each credential kind gets a token from the simulated identity platform
// through the real MSAL client, once: the second call is served by MSAL's
// cache and not counted.
func TestEveryCredentialKind(t *testing.T) {
	for _, kind := range []string{graph.CredentialClientSecret, graph.CredentialClientCertificate, graph.CredentialFederatedToken, graph.CredentialManagedIdentity} {
		t.Run(kind, func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			m := graph.NewMetrics()
			o := credOptions(tn, m)
			o.Kind = kind
			switch kind {
			case graph.CredentialClientSecret:
				o.Secret = tn.ClientSecret
			case graph.CredentialClientCertificate:
				o.CertificatePEM = tn.CertificatePEM()
			case graph.CredentialFederatedToken:
				o.FederatedTokenPath = filepath.Join(t.TempDir(), "token")
				if err := os.WriteFile(o.FederatedTokenPath, []byte(tn.FederatedToken()+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			case graph.CredentialManagedIdentity:
				t.Setenv("IDENTITY_ENDPOINT", tn.ManagedIdentityEndpoint)
				t.Setenv("IDENTITY_HEADER", tn.IdentityHeader)
			}
			ts, err := graph.NewTokenSource(o)
			if err != nil {
				t.Fatal(err)
			}
			tok1, err := ts.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tok2, err := ts.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok1 == "" || tok1 != tok2 {
				t.Errorf("tokens %q and %q: want the same, cached", tok1, tok2)
			}
			if got := tn.TokenRequests(); got != 1 {
				t.Errorf("identity platform got %d token requests, want 1", got)
			}
			if got := tokenCount(m, "success"); got != 1 {
				t.Errorf("token_requests_total{result=success} = %v, want 1", got)
			}
		})
	}
}

// The federated token file is read again for every token request, so a
// rotated token is picked up.
func TestFederatedTokenFileIsReread(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetTokenLifetime(time.Minute) // MSAL renews anything expiring within 5 minutes: every call asks
	m := graph.NewMetrics()
	o := credOptions(tn, m)
	o.Kind = graph.CredentialFederatedToken
	o.FederatedTokenPath = filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		if err := os.WriteFile(o.FederatedTokenPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(tn.FederatedToken())
	ts, err := graph.NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	graph.SetTokenClock(ts, func() time.Time { return now }, nil)
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	rotated := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RhdGVkIn0.c2lnbmF0dXJl"
	tn.SetFederatedToken(rotated)
	now = now.Add(time.Minute) // past the reuse of a short-lived token
	if _, err := ts.Token(context.Background()); err == nil {
		t.Fatal("the old federated token was accepted after rotation")
	}
	write(rotated)
	now = now.Add(10 * time.Minute) // past the back-off of the failure
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatalf("the rotated file was not read: %v", err)
	}
	if got := tokenCount(m, "error"); got != 1 {
		t.Errorf("token_requests_total{result=error} = %v, want 1", got)
	}
}

// A refused credential gives an error that says why (AADSTS…) and holds no
// secret.
func TestWrongSecretErrorHoldsNoSecret(t *testing.T) {
	tn := graphtest.NewTenant(t)
	m := graph.NewMetrics()
	o := credOptions(tn, m)
	o.Kind = graph.CredentialClientSecret
	o.Secret = "Wr0ng~s3cret.value-that-must-not-leak"
	ts, err := graph.NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token(context.Background())
	if err == nil {
		t.Fatal("a wrong secret got a token")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "token: ") || !strings.Contains(msg, "AADSTS7000215") {
		t.Errorf("error does not say what the identity platform said: %s", msg)
	}
	for _, s := range []string{o.Secret, tn.ClientSecret} {
		if strings.Contains(msg, s) {
			t.Errorf("error holds a secret: %s", msg)
		}
	}
	if got := tokenCount(m, "error"); got != 1 {
		t.Errorf("token_requests_total{result=error} = %v, want 1", got)
	}
}

func TestNewTokenSourceRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		o    graph.CredentialOptions
		want string
	}{
		"empty secret": {graph.CredentialOptions{Kind: graph.CredentialClientSecret}, "client secret is empty"},
		"bad pem":      {graph.CredentialOptions{Kind: graph.CredentialClientCertificate, CertificatePEM: []byte("-----BEGIN NOPE-----")}, "client certificate: cannot read the certificate and private key from the PEM data"},
		"unknown kind": {graph.CredentialOptions{Kind: "password"}, `unknown credential kind "password"`},
		"unreachable authority: nothing contacted at construction": {graph.CredentialOptions{Kind: graph.CredentialClientSecret, Secret: "s", AuthorityHost: "https://login.example", TenantID: "t", ClientID: "c"}, ""},
	} {
		_, err := graph.NewTokenSource(tc.o)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: error %q, want %q", name, got, tc.want)
		}
	}
}

// A client certificate's NotAfter is shown per tenant; a later call with
// other clients (a reload) shows only theirs.
func TestCredentialExpiry(t *testing.T) {
	pemData, err := os.ReadFile("../config/testdata/client.pem") // NotAfter Oct 30 01:48:59 2126 GMT
	if err != nil {
		t.Fatal(err)
	}
	m := graph.NewMetrics()
	client := func(name string, o graph.CredentialOptions) *graph.Client {
		t.Helper()
		o.Tenant, o.TenantID, o.ClientID = name, "00000000-0000-0000-0000-000000000000", "11111111-1111-1111-1111-111111111111"
		o.AuthorityHost, o.GraphEndpoint = "https://login.microsoftonline.com", "https://graph.microsoft.com"
		ts, err := graph.NewTokenSource(o)
		if err != nil {
			t.Fatal(err)
		}
		c, err := graph.NewClient(graph.ClientOptions{Tenant: name, GraphEndpoint: o.GraphEndpoint, Tokens: ts, Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cert := client("contoso", graph.CredentialOptions{Kind: graph.CredentialClientCertificate, CertificatePEM: pemData})
	secret := client("fabrikam", graph.CredentialOptions{Kind: graph.CredentialClientSecret, Secret: "s3cr3t"})
	if got, ok := cert.CredentialExpiry(); !ok || got.Unix() != 4948998539 {
		t.Errorf("certificate expiry %v %v, want 2126-10-30T01:48:59Z", got, ok)
	}
	if _, ok := secret.CredentialExpiry(); ok {
		t.Error("a client secret reports an expiry")
	}

	m.SetCredentialExpiry(map[string]*graph.Client{"contoso": cert, "fabrikam": secret})
	if err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP msgraph_lro_credential_expiry_timestamp_seconds When the tenant's credential expires, in Unix seconds: a client certificate's NotAfter. Absent for credentials whose expiry the exporter cannot see (client secrets: see the app registration).
# TYPE msgraph_lro_credential_expiry_timestamp_seconds gauge
msgraph_lro_credential_expiry_timestamp_seconds{tenant="contoso"} 4.948998539e+09
`), "msgraph_lro_credential_expiry_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	m.SetCredentialExpiry(map[string]*graph.Client{"fabrikam": secret})
	if n := testutil.CollectAndCount(m, "msgraph_lro_credential_expiry_timestamp_seconds"); n != 0 {
		t.Errorf("after a reload without the certificate: %d series, want 0", n)
	}
}
