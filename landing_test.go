package main

import (
	"html"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

var href = regexp.MustCompile(`href="([^"]*)"`)

// checkLinks follows every link of the landing page and wants 200 from
// each; it returns the links, as paths with their queries, sorted.
func checkLinks(t *testing.T, x *exporter) (page string, links []string) {
	t.Helper()
	code, page := x.get(t, "/")
	if code != 200 {
		t.Fatalf("GET /: %d\n%s", code, page)
	}
	base, _ := url.Parse(x.url + "/")
	for _, m := range href.FindAllStringSubmatch(page, -1) {
		u, err := base.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Errorf("link %q: %v", m[1], err)
			continue
		}
		if u.Host != base.Host {
			t.Errorf("link %q leaves the exporter", m[1])
			continue
		}
		code, body := x.get(t, u.RequestURI())
		if code != 200 {
			t.Errorf("link %q (%s): %d\n%s", m[1], u.RequestURI(), code, body)
		}
		if u.Path == "/probe" && !strings.Contains(body, "\nmsgraph_lro_probe_success 1\n") {
			t.Errorf("link %q: the probe did not succeed:\n%s", u.RequestURI(), body)
		}
		links = append(links, u.RequestURI())
	}
	sort.Strings(links)
	return page, links
}

func TestLandingPageLinksDemo(t *testing.T) {
	x := start(t, nil, "--demo")
	page, links := checkLinks(t, x)
	probe := func(q string) string { return "/probe?" + q }
	want := []string{
		"/-/healthy", "/-/ready", "/metrics",
		// The kinds of graph.Kinds the demo holds, each with its parents.
		probe("case=b0073e4e-4184-41c6-9eb7-8c8cc3e2288b&id=850c2f64b1ee44a4a69729327aac2b04&scope=ediscovery&tenant=demo"),
		probe("connection=contosohr&id=3ed1595a-4bae-43c2-acda-ef973e581323&scope=searchConnections&tenant=demo"),
		probe("id=2d497bb-57bd-47a6-8749-5ccd0869f2bd&scope=authenticationMethods&tenant=demo&user=alice%40contoso.com"),
		probe("id=3c9b1d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f&scope=teams&team=2b8a0b2c-4b1d-4c4e-9f3a-1d2e3f4a5b6c&tenant=demo"),
		probe("id=81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4&scope=print&tenant=demo"),
		probe("id=copy%2C8f3e2d1c-0b9a-4876-a5b4-c3d2e1f0a9b8&scope=sites&site=contoso.sharepoint.com%2C2c712a2f-f0a6-4b1b-8b25-7a1f6b0f1c4e%2C8b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d&tenant=demo"),
		probe("id=d194fa3e-18c9-47a1-0fb1-08dad8e7a876&scope=industryData&tenant=demo"),
		probe("id=refresh%3ADirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert&scope=roleManagementAlerts&tenant=demo"),
	}
	if strings.Join(links, "\n") != strings.Join(want, "\n") {
		t.Errorf("landing page links:\n%s\nwant:\n%s", strings.Join(links, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range []string{`<div class="demo" id="demo">DEMO MODE: these metrics come from a simulated tenant`, "(DEMO)</h1>", "Version: (version=" + strings.TrimSpace(versionFile) + ","} {
		if !strings.Contains(page, s) {
			t.Errorf("the demo's landing page lacks %q:\n%s", s, page)
		}
	}
	if strings.Contains(page, "debug/pprof") {
		t.Errorf("the landing page offers profiling, which is not served:\n%s", page)
	}
}

// Outside the demo: no banner, the telemetry path as given, a probe link
// for the configured operation; and after a reload, the new one.
func TestLandingPageLinksConfig(t *testing.T) {
	tn := graphtest.NewTenant(t)
	refA := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "op-a"}
	refB := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "op-b"}
	for _, r := range []graph.OperationRef{refA, refB} {
		tn.SetOperation(r.URLPath(), map[string]any{"id": r.ID, "status": "running", "createdDateTime": "2026-12-01T10:00:00Z"})
	}
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret, 0o600)
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: op-a}\n  - {tenant: contoso, url: /v1.0/solutions/backupRestore/operations/x}\n"), 0o644)
	x := start(t, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfgFile, "--web.telemetry-path=/m")
	page, links := checkLinks(t, x)
	if want := "/-/healthy /-/ready /m /probe?id=op-a&scope=industryData&tenant=contoso"; strings.Join(links, " ") != want {
		t.Errorf("landing page links: %s\nwant: %s", strings.Join(links, " "), want)
	}
	if strings.Contains(page, "DEMO") || strings.Contains(page, "debug/pprof") {
		t.Errorf("the landing page shows a demo banner or profiling:\n%s", page)
	}

	writeFile(t, dir, "msgraph_lro.yml", tenantConfig(tn, secret, "  - {tenant: contoso, scope: industryData, id: op-b}\n"), 0o644)
	if err := x.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, links = checkLinks(t, x); strings.Contains(strings.Join(links, " "), "id=op-b") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("after a reload the landing page still links %v", links)
}
