package main

import (
	"fmt"
	"html"
	"net/http"
	"net/url"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/msgraph-lro/msgraph_lro_exporter/collector"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// probeExamples are /probe links to operations of cfg, one per scope, so
// that every one answers: the config's first operation of each scope /probe
// takes (custom ones need a path, which /probe never takes).
func probeExamples(cfg *config.Config) []web.LandingLinks {
	var links []web.LandingLinks
	for _, op := range probeOperations(cfg.Operations) {
		r := op.Ref
		q := url.Values{"tenant": {op.Tenant}, "scope": {r.Scope}, "id": {r.ID}}
		for _, p := range r.Kind().Parents {
			q.Set(p, r.Parent(p))
		}
		what := r.ID
		if op.Name != "" {
			what = op.Name
		}
		links = append(links, web.LandingLinks{
			Address:     "/probe?" + q.Encode(),
			Text:        "Probe " + r.Scope,
			Description: "one operation (" + what + ", tenant " + op.Tenant + "), as a /probe scrape job asks for it",
		})
	}
	return links
}

// probeOperations are the operations the landing page shows as /probe
// examples: the first of each scope that /probe can ask for.
func probeOperations(ops []config.Operation) []config.Operation {
	var out []config.Operation
	seen := map[string]bool{}
	for _, op := range ops {
		r := op.Ref
		if seen[r.Scope] || r.Scope == graph.ScopeCustom || r.ID == "" {
			continue
		}
		seen[r.Scope] = true
		out = append(out, op)
	}
	return out
}

// landingPage serves / from the configuration in use, so that its /probe
// examples follow reloads. Every link it shows answers 200: there is no
// pprof link (the exporter serves no profiling) and no /-/reload (a POST).
func landingPage(current func() *config.Config, telemetryPath string, demo bool, shard collector.Shard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc := web.LandingConfig{
			Name:        "Microsoft Graph long-running operations exporter",
			Description: "Prometheus exporter for the health of Microsoft Graph long-running operations",
			Version:     version.Info(),
			Profiling:   "false",
			Links: []web.LandingLinks{
				{Address: telemetryPath, Text: "Metrics", Description: "every watched operation, and the exporter's own metrics"},
			},
		}
		if cfg := current(); cfg != nil {
			lc.Links = append(lc.Links, probeExamples(cfg)...)
		}
		lc.Links = append(lc.Links,
			web.LandingLinks{Address: "/-/healthy", Text: "Health", Description: "200 while the process runs"},
			web.LandingLinks{Address: "/-/ready", Text: "Ready", Description: "200 once the configuration is loaded"},
		)
		if shard.Total > 1 {
			lc.ExtraHTML += fmt.Sprintf(`<div id="shard">Shard %d of %d (--shard=%d --total-shards=%d): this replica watches the configured and discovered operations whose key hashes to it; the other replicas watch the rest.</div>`,
				shard.Index, shard.Total, shard.Index, shard.Total)
		}
		if demo {
			lc.Name += " (DEMO)"
			lc.HeaderColor = "#b3261e"
			lc.ExtraCSS = ".demo{border:3px solid #b3261e;padding:0.5em 1em;margin:1em 0;font-weight:bold}"
			lc.ExtraHTML += `<div class="demo" id="demo">` + html.EscapeString("DEMO MODE: these metrics come from a simulated tenant inside this process. Nothing here is real and no credentials are used.") + `</div>`
		}
		h, err := web.NewLandingPage(lc)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h.ServeHTTP(w, r)
	})
}
