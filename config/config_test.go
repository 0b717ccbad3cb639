package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// The secrets the testdata uses. None may appear in an error or a warning.
var testSecrets = []string{
	"inline-s3cr3t-value", // inline client_secret
	"file-s3cr3t-value",   // testdata/secret.txt
	"url-s3cr3t-password", // user information in a URL
	"PRIVATE KEY",         // any PEM key block
	"MII",                 // the start of any DER in base64
}

func checkNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range testSecrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s reveals the secret %q: %s", what, secret, s)
		}
	}
}

// setupTestdata gives the checked-in secret files the mode they would be
// deployed with (git keeps no modes), so that they cause no warning, and
// clears the workload identity environment a developer's shell may set.
func setupTestdata(t *testing.T) {
	t.Helper()
	for _, glob := range []string{"testdata/*.pem", "testdata/*.txt"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.Chmod(f, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, env := range []string{envFederatedTokenFile, envTenantID, envClientID} {
		t.Setenv(env, "")
	}
}

func TestInvalidConfigs(t *testing.T) {
	setupTestdata(t)
	tests := map[string]string{
		// Reading the YAML.
		"invalid-yaml-syntax.yml":                  `testdata/invalid-yaml-syntax.yml:4: mapping values are not allowed in this context`,
		"invalid-multiple-documents.yml":           `testdata/invalid-multiple-documents.yml:6: a second YAML document; the config is one document`,
		"invalid-not-mapping.yml":                  `testdata/invalid-not-mapping.yml:1: must be a mapping, got a list`,
		"invalid-unknown-key-top.yml":              `testdata/invalid-unknown-key-top.yml:6: unknown key "discover"`,
		"invalid-unknown-key-global.yml":           `testdata/invalid-unknown-key-global.yml:2: global: unknown key "cache_tll"`,
		"invalid-unknown-key-tenant.yml":           `testdata/invalid-unknown-key-tenant.yml:5: tenants[0]: unknown key "client_secrt"`,
		"invalid-unknown-key-operation.yml":        `testdata/invalid-unknown-key-operation.yml:8: operations[0]: unknown key "scopes"`,
		"invalid-unknown-key-managed-identity.yml": `testdata/invalid-unknown-key-managed-identity.yml:4: tenants[0]: managed_identity: unknown key "clientid"`,
		"invalid-repeated-key.yml":                 `testdata/invalid-repeated-key.yml:6: tenants[0]: name: repeated key (first at line 2)`,
		"invalid-duration.yml":                     `testdata/invalid-duration.yml:2: global: cache_ttl: must be a duration such as 30s, 5m or 1h, got "30 seconds"`,
		"invalid-max-concurrency-type.yml":         `testdata/invalid-max-concurrency-type.yml:2: global: max_concurrency: must be an integer, got "4.5"`,
		"invalid-tenants-type.yml":                 `testdata/invalid-tenants-type.yml:2: tenants: must be a list, got a mapping`,
		"invalid-client-secret-type.yml":           `testdata/invalid-client-secret-type.yml:5: tenants[0]: client_secret: must be a string, got a list`,
		"invalid-labels-type.yml":                  `testdata/invalid-labels-type.yml:10: operations[0]: labels: must be a mapping of names to strings, got a list`,

		// global
		"invalid-cache-ttl.yml":          `testdata/invalid-cache-ttl.yml:2: global: cache_ttl: must be positive, got -1s`,
		"invalid-terminal-cache-ttl.yml": `testdata/invalid-terminal-cache-ttl.yml:2: global: terminal_cache_ttl: must be positive, got 0s`,
		"invalid-request-timeout.yml":    `testdata/invalid-request-timeout.yml:2: global: request_timeout: must be positive, got 0s`,
		"invalid-max-concurrency.yml":    `testdata/invalid-max-concurrency.yml:2: global: max_concurrency: must be at least 1, got 0`,

		// tenants
		"invalid-no-tenants.yml":                          `testdata/invalid-no-tenants.yml:3: tenants: at least one tenant is required`,
		"invalid-tenant-name-missing.yml":                 `testdata/invalid-tenant-name-missing.yml:2: tenants[0]: name: is required`,
		"invalid-tenant-name-control.yml":                 `testdata/invalid-tenant-name-control.yml:2: tenants[0] "con\ttoso": name: must be valid UTF-8 without control characters`,
		"invalid-tenant-name-duplicate.yml":               `testdata/invalid-tenant-name-duplicate.yml:6: tenants[1] "contoso": name: duplicate of tenants[0] (line 2)`,
		"invalid-tenant-id-missing.yml":                   `testdata/invalid-tenant-id-missing.yml:2: tenants[0] "contoso": tenant_id: is required`,
		"invalid-tenant-id.yml":                           `testdata/invalid-tenant-id.yml:3: tenants[0] "contoso": tenant_id: "contoso com" is neither a GUID nor a domain name`,
		"invalid-client-id-missing.yml":                   `testdata/invalid-client-id-missing.yml:2: tenants[0] "contoso": client_id: is required with client_secret`,
		"invalid-client-id.yml":                           `testdata/invalid-client-id.yml:4: tenants[0] "contoso": client_id: "my-app" is not a GUID`,
		"invalid-managed-identity-client-id.yml":          `testdata/invalid-managed-identity-client-id.yml:3: tenants[0] "contoso": managed_identity.client_id: "my-identity" is not a GUID`,
		"invalid-managed-identity-client-id-conflict.yml": `testdata/invalid-managed-identity-client-id-conflict.yml:3: tenants[0] "contoso": client_id: 11111111-1111-1111-1111-111111111111 differs from managed_identity.client_id 22222222-2222-2222-2222-222222222222`,
		"invalid-cloud.yml":                               `testdata/invalid-cloud.yml:5: tenants[0] "contoso": cloud: "azure" is not one of china, global, usgov, usgovdod`,
		"invalid-authority-host-http.yml":                 `testdata/invalid-authority-host-http.yml:5: tenants[0] "contoso": authority_host: must be https://host[:port]; "http://login.example.test" is not https`,
		"invalid-authority-host-path.yml":                 `testdata/invalid-authority-host-path.yml:5: tenants[0] "contoso": authority_host: must be https://host[:port]; "https://login.microsoftonline.com/contoso.onmicrosoft.com" has a path`,
		"invalid-graph-endpoint-query.yml":                `testdata/invalid-graph-endpoint-query.yml:5: tenants[0] "contoso": graph_endpoint: must be https://host[:port]; "https://graph.microsoft.com/?x=1" has a query`,
		"invalid-graph-endpoint-fragment.yml":             `testdata/invalid-graph-endpoint-fragment.yml:5: tenants[0] "contoso": graph_endpoint: must be https://host[:port]; "https://graph.microsoft.com#v1.0" has a fragment`,
		"invalid-graph-endpoint-no-host.yml":              `testdata/invalid-graph-endpoint-no-host.yml:5: tenants[0] "contoso": graph_endpoint: must be https://host[:port]; "https:///v1.0" has no host`,
		"invalid-graph-endpoint-userinfo.yml":             `testdata/invalid-graph-endpoint-userinfo.yml:5: tenants[0] "contoso": graph_endpoint: must be https://host[:port]; it has user information`,
		"invalid-credential-none.yml":                     `testdata/invalid-credential-none.yml:2: tenants[0] "contoso": credential: one of client_secret, client_secret_file, client_certificate_file, federated_token_file, managed_identity is required (or delegated, for password-reset operations only)`,
		"invalid-credential-multiple.yml":                 `testdata/invalid-credential-multiple.yml:6: tenants[0] "contoso": credential: only one of client_secret, client_secret_file, client_certificate_file, federated_token_file, managed_identity may be given, got client_secret and managed_identity`,
		"invalid-federated-token-file-empty.yml":          `testdata/invalid-federated-token-file-empty.yml:5: tenants[0] "contoso": federated_token_file: is empty and AZURE_FEDERATED_TOKEN_FILE is not set`,
		"invalid-client-secret-empty.yml":                 `testdata/invalid-client-secret-empty.yml:5: tenants[0] "contoso": client_secret: must not be empty`,
		"invalid-client-secret-file-path-empty.yml":       `testdata/invalid-client-secret-file-path-empty.yml:5: tenants[0] "contoso": client_secret_file: must not be empty`,
		"invalid-client-secret-file-missing.yml":          `testdata/invalid-client-secret-file-missing.yml:5: tenants[0] "contoso": client_secret_file: open /nonexistent/secret: no such file or directory`,
		"invalid-client-secret-file-empty.yml":            `testdata/invalid-client-secret-file-empty.yml:5: tenants[0] "contoso": client_secret_file: testdata/empty-secret.txt is empty`,
		"invalid-client-certificate-file-missing.yml":     `testdata/invalid-client-certificate-file-missing.yml:5: tenants[0] "contoso": client_certificate_file: open testdata/missing.pem: no such file or directory`,
		"invalid-client-certificate-no-key.yml":           `testdata/invalid-client-certificate-no-key.yml:5: tenants[0] "contoso": client_certificate_file: testdata/cert-only.pem: no private key found`,
		"invalid-client-certificate-no-cert.yml":          `testdata/invalid-client-certificate-no-cert.yml:5: tenants[0] "contoso": client_certificate_file: testdata/key-only.pem: no certificates found`,
		"invalid-client-certificate-not-pem.yml":          `testdata/invalid-client-certificate-not-pem.yml:5: tenants[0] "contoso": client_certificate_file: testdata/secret.txt: no certificates found`,
		"invalid-client-certificate-ec.yml":               `testdata/invalid-client-certificate-ec.yml:5: tenants[0] "contoso": client_certificate_file: testdata/ec.pem: the private key is ECDSA; an RSA key is required`,
		"invalid-client-certificate-mismatch.yml":         `testdata/invalid-client-certificate-mismatch.yml:5: tenants[0] "contoso": client_certificate_file: testdata/mismatch.pem: the private key does not belong to any certificate in the file`,

		// operations
		"invalid-op-tenant-missing.yml":             `testdata/invalid-op-tenant-missing.yml:7: operations[0] "8c2b5a9e": tenant: is required`,
		"invalid-op-tenant-unknown.yml":             `testdata/invalid-op-tenant-unknown.yml:7: operations[0] "refresh:X": tenant: "fabrikam" is not a configured tenant`,
		"invalid-op-url-not-operation.yml":          `testdata/invalid-op-url-not-operation.yml:8: operations[0] "/v1.0/me": url: path "/v1.0/me" does not end in operations/{id}`,
		"invalid-op-url.yml":                        `testdata/invalid-op-url.yml:8: operations[0] "https://graph.microsoft.us/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x&aadgsu=y": url: host "graph.microsoft.us" is not the tenant's Graph endpoint https://graph.microsoft.com`,
		"invalid-op-url-with-id.yml":                `testdata/invalid-op-url-with-id.yml:9: operations[0] "9f1c": id: must not be set together with url`,
		"invalid-op-url-with-user.yml":              `testdata/invalid-op-url-with-user.yml:9: operations[0] "https://graph.microsoft.com/beta/users/alice@contoso.com/authentication/operations/9f1c": user: must not be set together with url`,
		"invalid-op-url-with-site.yml":              `testdata/invalid-op-url-with-site.yml:9: operations[0] "/v1.0/sites/contoso.sharepoint.com/operations/copy,1": site: must not be set together with url`,
		"invalid-op-url-scope-mismatch.yml":         `testdata/invalid-op-url-scope-mismatch.yml:8: operations[0] "https://graph.microsoft.com/beta/users/alice@contoso.com/authentication/operations/9f1c": scope: "sites" does not match the url, which is authenticationMethods`,
		"invalid-op-scope-missing.yml":              `testdata/invalid-op-scope-missing.yml:7: operations[0] "8c2b5a9e": scope: is required without url`,
		"invalid-op-scope-unknown.yml":              `testdata/invalid-op-scope-unknown.yml:8: operations[0] "refresh:X": scope: "roleManagementAlert" is not one of roleManagementAlerts, authenticationMethods, industryData, sites, siteLists, teams, searchConnections, ediscovery, attackSimulation, onenote, print, engagement, custom`,
		"invalid-op-scope-custom.yml":               `testdata/invalid-op-scope-custom.yml:8: operations[0] "8c2b5a9e": scope: custom requires url`,
		"invalid-op-id-missing.yml":                 `testdata/invalid-op-id-missing.yml:7: operations[0]: id: is required without url`,
		"invalid-op-id-slash.yml":                   `testdata/invalid-op-id-slash.yml:9: operations[0] "8c2b/5a9e": id: must not contain "/" or "\"`,
		"invalid-op-id-dotdot.yml":                  `testdata/invalid-op-id-dotdot.yml:9: operations[0] "..": id: must not be "." or ".."`,
		"invalid-op-user-missing.yml":               `testdata/invalid-op-user-missing.yml:7: operations[0] "9f1c": user: is required with scope authenticationMethods`,
		"invalid-op-user-unexpected.yml":            `testdata/invalid-op-user-unexpected.yml:10: operations[0] "8c2b5a9e": user: is only valid with scope authenticationMethods or onenote`,
		"invalid-op-user-dotdot.yml":                `testdata/invalid-op-user-dotdot.yml:10: operations[0] "9f1c": user: must not be "." or ".."`,
		"invalid-op-team-missing.yml":               `testdata/invalid-op-team-missing.yml:7: operations[0] "3c9b1d3e": team: is required with scope teams`,
		"invalid-op-list-unexpected.yml":            `testdata/invalid-op-list-unexpected.yml:10: operations[0] "copy,1": list: is only valid with scope siteLists`,
		"invalid-discovery-ediscovery-app-only.yml": "testdata/invalid-discovery-ediscovery-app-only.yml:8: discovery[0] \"ediscovery\": scope: Graph allows no application permission for ediscovery operations, only a delegated sign-in: tenant \"contoso\" has no delegated credential; add delegated: {token_cache_file: \u2026} to the tenant and sign in once with `msgraph_lro_exporter login --tenant=contoso`",
		"invalid-discovery-case-missing.yml":        `testdata/invalid-discovery-case-missing.yml:8: discovery[0] "ediscovery": case: is required with scope ediscovery`,
		"invalid-discovery-list-missing.yml":        `testdata/invalid-discovery-list-missing.yml:7: discovery[0] "siteLists": list: is required with scope siteLists`,
		"invalid-op-print-app-only.yml":             "testdata/invalid-op-print-app-only.yml:8: operations[0] \"https://graph.microsoft.com/v1.0/print/operations/81f4cca3\": url: Graph allows no application permission for print operations, only a delegated sign-in: tenant \"contoso\" has no delegated credential; add delegated: {token_cache_file: \u2026} to the tenant and sign in once with `msgraph_lro_exporter login --tenant=contoso`",
		"invalid-op-site-missing.yml":               `testdata/invalid-op-site-missing.yml:7: operations[0] "copy,1": site: is required with scope sites`,
		"invalid-op-site-unexpected.yml":            `testdata/invalid-op-site-unexpected.yml:10: operations[0] "refresh:X": site: is only valid with scope sites or siteLists`,
		"invalid-label-name.yml":                    `testdata/invalid-label-name.yml:12: operations[0] "8c2b5a9e": labels: "cost-center" is not a valid label name (^[a-zA-Z_][a-zA-Z0-9_]*$)`,
		"invalid-label-name-underscore.yml":         `testdata/invalid-label-name-underscore.yml:10: operations[0] "8c2b5a9e": labels: "__team" starts with __, which Prometheus reserves`,
		"invalid-label-name-reserved.yml":           `testdata/invalid-label-name-reserved.yml:10: operations[0] "8c2b5a9e": labels: "status" is a label the exporter sets itself`,
		"invalid-max-operations.yml":                `testdata/invalid-max-operations.yml:2: global: max_operations: must be at least 1, got 0`,
		"invalid-discovery-tenant-missing.yml":      `testdata/invalid-discovery-tenant-missing.yml:7: discovery[0] "industryData": tenant: is required`,
		"invalid-discovery-tenant-unknown.yml":      `testdata/invalid-discovery-tenant-unknown.yml:7: discovery[0] "industryData": tenant: "fabrikam" is not a configured tenant`,
		"invalid-discovery-scope.yml":               `testdata/invalid-discovery-scope.yml:8: discovery[0] "authenticationMethods": scope: "authenticationMethods" is not one of roleManagementAlerts, industryData, sites, siteLists, ediscovery`,
		"invalid-discovery-site-missing.yml":        `testdata/invalid-discovery-site-missing.yml:7: discovery[0] "sites": site: is required with scope sites`,
		"invalid-discovery-site-unexpected.yml":     `testdata/invalid-discovery-site-unexpected.yml:9: discovery[0] "industryData": site: is only valid with scope sites or siteLists`,
		"invalid-discovery-interval.yml":            `testdata/invalid-discovery-interval.yml:9: discovery[0] "industryData": interval: must be at least 10s, got 1s`,
		"invalid-discovery-retention.yml":           `testdata/invalid-discovery-retention.yml:9: discovery[0] "industryData": retention: must be positive, got 0s`,
		"invalid-discovery-label-reserved.yml":      `testdata/invalid-discovery-label-reserved.yml:9: discovery[0] "industryData": labels: "operation_id" is a label the exporter sets itself`,
		"invalid-discovery-duplicate.yml":           `testdata/invalid-discovery-duplicate.yml:10: discovery[1] "roleManagementAlerts": scope: duplicate of discovery[0] (line 7)`,
		"invalid-op-duplicate-series.yml":           `testdata/invalid-op-duplicate-series.yml:11: operations[1] "https://graph.microsoft.com/beta/external/industryData/operations/d194fa3e?aadgdc=x": url: same series as operations[0] (line 7): the same tenant, scope, id, name and labels`,
		// An empty label is no label (as in Prometheus): these two would
		// be one series.
		"invalid-op-duplicate-series-empty-label.yml": `testdata/invalid-op-duplicate-series-empty-label.yml:12: operations[1] "https://graph.microsoft.com/beta/external/industryData/operations/d194fa3e?aadgdc=x": url: same series as operations[0] (line 7): the same tenant, scope, id, name and labels`,
		"invalid-op-duplicate.yml":                    `testdata/invalid-op-duplicate.yml:11: operations[1] "https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/operations/refresh:X": url: duplicate of operations[0] (line 7)`,

		// delegated sign-in
		"invalid-delegated-cache-dir-missing.yml":      `testdata/invalid-delegated-cache-dir-missing.yml:7: tenants[0] "contoso": delegated.token_cache_file: the directory of testdata/no-such-dir/cache.json does not exist`,
		"invalid-delegated-cache-file-missing.yml":     "testdata/invalid-delegated-cache-file-missing.yml:6: tenants[0] \"contoso\": delegated.token_cache_file: is required: the file `msgraph_lro_exporter login` writes the sign-in to",
		"invalid-delegated-cache-not-file.yml":         `testdata/invalid-delegated-cache-not-file.yml:7: tenants[0] "contoso": delegated.token_cache_file: testdata/signed-in is not a regular file`,
		"invalid-delegated-client-id.yml":              `testdata/invalid-delegated-client-id.yml:8: tenants[0] "contoso": delegated.client_id: "my-public-app" is not a GUID`,
		"invalid-delegated-only-app-operation.yml":     `testdata/invalid-delegated-only-app-operation.yml:8: operations[0] "8c2b5a9e": scope: tenant "contoso" has only a delegated credential; industryData operations need the application's own (one of client_secret, client_secret_file, client_certificate_file, federated_token_file, managed_identity)`,
		"invalid-delegated-only-discovery.yml":         `testdata/invalid-delegated-only-discovery.yml:7: discovery[0] "industryData": tenant: "contoso" has only a delegated credential; discovery lists with the application's own (one of client_secret, client_secret_file, client_certificate_file, federated_token_file, managed_identity)`,
		"invalid-delegated-tenant-id-missing.yml":      `testdata/invalid-delegated-tenant-id-missing.yml:2: tenants[0] "contoso": tenant_id: is required with delegated (the sign-in's authority)`,
		"invalid-op-credential-app-password-reset.yml": `testdata/invalid-op-credential-app-password-reset.yml:12: operations[0] "9f1c": credential: app cannot read authenticationMethods operations: Graph allows no application permission for them`,
		"invalid-op-credential-delegated-scope.yml":    `testdata/invalid-op-credential-delegated-scope.yml:11: operations[0] "8c2b5a9e": credential: delegated is only for custom operations; industryData operations are read with the application's own credential`,
		"invalid-op-credential-value.yml":              `testdata/invalid-op-credential-value.yml:9: operations[0] "/v1.0/solutions/example/operations/77": credential: "user" is not one of app, delegated`,
		"invalid-op-password-reset-app-only.yml":       "testdata/invalid-op-password-reset-app-only.yml:8: operations[0] \"2d497bb-57bd-47a6-8749-5ccd0869f2bd\": scope: Graph allows no application permission for authenticationMethods (password-reset) operations, only a delegated sign-in: tenant \"contoso\" has no delegated credential; add delegated: {token_cache_file: \u2026} to the tenant and sign in once with `msgraph_lro_exporter login --tenant=contoso`",
		"invalid-op-url-password-reset-app-only.yml":   "testdata/invalid-op-url-password-reset-app-only.yml:8: operations[0] \"https://graph.microsoft.com/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x\": url: Graph allows no application permission for authenticationMethods (password-reset) operations, only a delegated sign-in: tenant \"contoso\" has no delegated credential; add delegated: {token_cache_file: \u2026} to the tenant and sign in once with `msgraph_lro_exporter login --tenant=contoso`",
		"invalid-unknown-key-delegated.yml":            `testdata/invalid-unknown-key-delegated.yml:7: tenants[0]: delegated: unknown key "token_cache"`,
	}

	// Every invalid file has its expected error, and every expectation its file.
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected error in this table", f)
		}
	}

	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			cfg, err := Load(filepath.Join("testdata", file))
			if err == nil {
				t.Fatalf("Load succeeded, want error %q; config: %+v", want, cfg)
			}
			if got := err.Error(); got != want {
				t.Errorf("wrong error\n got: %s\nwant: %s", got, want)
			}
			checkNoSecret(t, "error", err.Error())
		})
	}
}

func TestGoodConfigs(t *testing.T) {
	setupTestdata(t)
	t.Setenv(envFederatedTokenFile, "/env/token")
	t.Setenv(envTenantID, "33333333-3333-3333-3333-333333333333")
	t.Setenv(envClientID, "44444444-4444-4444-4444-444444444444")

	clientPEM, err := os.ReadFile("testdata/client.pem")
	if err != nil {
		t.Fatal(err)
	}
	const (
		tenantID      = "00000000-0000-0000-0000-000000000000"
		clientID      = "11111111-1111-1111-1111-111111111111"
		siteID        = "contoso.sharepoint.com,da60e844-ba1d-49bc-b4d4-d5e36bae9019,712a596e-90a1-49e3-9b48-bfa80bee8740"
		staleSignInID = "refresh:DirectoryRole_00000000-0000-0000-0000-000000000000_StaleSignInAlert"
	)

	tests := map[string]func(t *testing.T, c *Config){
		"good-minimal.yml": func(t *testing.T, c *Config) {
			equal(t, "Global", c.Global, DefaultGlobal)
			equal(t, "Global", c.Global, Global{CacheTTL: 30 * time.Second, TerminalCacheTTL: time.Hour, RequestTimeout: 10 * time.Second, MaxConcurrency: 4, Batch: true, MaxOperations: 20000})
			equal(t, "tenants", len(c.Tenants), 1)
			tn := c.Tenants[0]
			equal(t, "Name", tn.Name, "contoso")
			equal(t, "TenantID", tn.TenantID, tenantID)
			equal(t, "ClientID", tn.ClientID, clientID)
			equal(t, "Cloud", tn.Cloud, "global")
			equal(t, "AuthorityHost", tn.AuthorityHost, "https://login.microsoftonline.com")
			equal(t, "GraphEndpoint", tn.GraphEndpoint, "https://graph.microsoft.com")
			equal(t, "Credential", tn.Credential, CredentialClientSecret)
			equal(t, "Secret", tn.Secret.Reveal(), "file-s3cr3t-value")
			equal(t, "ClientSecretFile", tn.ClientSecretFile, "secret.txt")
			equal(t, "Line", tn.Line, 5)
			equal(t, "operations", len(c.Operations), 0)
			equal(t, "Warnings", c.Warnings, []string(nil))
		},

		"good-every-key.yml": func(t *testing.T, c *Config) {
			equal(t, "Global", c.Global, Global{CacheTTL: time.Minute, TerminalCacheTTL: 24 * time.Hour, RequestTimeout: 2500 * time.Millisecond, MaxConcurrency: 8, Batch: false, MaxOperations: 20000})
			tn := c.Tenants[0]
			equal(t, "TenantID", tn.TenantID, "contoso.onmicrosoft.com")
			equal(t, "Cloud", tn.Cloud, "usgov")
			equal(t, "AuthorityHost", tn.AuthorityHost, "https://login.example.test:8443")
			equal(t, "GraphEndpoint", tn.GraphEndpoint, "https://graph.example.test:8443")
			equal(t, "Credential", tn.Credential, CredentialClientCertificate)
			equal(t, "CertificatePEM", tn.CertificatePEM.Reveal(), string(clientPEM))
			equal(t, "Secret", tn.Secret, Secret(""))
			equal(t, "Line", tn.Line, 10)
			equal(t, "Delegated", *tn.Delegated, Delegated{TokenCacheFile: filepath.Join("testdata", "signed-in", "contoso-cache.json"), ClientID: "22222222-2222-2222-2222-222222222222"})

			equal(t, "operations", len(c.Operations), 4)
			o := c.Operations[0]
			equal(t, "Ref", o.Ref, graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, ID: "2d497bb-57bd-47a6-8749-5ccd0869f2bd", User: "alice@contoso.com"})
			equal(t, "URLPath", o.Ref.URLPath(), "/beta/users/alice@contoso.com/authentication/operations/2d497bb-57bd-47a6-8749-5ccd0869f2bd")
			equal(t, "Name", o.Name, "alice-password-reset")
			equal(t, "Labels", o.Labels, map[string]string{"team": "identity", "severity": "page"})
			equal(t, "Line", o.Line, 22)
			o = c.Operations[1]
			equal(t, "Ref", o.Ref, graph.OperationRef{Scope: graph.ScopeSites, ID: "contentTypeCopy,0x0101", Site: siteID})
			equal(t, "URLPath", o.Ref.URLPath(), "/v1.0/sites/"+siteID+"/operations/contentTypeCopy,0x0101")
			equal(t, "Labels", o.Labels, map[string]string(nil))
			o = c.Operations[2]
			equal(t, "Ref", o.Ref, graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "8c2b5a9e", Path: "/beta/external/industryData/operations/8c2b5a9e"})
			equal(t, "Name", o.Name, "nightly-import")
			o = c.Operations[3]
			equal(t, "Ref", o.Ref, graph.OperationRef{Scope: graph.ScopeCustom, ID: "77", Path: "/beta/solutions/example/operations/77", Delegated: true})
			equal(t, "NeedsDelegated", o.Ref.NeedsDelegated(), true)
			equal(t, "Warnings", c.Warnings, []string(nil))
		},

		"good-delegated.yml": func(t *testing.T, c *Config) {
			tn := c.Tenants[0]
			equal(t, "Credential", tn.Credential, CredentialKind(""))
			equal(t, "Delegated", *tn.Delegated, Delegated{TokenCacheFile: filepath.Join("testdata", "signed-in", "cache.json"), ClientID: "11111111-1111-1111-1111-111111111111"})
			equal(t, "password reset needs delegated", c.Operations[0].Ref.NeedsDelegated(), true)
			equal(t, "custom with credential: delegated", c.Operations[1].Ref, graph.OperationRef{Scope: graph.ScopeCustom, ID: "77", Path: "/v1.0/solutions/example/operations/77", Delegated: true})
			equal(t, "Warnings", c.Warnings, []string(nil))
		},

		"good-credentials.yml": func(t *testing.T, c *Config) {
			type want struct {
				kind               CredentialKind
				tenantID, clientID string
				secret             string
				tokenPath          string
				managedIdentity    *ManagedIdentity
			}
			wants := map[string]want{
				"inline-secret":        {CredentialClientSecret, tenantID, clientID, "inline-s3cr3t-value", "", nil},
				"secret-file":          {CredentialClientSecret, tenantID, clientID, "file-s3cr3t-value", "", nil},
				"certificate":          {CredentialClientCertificate, tenantID, clientID, "", "", nil},
				"federated":            {CredentialFederatedToken, tenantID, clientID, "", "/var/run/secrets/azure/tokens/azure-identity-token", nil},
				"federated-relative":   {CredentialFederatedToken, tenantID, clientID, "", filepath.Join("testdata", "token"), nil},
				"federated-from-env":   {CredentialFederatedToken, "33333333-3333-3333-3333-333333333333", "44444444-4444-4444-4444-444444444444", "", "/env/token", nil},
				"system-assigned":      {CredentialManagedIdentity, "", "", "", "", &ManagedIdentity{}},
				"system-assigned-null": {CredentialManagedIdentity, "", "", "", "", &ManagedIdentity{}},
				"user-assigned":        {CredentialManagedIdentity, "contoso.onmicrosoft.com", "", "", "", &ManagedIdentity{ClientID: "22222222-2222-2222-2222-222222222222"}},
			}
			equal(t, "tenants", len(c.Tenants), len(wants))
			for _, tn := range c.Tenants {
				w, ok := wants[tn.Name]
				if !ok {
					t.Errorf("unexpected tenant %q", tn.Name)
					continue
				}
				equal(t, tn.Name+" Credential", tn.Credential, w.kind)
				equal(t, tn.Name+" TenantID", tn.TenantID, w.tenantID)
				equal(t, tn.Name+" ClientID", tn.ClientID, w.clientID)
				equal(t, tn.Name+" Secret", tn.Secret.Reveal(), w.secret)
				equal(t, tn.Name+" FederatedTokenPath", tn.FederatedTokenPath, w.tokenPath)
				equal(t, tn.Name+" ManagedIdentity", tn.ManagedIdentity, w.managedIdentity)
				if tn.Credential == CredentialClientCertificate {
					equal(t, tn.Name+" CertificatePEM", tn.CertificatePEM.Reveal(), string(clientPEM))
				} else {
					equal(t, tn.Name+" CertificatePEM", tn.CertificatePEM, Secret(""))
				}
			}
			equal(t, "Warnings", c.Warnings, []string{
				`testdata/good-credentials.yml:6: tenants[0] "inline-secret": client_secret is inline in the config file; prefer client_secret_file`,
			})
		},

		"good-workload-identity.yml": func(t *testing.T, c *Config) {
			tn := c.Tenants[0]
			equal(t, "Credential", tn.Credential, CredentialFederatedToken)
			equal(t, "FederatedTokenPath", tn.FederatedTokenPath, "/env/token")
			equal(t, "FederatedTokenFile", tn.FederatedTokenFile, (*string)(nil))
			equal(t, "TenantID", tn.TenantID, "33333333-3333-3333-3333-333333333333")
			equal(t, "ClientID", tn.ClientID, "44444444-4444-4444-4444-444444444444")
		},

		"good-clouds.yml": func(t *testing.T, c *Config) {
			want := map[string][3]string{
				"global":   {"global", "https://login.microsoftonline.com", "https://graph.microsoft.com"},
				"usgov":    {"usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us"},
				"usgovdod": {"usgovdod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"},
				"china":    {"china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"},
				"proxied":  {"china", "https://login.chinacloudapi.cn", "https://graph-proxy.example.test:8443"},
			}
			equal(t, "tenants", len(c.Tenants), len(want))
			for _, tn := range c.Tenants {
				equal(t, tn.Name, [3]string{tn.Cloud, tn.AuthorityHost, tn.GraphEndpoint}, want[tn.Name])
			}
			for i, o := range c.Operations {
				equal(t, "Ref", o.Ref, graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "8c2b5a9e", Path: "/beta/external/industryData/operations/8c2b5a9e"})
				equal(t, "Line", o.Line, []int{20, 22}[i])
			}
		},

		"good-operations.yml": func(t *testing.T, c *Config) {
			type want struct {
				tenant  string
				ref     graph.OperationRef
				urlPath string
				key     string
			}
			wants := []want{
				{"contoso", graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: staleSignInID},
					"/beta/identityGovernance/roleManagementAlerts/operations/" + staleSignInID, ""},
				{"contoso", graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, ID: "2d497bb-57bd-47a6-8749-5ccd0869f2bd", User: "alice@contoso.com"},
					"/beta/users/alice@contoso.com/authentication/operations/2d497bb-57bd-47a6-8749-5ccd0869f2bd", ""},
				{"contoso", graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "8c2b5a9e"},
					"/beta/external/industryData/operations/8c2b5a9e", ""},
				{"contoso", graph.OperationRef{Scope: graph.ScopeSites, ID: "contentTypeCopy,0x0101", Site: siteID},
					"/v1.0/sites/" + siteID + "/operations/contentTypeCopy,0x0101", ""},
				{"contoso", graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, ID: "9f1c", User: "alice@contoso.com",
					Path: "/beta/users/alice@contoso.com/authentication/operations/9f1c", RawQuery: "aadgdc=x&aadgsu=y"},
					"/beta/users/alice@contoso.com/authentication/operations/9f1c",
					"/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x&aadgsu=y"},
				{"contoso", graph.OperationRef{Scope: graph.ScopeSites, ID: "copy:1", Site: siteID,
					Path: "/v1.0/sites/" + siteID + "/operations/copy:1"},
					"/v1.0/sites/" + siteID + "/operations/copy:1", ""},
				{"contoso", graph.OperationRef{Scope: graph.ScopeCustom, ID: "e5b2", Path: "/v1.0/solutions/backupRestore/operations/e5b2"},
					"/v1.0/solutions/backupRestore/operations/e5b2", ""},
				{"fabrikam", graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: staleSignInID},
					"/beta/identityGovernance/roleManagementAlerts/operations/" + staleSignInID, ""},
			}
			equal(t, "operations", len(c.Operations), len(wants))
			for i, w := range wants {
				if i >= len(c.Operations) {
					break
				}
				o := c.Operations[i]
				equal(t, "Tenant", o.Tenant, w.tenant)
				equal(t, "Ref", o.Ref, w.ref)
				equal(t, "URLPath", o.Ref.URLPath(), w.urlPath)
				if w.key == "" {
					w.key = w.urlPath
				}
				equal(t, "Key", o.Ref.Key(), w.key)
			}
			equal(t, "Name", c.Operations[0].Name, "stale-sign-in-refresh")
			tn, ok := c.Tenant("fabrikam")
			if !ok || tn != &c.Tenants[1] {
				t.Errorf("Tenant(fabrikam) = %p, %v; want %p, true", tn, ok, &c.Tenants[1])
			}
			if _, ok := c.Tenant("northwind"); ok {
				t.Errorf("Tenant(northwind) found")
			}
		},

		"good-kinds.yml": func(t *testing.T, c *Config) {
			site := "contoso.sharepoint.com,g1,g2"
			for i, want := range []struct {
				ref     graph.OperationRef
				urlPath string
			}{
				{graph.OperationRef{Scope: graph.ScopeTeams, Team: "2b8a0b2c-0000-4000-8000-000000000001", ID: "3c9b1d3e-0000-4000-8000-000000000002"},
					"/v1.0/teams/2b8a0b2c-0000-4000-8000-000000000001/operations/3c9b1d3e-0000-4000-8000-000000000002"},
				{graph.OperationRef{Scope: graph.ScopeSearchConnections, Connection: "contosohr", ID: "3ed1595a-4bae-43c2-acda-ef973e581323"},
					"/v1.0/external/connections/contosohr/operations/3ed1595a-4bae-43c2-acda-ef973e581323"},
				{graph.OperationRef{Scope: graph.ScopeEdiscovery, Case: "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b", ID: "850c2f64b1ee44a4a69729327aac2b04"},
					"/v1.0/security/cases/ediscoveryCases/b0073e4e-4184-41c6-9eb7-8c8cc3e2288b/operations/850c2f64b1ee44a4a69729327aac2b04"},
				{graph.OperationRef{Scope: graph.ScopeAttackSimulation, ID: "2f5548d1-0dd8-4cc8-9de0-e0d6ec7ea3dc"},
					"/v1.0/security/attackSimulation/operations/2f5548d1-0dd8-4cc8-9de0-e0d6ec7ea3dc"},
				{graph.OperationRef{Scope: graph.ScopeOnenote, User: "alice@contoso.com", ID: "copy-1"}, "/v1.0/users/alice@contoso.com/onenote/operations/copy-1"},
				{graph.OperationRef{Scope: graph.ScopePrint, ID: "81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4"}, "/v1.0/print/operations/81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4"},
				{graph.OperationRef{Scope: graph.ScopeEngagement, ID: "eyJfdHlwZSI6IkxvbmdSdW5uaW5nT3BlcmF0aW9uIn0"},
					"/v1.0/employeeExperience/engagementAsyncOperations/eyJfdHlwZSI6IkxvbmdSdW5uaW5nT3BlcmF0aW9uIn0"},
				{graph.OperationRef{Scope: graph.ScopeSiteLists, Site: site, List: "Documents", ID: "contentTypeCopy,0x0101"},
					"/v1.0/sites/" + site + "/lists/Documents/operations/contentTypeCopy,0x0101"},
				{graph.OperationRef{Scope: graph.ScopeTeams, Team: "dbd8de4f-5d47-48da-87f1-594bed003375", ID: "3a6fdce1-c261-48bc-89de-1cfef658c0d5",
					Path: "/v1.0/teams/dbd8de4f-5d47-48da-87f1-594bed003375/operations/3a6fdce1-c261-48bc-89de-1cfef658c0d5"},
					"/v1.0/teams/dbd8de4f-5d47-48da-87f1-594bed003375/operations/3a6fdce1-c261-48bc-89de-1cfef658c0d5"},
				{graph.OperationRef{Scope: graph.ScopeEdiscovery, Case: "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b", ID: "0f2a",
					Path: "/v1.0/security/cases/ediscoveryCases/b0073e4e-4184-41c6-9eb7-8c8cc3e2288b/operations/0f2a"},
					"/v1.0/security/cases/ediscoveryCases/b0073e4e-4184-41c6-9eb7-8c8cc3e2288b/operations/0f2a"},
			} {
				equal(t, "Ref", c.Operations[i].Ref, want.ref)
				equal(t, "URLPath", c.Operations[i].Ref.URLPath(), want.urlPath)
				equal(t, "NeedsDelegated", c.Operations[i].Ref.NeedsDelegated(), want.ref.Scope == graph.ScopeEdiscovery || want.ref.Scope == graph.ScopePrint)
			}
			equal(t, "Discovery", c.Discovery, []Discovery{{Tenant: "contoso", Scope: "siteLists", Site: site, List: "Documents",
				Interval: 5 * time.Minute, Retention: 24 * time.Hour, Line: 28},
				{Tenant: "contoso", Scope: "ediscovery", Case: "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b",
					Interval: 5 * time.Minute, Retention: 24 * time.Hour, Line: 29}})
		},
		"good-discovery.yml": func(t *testing.T, c *Config) {
			equal(t, "MaxOperations", c.Global.MaxOperations, 500)
			equal(t, "Discovery", c.Discovery, []Discovery{
				{Tenant: "contoso", Scope: "industryData", Interval: 5 * time.Minute, Retention: 24 * time.Hour, Line: 16},
				{Tenant: "contoso", Scope: "sites", Site: "contoso.sharepoint.com,2c712a2f-f0a6-4b1b-8b25-7a1f6b0f1c4e,8b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
					Interval: 15 * time.Minute, Retention: 72 * time.Hour, Labels: map[string]string{"team": "sharepoint", "env": "prod"}, Line: 18},
				{Tenant: "contoso", Scope: "roleManagementAlerts", Interval: time.Hour, Retention: 24 * time.Hour, Line: 24},
			})
		},
		"good-anchors.yml": func(t *testing.T, c *Config) {
			equal(t, "tenants", len(c.Tenants), 2)
			gov := c.Tenants[1]
			equal(t, "Name", gov.Name, "contoso-gov")
			equal(t, "TenantID", gov.TenantID, tenantID)
			equal(t, "Cloud", gov.Cloud, "usgov")
			equal(t, "GraphEndpoint", gov.GraphEndpoint, "https://graph.microsoft.us")
			equal(t, "Secret", gov.Secret.Reveal(), "file-s3cr3t-value")
			equal(t, "Line", gov.Line, 8)
			equal(t, "operations", len(c.Operations), 3)
			for i, w := range []struct{ tenant, id string }{{"contoso", "8c2b5a9e"}, {"contoso", "9d3c6b0f"}, {"contoso-gov", "8c2b5a9e"}} {
				o := c.Operations[i]
				equal(t, "Tenant", o.Tenant, w.tenant)
				equal(t, "Ref", o.Ref, graph.OperationRef{Scope: graph.ScopeIndustryData, ID: w.id})
				equal(t, "Labels", o.Labels, map[string]string{"team": "data"})
			}
		},
	}

	files, err := filepath.Glob("testdata/good-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d good files, %d checks", len(files), len(tests))
	}
	for _, f := range files {
		check, ok := tests[filepath.Base(f)]
		if !ok {
			t.Errorf("%s has no check in this table", f)
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			check(t, c)
			for _, w := range c.Warnings {
				checkNoSecret(t, "warning", w)
			}
		})
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}
