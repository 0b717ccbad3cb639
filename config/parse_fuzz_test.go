package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// Placeholders a fuzz input may hold, replaced before parsing.
const (
	phSecret     = "@SECRET@"     // an inline client secret
	phSecretFile = "@SECRETFILE@" // a 0600 file holding another secret
	phPEMFile    = "@PEMFILE@"    // testdata/client.pem: certificate and RSA key
)

// Values no error, warning or printed config may show.
const (
	fuzzInlineSecret = "Zq8~Fz.inline_SECRET-0123456789abcdefGHIJ" // shaped like Entra's: 40 characters, "~"
	fuzzFileSecret   = "Kp3~Wd.file_SECRET-9876543210zyxwvuTSRQP"
)

var fuzzConfigSeeds = []string{
	`tenants:
  - name: contoso
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret: "@SECRET@"
operations:
  - tenant: contoso
    scope: roleManagementAlerts
    id: "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"
    name: stale-sign-in-refresh
    labels: {team: identity}
  - tenant: contoso
    url: https://graph.microsoft.com/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x&aadgsu=y
`,
	`tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret_file: "@SECRETFILE@"
    cloud: usgov
operations:
  - {tenant: contoso, scope: sites, site: "contoso.sharepoint.com,a,b", id: "copy,1"}
`,
	`tenants:
  - name: contoso
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_certificate_file: "@PEMFILE@"
    graph_endpoint: https://127.0.0.1:8443/
    authority_host: https://127.0.0.1:8444
operations:
  - {tenant: contoso, url: "https://127.0.0.1:8443/v1.0/solutions/backupRestore/operations/abc"}
`,
	// The secret where it must not be: a certificate file, a wrong type.
	"tenants:\n  - name: c\n    tenant_id: x.com\n    client_id: 11111111-1111-1111-1111-111111111111\n    client_certificate_file: \"@SECRETFILE@\"\n",
	"tenants:\n  - name: c\n    tenant_id: x.com\n    client_id: 11111111-1111-1111-1111-111111111111\n    client_secret: [\"@SECRET@\"]\n",
	"tenants:\n  - name: c\n    client_secret: \"@SECRET@\"\n    client_secret: again\n",
	"tenants:\n  - name: c\n    client_secret: \"@SECRET@\n",
	"tenants:\n  - &t {name: c, tenant_id: x.com, client_id: 11111111-1111-1111-1111-111111111111, client_secret: \"@SECRET@\"}\n  - {<<: *t, name: d, cloud: mars}\n",
	"global: {cache_ttl: \"@SECRET@\"}\n",
	"---\ntenants: []\n---\nclient_secret: \"@SECRET@\"\n",
	"tenants:\n  - name: c\n    tenant_id: x.com\n    client_id: 11111111-1111-1111-1111-111111111111\n    client_secret: !!binary \"@SECRET@\"\n    managed_identity: {}\n",
	"tenants:\n  - name: c\n    tenant_id: x.com\n    client_id: 11111111-1111-1111-1111-111111111111\n    client_secret: \"@SECRET@\"\n    graph_endpoint: https://user:@SECRET@@graph.example\n",
}

// FuzzParse feeds config.Parse YAML of any shape. Properties:
//   - no error, warning or printed config (%v, %+v, %#v, JSON, YAML) shows
//     an inline client_secret, a secret file's content or a private key,
//     unless the input itself put that value somewhere else (a name, a key);
//   - a config it accepts keeps its promises: at least one tenant, each with
//     one credential and https://host endpoints; every operation on a
//     configured tenant, with a request path on that tenant's Graph host.
func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(fuzzFileSecret+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	pemFile, err := filepath.Abs("testdata/client.pem")
	if err != nil {
		f.Fatal(err)
	}
	pem, err := os.ReadFile(pemFile)
	if err != nil {
		f.Fatal(err)
	}
	keyLines := privateKeyLines(pem)

	for _, s := range fuzzConfigSeeds {
		f.Add([]byte(s))
	}
	// Every testdata file, its inline secret replaced by the placeholder and
	// its file paths made relative to this package.
	inline := regexp.MustCompile(`(?m)(client_secret:[ \t]*)[^\s{}\[\],#]+`)
	files := regexp.MustCompile(`(?m)(_file:[ \t]*)([A-Za-z0-9][\w.-]*)`)
	ymls, _ := filepath.Glob("testdata/*.yml")
	for _, p := range ymls {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		b = inline.ReplaceAll(b, []byte(`${1}"`+phSecret+`"`))
		b = files.ReplaceAll(b, []byte(`${1}testdata/${2}`))
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.ReplaceAll(data, []byte(phSecret), []byte(fuzzInlineSecret))
		data = bytes.ReplaceAll(data, []byte(phSecretFile), []byte(secretFile))
		data = bytes.ReplaceAll(data, []byte(phPEMFile), []byte(pemFile))
		nodes, parsed := yamlNodes(data)
		if parsed && readsSpecialFile(nodes) {
			t.Skip("names a device, /proc or /sys file, or a large one")
		}
		cfg, err := config.Parse("fuzz.yml", data)

		var shown []string
		if err != nil {
			shown = append(shown, "error: "+err.Error())
		} else {
			shown = append(shown, cfg.Warnings...)
			shown = append(shown, fmt.Sprintf("%v", *cfg), fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%#v", *cfg))
			if j, err := json.Marshal(cfg); err == nil {
				shown = append(shown, string(j))
			}
			if y, err := yaml.Marshal(cfg); err == nil {
				shown = append(shown, string(y))
			}
		}
		secrets := map[string]bool{}
		if !parsed || !exposedElsewhere(nodes, fuzzInlineSecret) {
			secrets[fuzzInlineSecret] = true
		}
		if !bytes.Contains(data, []byte(fuzzFileSecret)) {
			secrets[fuzzFileSecret] = true
		}
		for _, l := range keyLines {
			if !bytes.Contains(data, []byte(l)) {
				secrets[l] = true
			}
		}
		for _, s := range shown {
			for secret := range secrets {
				if strings.Contains(s, secret) {
					t.Fatalf("config.Parse(%q) shows the secret %q:\n%s", data, secret, s)
				}
			}
		}
		if err == nil {
			checkAccepted(t, data, cfg)
		}
	})
}

// privateKeyLines are the base64 lines of the PEM's private key block.
func privateKeyLines(pem []byte) []string {
	var lines []string
	in := false
	for _, l := range strings.Split(string(pem), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "-----BEGIN") && strings.Contains(l, "PRIVATE KEY"):
			in = true
		case strings.HasPrefix(l, "-----END"):
			in = false
		case in && len(l) >= 32:
			lines = append(lines, l)
		}
	}
	return lines
}

// yamlNodes parses every document of data; false if one does not parse
// (config.Parse then fails before reading any file).
func yamlNodes(data []byte) ([]*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, true
		}
		if err != nil {
			return docs, false
		}
		docs = append(docs, &n)
	}
}

// walk calls fn for every node under n, not following aliases.
func walk(n *yaml.Node, fn func(n, parent *yaml.Node, i int)) {
	for i, c := range n.Content {
		fn(c, n, i)
		walk(c, fn)
	}
}

// readsSpecialFile reports whether any scalar names a path config.Parse
// could be made to read that is not a small regular file: /dev/zero or a
// FIFO would block the fuzzer, not the exporter's users.
func readsSpecialFile(docs []*yaml.Node) bool {
	special := false
	for _, d := range docs {
		walk(d, func(n, _ *yaml.Node, _ int) {
			if n.Kind != yaml.ScalarNode || n.Value == "" {
				return
			}
			for _, p := range []string{n.Value, strings.TrimSpace(n.Value)} {
				for _, dir := range []string{"dev", "proc", "sys"} {
					if strings.HasPrefix(p, dir+"/") || strings.Contains(p, "/"+dir) {
						special = true
					}
				}
				real, err := filepath.EvalSymlinks(p)
				if err != nil {
					continue
				}
				fi, err := os.Stat(real)
				if err == nil && (!fi.Mode().IsRegular() && !fi.IsDir() || fi.Size() > 1<<20) {
					special = true
				}
				if abs, err := filepath.Abs(real); err == nil && (strings.HasPrefix(abs, "/dev") || strings.HasPrefix(abs, "/proc") || strings.HasPrefix(abs, "/sys")) {
					special = true
				}
			}
		})
	}
	return special
}

// exposedElsewhere reports whether secret appears in the input anywhere
// but as the plain scalar value of a client_secret key: then an error
// that quotes, say, a tenant name may show it, and that is no leak.
func exposedElsewhere(docs []*yaml.Node, secret string) bool {
	allowed := map[*yaml.Node]bool{}
	for _, d := range docs {
		walk(d, func(n, parent *yaml.Node, i int) {
			if parent.Kind == yaml.MappingNode && i%2 == 1 && parent.Content[i-1].Value == "client_secret" && n.Kind == yaml.ScalarNode {
				allowed[n] = true
			}
		})
	}
	elsewhere := false
	for _, d := range docs {
		walk(d, func(n, _ *yaml.Node, _ int) {
			switch {
			case strings.Contains(n.Anchor, secret) || strings.Contains(n.Tag, secret):
				elsewhere = true
			case n.Kind == yaml.AliasNode && n.Alias != nil && (allowed[n.Alias] || strings.Contains(n.Value, secret)):
				elsewhere = true
			case n.Kind == yaml.ScalarNode && !allowed[n] && strings.Contains(n.Value, secret):
				elsewhere = true
			case n.Kind == yaml.ScalarNode && allowed[n] && n.Value != secret && strings.Contains(n.Value, secret):
				elsewhere = true // part of a longer value: not the secret itself
			}
		})
	}
	return elsewhere
}

// checkAccepted checks what a config Parse accepted promises.
func checkAccepted(t *testing.T, data []byte, cfg *config.Config) {
	t.Helper()
	g := cfg.Global
	if g.CacheTTL <= 0 || g.TerminalCacheTTL <= 0 || g.RequestTimeout <= 0 || g.MaxConcurrency < 1 {
		t.Errorf("config.Parse(%q) accepted global %+v", data, g)
	}
	if len(cfg.Tenants) == 0 {
		t.Fatalf("config.Parse(%q) accepted no tenants", data)
	}
	hosts := map[string]string{}
	for i, tn := range cfg.Tenants {
		if tn.Name == "" || hosts[tn.Name] != "" {
			t.Errorf("tenants[%d]: name %q empty or repeated", i, tn.Name)
		}
		for _, ep := range []string{tn.GraphEndpoint, tn.AuthorityHost} {
			u, err := url.Parse(ep)
			if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				t.Errorf("tenants[%d]: endpoint %q is not https://host[:port]", i, ep)
			}
		}
		switch tn.Credential {
		case config.CredentialClientSecret:
			if tn.Secret.Reveal() == "" {
				t.Errorf("tenants[%d]: client secret credential with no secret", i)
			}
		case config.CredentialClientCertificate:
			if tn.CertificatePEM.Reveal() == "" {
				t.Errorf("tenants[%d]: certificate credential with no PEM", i)
			}
		case config.CredentialFederatedToken:
			if tn.FederatedTokenPath == "" {
				t.Errorf("tenants[%d]: federated credential with no token file", i)
			}
		case config.CredentialManagedIdentity:
		case "":
			if tn.Delegated == nil {
				t.Errorf("tenants[%d]: neither an application credential nor a delegated one", i)
			}
		default:
			t.Errorf("tenants[%d]: credential %q", i, tn.Credential)
		}
		if d := tn.Delegated; d != nil && (d.TokenCacheFile == "" || d.ClientID == "" || tn.TenantID == "") {
			t.Errorf("tenants[%d]: delegated sign-in without a cache file, client id or tenant id: %+v", i, d)
		}
		u, _ := url.Parse(tn.GraphEndpoint)
		hosts[tn.Name] = u.Host
	}
	keys := map[string]bool{}
	for i, op := range cfg.Operations {
		host, ok := hosts[op.Tenant]
		if !ok {
			t.Errorf("operations[%d]: tenant %q is not configured", i, op.Tenant)
			continue
		}
		p := op.Ref.URLPath()
		if !strings.HasPrefix(p, "/v1.0/") && !strings.HasPrefix(p, "/beta/") {
			t.Errorf("operations[%d]: request path %q", i, p)
		}
		u, err := url.Parse("https://" + host + p)
		if err != nil || u.Host != host || u.User != nil {
			t.Errorf("operations[%d]: request https://%s%s leaves the tenant's Graph host", i, host, p)
		}
		if k := op.Tenant + "\x00" + op.Ref.Key(); keys[k] {
			t.Errorf("operations[%d]: duplicate %s", i, op.Ref.Key())
		} else {
			keys[k] = true
		}
		if !graph.KnownScope(op.Ref.Scope) {
			t.Errorf("operations[%d]: scope %q", i, op.Ref.Scope)
		}
	}
}
