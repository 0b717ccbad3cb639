package main

import (
	"github.com/msgraph-lro/msgraph_lro_exporter/clients"
	"github.com/msgraph-lro/msgraph_lro_exporter/collector"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// snapshotOf is what cfg says the collector watches, through cs (cfg's
// clients, one per tenant): the one place a config becomes the collector's
// targets, tenants, settings and discovery jobs.
func snapshotOf(cfg *config.Config, cs map[string]*graph.Client) collector.Snapshot {
	snap := collector.Snapshot{
		Targets: make([]collector.Target, 0, len(cfg.Operations)),
		Tenants: make(map[string]collector.Tenant, len(cfg.Tenants)),
		Settings: collector.Settings{
			CacheTTL:         cfg.Global.CacheTTL,
			TerminalCacheTTL: cfg.Global.TerminalCacheTTL,
			// Room to wait for a request slot and a token, then the request.
			FetchTimeout:  3 * cfg.Global.RequestTimeout,
			MaxOperations: cfg.Global.MaxOperations,
		},
		Jobs: make([]collector.Job, 0, len(cfg.Discovery)),
	}
	for _, t := range cfg.Tenants {
		tn := collector.Tenant{Identity: clients.Identity(t)}
		if c := cs[t.Name]; c != nil {
			tn.Fetcher = c
		}
		snap.Tenants[t.Name] = tn
	}
	for _, op := range cfg.Operations {
		snap.Targets = append(snap.Targets, collector.Target{Tenant: op.Tenant, Ref: op.Ref, Name: op.Name, Labels: op.Labels, Source: collector.SourceConfig})
	}
	for _, d := range cfg.Discovery {
		snap.Jobs = append(snap.Jobs, collector.Job{Tenant: d.Tenant, Scope: d.Scope, Site: d.Site, List: d.List, Case: d.Case,
			Interval: d.Interval, Retention: d.Retention, Labels: d.Labels})
	}
	return snap
}

// A Graph client fetches and lists for the collector.
var (
	_ collector.Fetcher = (*graph.Client)(nil)
	_ collector.Lister  = (*graph.Client)(nil)
)
