package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const tenantYAML = `tenants:
  - name: contoso
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
`

// parseOK parses YAML that must be valid.
func parseOK(t *testing.T, yml string) *Config {
	t.Helper()
	c, err := Parse("inline.yml", []byte(yml))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, yml)
	}
	return c
}

// parseErr parses YAML that must be invalid, and returns the error.
func parseErr(t *testing.T, yml string) string {
	t.Helper()
	c, err := Parse("inline.yml", []byte(yml))
	if err == nil {
		t.Fatalf("Parse succeeded: %+v\n%s", c, yml)
	}
	checkNoSecret(t, "error", err.Error())
	return err.Error()
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is subject to the umask.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretFileReadableByOthersWarns(t *testing.T) {
	setupTestdata(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", "file-s3cr3t-value\n", 0o644)
	private := writeFile(t, dir, "private", "file-s3cr3t-value\n", 0o600)
	group := writeFile(t, dir, "group", "file-s3cr3t-value\n", 0o640)
	pem, err := os.ReadFile("testdata/client.pem")
	if err != nil {
		t.Fatal(err)
	}
	cert := writeFile(t, dir, "client.pem", string(pem), 0o604)

	c := parseOK(t, `tenants:
  - name: open
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret_file: `+secret+`
  - name: private
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret_file: `+private+`
  - name: group
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret_file: `+group+`
  - name: cert
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_certificate_file: `+cert+`
`)
	equal(t, "Warnings", c.Warnings, []string{
		`inline.yml:5: tenants[0] "open": client_secret_file: ` + secret + ` is readable by group or others (mode 0644); chmod 0600 it`,
		`inline.yml:13: tenants[2] "group": client_secret_file: ` + group + ` is readable by group or others (mode 0640); chmod 0600 it`,
		`inline.yml:17: tenants[3] "cert": client_certificate_file: ` + cert + ` is readable by group or others (mode 0604); chmod 0600 it`,
	})
	for _, tn := range c.Tenants[:3] {
		equal(t, tn.Name+" Secret", tn.Secret.Reveal(), "file-s3cr3t-value")
	}
	equal(t, "CertificatePEM", c.Tenants[3].CertificatePEM.Reveal(), string(pem))
}

func TestSecretFileTrimmed(t *testing.T) {
	setupTestdata(t)
	p := writeFile(t, t.TempDir(), "secret", "\n  file-s3cr3t-value \r\n\n", 0o600)
	c := parseOK(t, tenantYAML+"    client_secret_file: "+p+"\n")
	equal(t, "Secret", c.Tenants[0].Secret.Reveal(), "file-s3cr3t-value")
}

// Parse has no file, so relative paths are taken from the working
// directory; Load takes them from the config file's directory.
func TestRelativeSecretPaths(t *testing.T) {
	setupTestdata(t)
	c := parseOK(t, tenantYAML+"    client_secret_file: testdata/secret.txt\n")
	equal(t, "Secret", c.Tenants[0].Secret.Reveal(), "file-s3cr3t-value")

	got := parseErr(t, tenantYAML+"    client_secret_file: secret.txt\n")
	equal(t, "error", got, `inline.yml:5: tenants[0] "contoso": client_secret_file: open secret.txt: no such file or directory`)

	c = parseOK(t, tenantYAML+"    federated_token_file: tokens/token\n")
	equal(t, "FederatedTokenPath", c.Tenants[0].FederatedTokenPath, "tokens/token")

	dir := t.TempDir()
	writeFile(t, dir, "secret.txt", "file-s3cr3t-value", 0o600)
	cfg := writeFile(t, dir, "msgraph_lro.yml", tenantYAML+"    client_secret_file: secret.txt\n", 0o600)
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Secret", c.Tenants[0].Secret.Reveal(), "file-s3cr3t-value")
}

func TestLoadErrors(t *testing.T) {
	setupTestdata(t)
	if _, err := Load("testdata/nonexistent.yml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(nonexistent) = %v, want ErrNotExist", err)
	}
	// The cause of a failed secret file read is kept, for errors.Is.
	if _, err := Load("testdata/invalid-client-secret-file-missing.yml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(invalid-client-secret-file-missing) = %v, want ErrNotExist", err)
	}
	equal(t, "empty file", parseErr(t, ""), "inline.yml:1: tenants: at least one tenant is required")
	equal(t, "comments only", parseErr(t, "# nothing yet\n"), "inline.yml:1: tenants: at least one tenant is required")
	equal(t, "null tenants", parseErr(t, "tenants:\n"), "inline.yml:1: tenants: at least one tenant is required")
}

func TestWorkloadIdentityFromEnvironment(t *testing.T) {
	setupTestdata(t)
	const noCredential = "tenants:\n  - name: contoso\n"
	equal(t, "no env", parseErr(t, noCredential),
		`inline.yml:2: tenants[0] "contoso": credential: one of client_secret, client_secret_file, client_certificate_file, federated_token_file, managed_identity is required (or delegated, for password-reset operations only)`)

	t.Setenv(envFederatedTokenFile, "/var/run/secrets/azure/tokens/azure-identity-token")
	equal(t, "no tenant id", parseErr(t, noCredential),
		`inline.yml:2: tenants[0] "contoso": tenant_id: is required; or set AZURE_TENANT_ID`)
	t.Setenv(envTenantID, "contoso.onmicrosoft.com")
	equal(t, "no client id", parseErr(t, noCredential),
		`inline.yml:2: tenants[0] "contoso": client_id: is required with federated_token_file; or set AZURE_CLIENT_ID`)
	t.Setenv(envClientID, "not-a-guid")
	equal(t, "bad client id", parseErr(t, noCredential),
		`inline.yml:2: tenants[0] "contoso": client_id: "not-a-guid" is not a GUID`)
	t.Setenv(envClientID, "44444444-4444-4444-4444-444444444444")
	c := parseOK(t, noCredential)
	tn := c.Tenants[0]
	equal(t, "Credential", tn.Credential, CredentialFederatedToken)
	equal(t, "FederatedTokenPath", tn.FederatedTokenPath, "/var/run/secrets/azure/tokens/azure-identity-token")
	equal(t, "TenantID", tn.TenantID, "contoso.onmicrosoft.com")
	equal(t, "ClientID", tn.ClientID, "44444444-4444-4444-4444-444444444444")

	// Ids in the file win over the environment; so does a token path.
	c = parseOK(t, tenantYAML+"    federated_token_file: /token\n")
	tn = c.Tenants[0]
	equal(t, "FederatedTokenPath", tn.FederatedTokenPath, "/token")
	equal(t, "TenantID", tn.TenantID, "00000000-0000-0000-0000-000000000000")
	equal(t, "ClientID", tn.ClientID, "11111111-1111-1111-1111-111111111111")

	// With the environment set, a tenant that names a credential still uses it.
	c = parseOK(t, tenantYAML+"    client_secret_file: testdata/secret.txt\n")
	equal(t, "Credential", c.Tenants[0].Credential, CredentialClientSecret)
	equal(t, "FederatedTokenPath", c.Tenants[0].FederatedTokenPath, "")
}

func TestManagedIdentityClientID(t *testing.T) {
	setupTestdata(t)
	c := parseOK(t, "tenants:\n  - name: contoso\n    client_id: 11111111-1111-1111-1111-111111111111\n    managed_identity: {}\n")
	equal(t, "Warnings", c.Warnings, []string{
		`inline.yml:3: tenants[0] "contoso": client_id: is not used: managed_identity has no client_id, so the system-assigned identity is used; set managed_identity.client_id for a user-assigned one`,
	})
	c = parseOK(t, "tenants:\n  - name: contoso\n    client_id: 22222222-2222-2222-2222-222222222222\n    managed_identity: {client_id: 22222222-2222-2222-2222-222222222222}\n")
	equal(t, "Warnings", c.Warnings, []string(nil))
	equal(t, "ManagedIdentity", *c.Tenants[0].ManagedIdentity, ManagedIdentity{ClientID: "22222222-2222-2222-2222-222222222222"})
}

func TestReservedLabelNames(t *testing.T) {
	setupTestdata(t)
	for _, name := range []string{"tenant", "scope", "operation_id", "name", "status", "resource_location", "status_detail", "type", "error_code"} {
		got := parseErr(t, tenantYAML+`    managed_identity: {}
operations:
  - tenant: contoso
    scope: industryData
    id: x
    labels: {`+name+`: v}
`)
		equal(t, name, got, `inline.yml:10: operations[0] "x": labels: "`+name+`" is a label the exporter sets itself`)
	}
	// Not reserved: names that merely contain a reserved one, or a single _.
	c := parseOK(t, tenantYAML+`    managed_identity: {}
operations:
  - tenant: contoso
    scope: industryData
    id: x
    labels: {tenant_group: a, _: b, Type: c, status2: d}
`)
	equal(t, "labels", c.Operations[0].Labels, map[string]string{"tenant_group": "a", "_": "b", "Type": "c", "status2": "d"})

	got := parseErr(t, tenantYAML+`    managed_identity: {}
operations:
  - tenant: contoso
    scope: industryData
    id: x
    labels: {"": v}
`)
	equal(t, "empty label name", got, `inline.yml:10: operations[0] "x": labels: "" is not a valid label name (^[a-zA-Z_][a-zA-Z0-9_]*$)`)
}

func TestGlobalValues(t *testing.T) {
	setupTestdata(t)
	for yml, want := range map[string]Global{
		// null is the same as absent: the default.
		"global:\n":                             DefaultGlobal,
		"global: {cache_ttl: ~, batch: null}\n": DefaultGlobal,
		"global: {batch: true}\n":               DefaultGlobal,
		"global: {batch: false}\n":              {CacheTTL: 30 * time.Second, TerminalCacheTTL: time.Hour, RequestTimeout: 10 * time.Second, MaxConcurrency: 4, Batch: false, MaxOperations: 20000},
		"global: {cache_ttl: 1h30m, terminal_cache_ttl: 1w, request_timeout: 1500ms, max_concurrency: 1}\n": {CacheTTL: 90 * time.Minute, TerminalCacheTTL: 7 * 24 * time.Hour, RequestTimeout: 1500 * time.Millisecond, MaxConcurrency: 1, Batch: true, MaxOperations: 20000},
	} {
		c := parseOK(t, yml+tenantYAML+"    managed_identity: {}\n")
		equal(t, yml, c.Global, want)
	}
	if DefaultGlobal != (Global{CacheTTL: 30 * time.Second, TerminalCacheTTL: time.Hour, RequestTimeout: 10 * time.Second, MaxConcurrency: 4, Batch: true, MaxOperations: 20000}) {
		t.Errorf("DefaultGlobal = %+v", DefaultGlobal)
	}
	equal(t, "batch: maybe", parseErr(t, "global: {batch: maybe}\n"+tenantYAML),
		`inline.yml:1: global: batch: must be true or false, got "maybe"`)
}

// Unknown keys are found at every level and at every index, merged ones
// included.
func TestUnknownKeys(t *testing.T) {
	setupTestdata(t)
	const two = `tenants:
  - name: contoso
    managed_identity: {}
  - name: fabrikam
    managed_identity: {client_id: 22222222-2222-2222-2222-222222222222}
operations:
  - tenant: contoso
    scope: industryData
    id: x
  - tenant: fabrikam
    scope: industryData
    id: y
`
	for _, tc := range []struct{ old, new, want string }{
		{"tenants:\n", "tenant:\n  - name: x\ntenants:\n", `inline.yml:1: unknown key "tenant"`},
		{"  - name: fabrikam\n", "  - name: fabrikam\n    cloud_name: china\n", `inline.yml:5: tenants[1]: unknown key "cloud_name"`},
		{"{client_id: 22222222-2222-2222-2222-222222222222}", "{client_id: 22222222-2222-2222-2222-222222222222, resource_id: x}", `inline.yml:5: tenants[1]: managed_identity: unknown key "resource_id"`},
		{"    id: y\n", "    id: y\n    Labels: {a: b}\n", `inline.yml:13: operations[1]: unknown key "Labels"`},
		{"    id: y\n", "    id: y\ndiscovery:\n  - {tenant: contoso, scope: industryData, intervall: 1m}\n", `inline.yml:14: discovery[0]: unknown key "intervall"`},
		{"tenants:\n", "global: {scrape_timeout: 10s}\ntenants:\n", `inline.yml:1: global: unknown key "scrape_timeout"`},
		// A key's case matters.
		{"  - name: contoso\n", "  - Name: contoso\n", `inline.yml:2: tenants[0]: unknown key "Name"`},
	} {
		yml := strings.Replace(two, tc.old, tc.new, 1)
		equal(t, tc.new, parseErr(t, yml), tc.want)
	}
	parseOK(t, two)

	// An unknown key brought in by a merge is reported where it is written.
	got := parseErr(t, `tenants:
  - &base
    name: contoso
    managed_identity: {}
    colour: blue
  - <<: *base
    name: fabrikam
`)
	equal(t, "merged", got, `inline.yml:5: tenants[0]: unknown key "colour"`)
}

func TestMergeKeys(t *testing.T) {
	setupTestdata(t)
	// Own keys win over merged ones; of several merged mappings the first wins.
	c := parseOK(t, `tenants:
  - &a
    name: a
    cloud: china
    managed_identity: {}
  - &b
    name: b
    cloud: usgov
    authority_host: https://login.example.test
    managed_identity: {}
  - <<: [*a, *b]
    name: c
`)
	tn := c.Tenants[2]
	equal(t, "Name", tn.Name, "c")
	equal(t, "Cloud", tn.Cloud, "china")
	equal(t, "AuthorityHost", tn.AuthorityHost, "https://login.example.test")
	equal(t, "Line", tn.Line, 11)

	// A mapping merged into itself is an error, not a hang.
	got := parseErr(t, `tenants:
  - &a
    name: a
    <<: *a
`)
	equal(t, "self merge", got, `inline.yml:2: tenants[0]: <<: merges a mapping into itself`)

	got = parseErr(t, "tenants:\n  - name: a\n    <<: [x]\n")
	equal(t, "merge a scalar", got, `inline.yml:3: tenants[0]: <<: must be a mapping or a list of mappings`)
}

// No value of a secret shows in an error, whatever is wrong around it.
func TestErrorsNeverShowSecrets(t *testing.T) {
	setupTestdata(t)
	for _, yml := range []string{
		"tenants:\n  - name: contoso\n    client_secret: {inline-s3cr3t-value: 1}\n",
		"tenants:\n  - name: contoso\n    client_secret: [inline-s3cr3t-value]\n",
		"tenants:\n  - name: contoso\n    client_secret: inline-s3cr3t-value\n    client_secret: inline-s3cr3t-value\n",
		"tenants:\n  - name: contoso\n    client_secret: inline-s3cr3t-value\n    client_id: x\n",
		"tenants:\n  - name: contoso\n    client_secret: \"inline-s3cr3t-value\n",
		"tenants:\n  - name: contoso\n    client_secret: inline-s3cr3t-value\n    graph_endpoint: https://a:url-s3cr3t-password@graph.microsoft.com\n",
		"tenants:\n  - name: contoso\n    client_secret: inline-s3cr3t-value\n    authority_host: \"https://a:url-s3cr3t-password@host:port\"\n",
		"tenants:\n  - name: contoso\n    client_secret: inline-s3cr3t-value\n    authority_host: \"https://a:url-s3cr3t-password@host/\\x7f\"\n",
		tenantYAML + "    client_certificate_file: testdata/key-only.pem\n",
		tenantYAML + "    managed_identity: {}\noperations:\n  - tenant: contoso\n    url: https://a:url-s3cr3t-password@graph.microsoft.com/beta/external/industryData/operations/x\n",
		tenantYAML + "    managed_identity: {}\noperations:\n  - tenant: contoso\n    url: https://a:url-s3cr3t-password@graph.microsoft.com:port/beta/external/industryData/operations/x\n",
		tenantYAML + "    managed_identity: {}\noperations:\n  - tenant: contoso\n    url: \"https://a:url-s3cr3t-password@graph.microsoft.com/\\x7f\"\n",
		tenantYAML + "    managed_identity: {}\noperations:\n  - tenant: fabrikam\n    url: https://a:url-s3cr3t-password@graph.microsoft.com/beta/external/industryData/operations/x\n",
		tenantYAML + "    client_certificate_file: testdata/cert-only.pem\n",
		tenantYAML + "    client_secret_file: testdata/secret.txt\n    client_certificate_file: testdata/secret.txt\n",
	} {
		parseErr(t, yml) // checks
	}
}

// The two keys of a tenant's authority: both off by default, the chain
// only for a certificate, instance discovery pointless for a managed
// identity alone.
func TestAuthorityKeys(t *testing.T) {
	setupTestdata(t)
	c := parseOK(t, tenantYAML+"    client_secret_file: testdata/secret.txt\n")
	equal(t, "DisableInstanceDiscovery", c.Tenants[0].DisableInstanceDiscovery, false)
	equal(t, "SendCertificateChain", c.Tenants[0].SendCertificateChain, false)

	c = parseOK(t, tenantYAML+"    client_secret_file: testdata/secret.txt\n    disable_instance_discovery: true\n")
	equal(t, "DisableInstanceDiscovery", c.Tenants[0].DisableInstanceDiscovery, true)
	equal(t, "Warnings", c.Warnings, []string(nil))

	c = parseOK(t, tenantYAML+"    client_certificate_file: testdata/client.pem\n    send_certificate_chain: true\n")
	equal(t, "SendCertificateChain", c.Tenants[0].SendCertificateChain, true)

	got := parseErr(t, tenantYAML+"    client_secret_file: testdata/secret.txt\n    send_certificate_chain: true\n")
	equal(t, "error", got, `inline.yml:6: tenants[0] "contoso": send_certificate_chain: needs client_certificate_file: the chain is that of the certificate the assertion is signed with`)

	got = parseErr(t, tenantYAML+"    client_secret_file: testdata/secret.txt\n    send_certificate_chain: yes please\n")
	equal(t, "error", got, `inline.yml:6: tenants[0]: send_certificate_chain: must be true or false, got "yes please"`)

	c = parseOK(t, "tenants:\n  - name: contoso\n    managed_identity: {}\n    disable_instance_discovery: true\n")
	equal(t, "Warnings", c.Warnings, []string{
		`inline.yml:4: tenants[0] "contoso": disable_instance_discovery: is not used: a managed identity asks its local endpoint, not authority_host`,
	})
}

func TestEqualLabelsShareOneMap(t *testing.T) {
	c := parseOK(t, tenantYAML+`    managed_identity: {}
operations:
  - {tenant: contoso, scope: industryData, id: a, labels: {team: x, env: prod}}
  - {tenant: contoso, scope: industryData, id: b, labels: {env: prod, team: x}}
  - {tenant: contoso, scope: industryData, id: c, labels: {team: y, env: prod}}
  - {tenant: contoso, scope: industryData, id: d, labels: {team: "x\u0000env", prod: ""}}
  - {tenant: contoso, scope: industryData, id: e, labels: {a: "1:b1:c"}}
  - {tenant: contoso, scope: industryData, id: f, labels: {a: "", b: c}}
`)
	ptr := func(i int) uintptr { return reflect.ValueOf(c.Operations[i].Labels).Pointer() }
	if ptr(0) != ptr(1) {
		t.Error("operations a and b have the same labels in two maps")
	}
	if ptr(0) == ptr(2) || ptr(0) == ptr(3) {
		t.Error("operations with other labels share a's map")
	}
	equal(t, "b's labels", c.Operations[1].Labels, map[string]string{"team": "x", "env": "prod"})
	equal(t, "c's labels", c.Operations[2].Labels, map[string]string{"team": "y", "env": "prod"})
	equal(t, "d's labels", c.Operations[3].Labels, map[string]string{"team": "x\x00env", "prod": ""})
	if ptr(4) == ptr(5) {
		t.Error("a value that spells out another pair shares its map")
	}
}
