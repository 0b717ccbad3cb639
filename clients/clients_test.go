package clients

import (
	"strings"
	"testing"

	"github.com/msgraph-lro/msgraph_lro_exporter/config"
)

// A tenant's identity changes with its directory, app, credential kind,
// delegated app and endpoints, not with its secret, and never holds it.
func TestIdentity(t *testing.T) {
	base := config.Tenant{Name: "contoso", TenantID: "00000000-0000-0000-0000-000000000000", ClientID: "11111111-1111-1111-1111-111111111111",
		Credential: config.CredentialClientSecret, Secret: "Zq8~Fz.inline_SECRET-0123456789abcdefGHIJ",
		AuthorityHost: "https://login.microsoftonline.com", GraphEndpoint: "https://graph.microsoft.com"}
	id := Identity(base)
	if strings.Contains(id, base.Secret.Reveal()) {
		t.Fatalf("the identity holds the secret: %q", id)
	}
	rotated := base
	rotated.Secret = "Kp3~Wd.file_SECRET-9876543210zyxwvuTSRQP"
	if Identity(rotated) != id {
		t.Error("a rotated secret changed the identity")
	}
	for name, change := range map[string]func(*config.Tenant){
		"tenant_id":  func(t *config.Tenant) { t.TenantID = "22222222-2222-2222-2222-222222222222" },
		"client_id":  func(t *config.Tenant) { t.ClientID = "33333333-3333-3333-3333-333333333333" },
		"credential": func(t *config.Tenant) { t.Credential = config.CredentialManagedIdentity },
		"delegated": func(t *config.Tenant) {
			t.Delegated = &config.Delegated{ClientID: "44444444-4444-4444-4444-444444444444"}
		},
		"authority_host": func(t *config.Tenant) { t.AuthorityHost = "https://login.microsoftonline.us" },
		"graph_endpoint": func(t *config.Tenant) { t.GraphEndpoint = "https://graph.microsoft.us" },
	} {
		other := base
		change(&other)
		if Identity(other) == id {
			t.Errorf("a changed %s kept the identity", name)
		}
	}
}
