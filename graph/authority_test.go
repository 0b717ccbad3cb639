package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// With instance discovery on (the default), MSAL asks Entra's worldwide
// discovery about an authority host it does not know before it sends that
// host anything. Entra does not know 127.0.0.1, as it would not know a
// mistyped or hostile authority_host, so the secret never leaves: no token
// request reaches the host, and the error says what to check.
func TestInstanceDiscoveryGuardsTheSecret(t *testing.T) {
	for _, kind := range []string{"app", "delegated"} {
		t.Run(kind, func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			m := graph.NewMetrics()
			var ts graph.TokenSource
			var err error
			if kind == "app" {
				o := credOptions(tn, m)
				o.DisableInstanceDiscovery = false
				o.Kind, o.Secret = graph.CredentialClientSecret, tn.ClientSecret
				ts, err = graph.NewTokenSource(o)
			} else {
				ts, err = graph.NewDelegatedTokenSource(graph.DelegatedOptions{Tenant: "contoso", TenantID: tn.TenantID, ClientID: tn.ClientID,
					AuthorityHost: tn.AuthorityHost, GraphEndpoint: tn.GraphEndpoint, CacheFile: t.TempDir() + "/cache.json",
					LoginCommand: "msgraph_lro_exporter login", HTTPClient: tn.HTTPClient(), Metrics: m})
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts.Token(context.Background())
			if kind == "delegated" {
				// No sign-in in the cache: MSAL does not resolve the
				// authority for a silent call without an account, so
				// sign in first, which does.
				_, err = graph.Login(context.Background(), graph.LoginOptions{TenantID: tn.TenantID, ClientID: tn.ClientID,
					AuthorityHost: tn.AuthorityHost, GraphEndpoint: tn.GraphEndpoint, Cache: &graph.MemoryTokenCache{},
					DeviceCode: true, HTTPClient: tn.HTTPClient(), Out: &strings.Builder{}})
			}
			if err == nil {
				t.Fatal("a token came from an authority Entra does not know")
			}
			for _, want := range []string{"invalid_instance", "disable_instance_discovery"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), tn.ClientSecret) {
				t.Error("the error holds the secret")
			}
			// MSAL's confidential client resolves the authority for its
			// cache, then for the request; the public client's device code
			// flow once.
			want := map[string]int{"app": 2, "delegated": 1}[kind]
			if got := tn.InstanceDiscoveryRequests(); got != want {
				t.Errorf("instance discovery requests: got %d, want %d", got, want)
			}
			if got := tn.TokenRequests(); got != 0 {
				t.Errorf("token requests reached the unknown host: %d, want 0", got)
			}
		})
	}
}

// Where Entra's discovery knows the host, MSAL follows the tenant
// discovery endpoint it names and the token comes as usual: validation
// costs one discovery request per client, not one per token.
func TestInstanceDiscoveryKnownHost(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.KnowInstance(true)
	m := graph.NewMetrics()
	o := credOptions(tn, m)
	o.DisableInstanceDiscovery = false
	o.Kind, o.Secret = graph.CredentialClientSecret, tn.ClientSecret
	ts, err := graph.NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := ts.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := tn.InstanceDiscoveryRequests(); got != 2 {
		t.Errorf("instance discovery requests: got %d, want 2 (MSAL resolves the authority for its cache, then for the request)", got)
	}
	if got := tn.TokenRequests(); got != 1 {
		t.Errorf("token requests: got %d, want 1", got)
	}
}

// Subject name and issuer authentication: a certificate the app
// registration does not hold, issued by a trusted CA for a trusted
// subject, is accepted only with its chain (send_certificate_chain); a
// renewed certificate works with no change to the registration.
func TestSendCertificateChain(t *testing.T) {
	tn := graphtest.NewTenant(t)
	for _, tc := range []struct {
		name  string
		chain bool
		want  string // in the error; "" for a token
	}{
		{"without the chain", false, "AADSTS700027"},
		{"with the chain", true, ""},
		{"renewed, with the chain", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := graph.NewMetrics()
			o := credOptions(tn, m)
			o.Kind, o.CertificatePEM, o.SendCertificateChain = graph.CredentialClientCertificate, tn.SubjectNameCertificatePEM("exporter.contoso.example"), tc.chain
			ts, err := graph.NewTokenSource(o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts.Token(context.Background())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("no token: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %s", err, tc.want)
			}
		})
	}
	// A certificate for a subject the registration does not trust is
	// refused even with its chain.
	m := graph.NewMetrics()
	o := credOptions(tn, m)
	o.Kind, o.CertificatePEM, o.SendCertificateChain = graph.CredentialClientCertificate, tn.SubjectNameCertificatePEM("someone-else.example"), true
	tn.DistrustSubject("someone-else.example")
	ts, err := graph.NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("untrusted subject: got %v, want AADSTS700027", err)
	}
}

// The chain means something only for a certificate.
func TestSendCertificateChainNeedsACertificate(t *testing.T) {
	tn := graphtest.NewTenant(t)
	o := credOptions(tn, graph.NewMetrics())
	o.Kind, o.Secret, o.SendCertificateChain = graph.CredentialClientSecret, tn.ClientSecret, true
	if _, err := graph.NewTokenSource(o); err == nil || err.Error() != "the certificate chain is sent only with a client certificate" {
		t.Fatalf("got %v", err)
	}
}
