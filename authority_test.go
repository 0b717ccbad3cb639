package main

import (
	"strings"
	"testing"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// authorityOp is the one operation of the authority tests' configs.
const authorityOp = "  - {tenant: contoso, scope: industryData, id: op1}\n"

// Through the binary, with the worldwide login host reachable through
// HTTPS_PROXY as it is in production: by default, a tenant whose
// authority_host Entra's instance discovery does not know gets no token
// and sends the host nothing; the log says what to check. Where Entra
// knows the host, the operation is read; disable_instance_discovery skips
// the check.
func TestBinaryInstanceDiscovery(t *testing.T) {
	for _, tc := range []struct {
		name      string
		known     bool
		extra     string
		up        string
		discovery int // requests to the worldwide host
		tokens    int // token requests to authority_host
	}{
		{"unknown host", false, "", "0", 2, 0},
		{"known host", true, "", "1", 2, 1},
		{"disabled", false, "    disable_instance_discovery: true\n", "1", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			tn.KnowInstance(tc.known)
			tn.SetOperation(graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "op1"}.URLPath(), map[string]any{"id": "op1", "status": "running"})
			dir := t.TempDir()
			secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
			cfg := writeFile(t, dir, "msgraph_lro.yml", tenantYAML(tn, "client_secret_file: "+secret, tc.extra, authorityOp), 0o600)
			x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile, "HTTPS_PROXY=" + tn.WorldwideProxy(), "NO_PROXY=", "no_proxy=", "https_proxy="},
				"--config.file="+cfg)
			_, body := x.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "5")
			want := `msgraph_lro_up{name="",operation_id="op1",scope="industryData",tenant="contoso"} ` + tc.up
			if got := pick(body, "msgraph_lro_up"); !strings.Contains(got, want) {
				t.Errorf("got\n%s\nwant %s", got, want)
			}
			if got := tn.InstanceDiscoveryRequests(); got != tc.discovery {
				t.Errorf("instance discovery requests: %d, want %d", got, tc.discovery)
			}
			if got := tn.TokenRequests(); got != tc.tokens {
				t.Errorf("token requests to authority_host: %d, want %d", got, tc.tokens)
			}
			hint := "Entra's instance discovery does not know authority_host as a Microsoft login host, so no credential was sent to it: check authority_host; only for a private cloud or test identity platform you trust, set disable_instance_discovery: true"
			if got := strings.Contains(x.stderr.String(), hint); got != (tc.up == "0") {
				t.Errorf("log has the hint: %v, want %v\n%s", got, tc.up == "0", x.stderr.String())
			}
		})
	}
}

// Subject name and issuer authentication through the binary: a
// certificate issued by the trusted CA, not registered with the app, reads
// the operation with send_certificate_chain, and is refused without it.
func TestBinarySendCertificateChain(t *testing.T) {
	for _, tc := range []struct {
		name, extra, up string
	}{
		{"with the chain", "    send_certificate_chain: true\n", "1"},
		{"without", "", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			tn.SetOperation(graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "op1"}.URLPath(), map[string]any{"id": "op1", "status": "running"})
			dir := t.TempDir()
			cert := writeFile(t, dir, "client.pem", string(tn.SubjectNameCertificatePEM("exporter.contoso.example")), 0o600)
			cfg := writeFile(t, dir, "msgraph_lro.yml",
				tenantYAML(tn, "client_certificate_file: "+cert, "    disable_instance_discovery: true\n"+tc.extra, authorityOp), 0o600)
			x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfg)
			_, body := x.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "5")
			want := `msgraph_lro_up{name="",operation_id="op1",scope="industryData",tenant="contoso"} ` + tc.up
			if got := pick(body, "msgraph_lro_up"); !strings.Contains(got, want) {
				t.Errorf("got\n%s\nwant %s", got, want)
			}
			if got := strings.Contains(x.stderr.String(), "AADSTS700027"); got != (tc.up == "0") {
				t.Errorf("log has AADSTS700027: %v, want %v\n%s", got, tc.up == "0", x.stderr.String())
			}
		})
	}
}
