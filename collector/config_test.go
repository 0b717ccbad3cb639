package collector

import (
	"github.com/msgraph-lro/msgraph_lro_exporter/clients"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// SnapshotOf is main's snapshotOf, for the tests that drive the collector
// through a config and real Graph clients (main's golden file checks
// main's; this one is the same few lines).
func SnapshotOf(cfg *config.Config, cs map[string]*graph.Client) Snapshot {
	snap := Snapshot{Tenants: map[string]Tenant{}, Settings: Settings{
		CacheTTL: cfg.Global.CacheTTL, TerminalCacheTTL: cfg.Global.TerminalCacheTTL,
		FetchTimeout: 3 * cfg.Global.RequestTimeout, MaxOperations: cfg.Global.MaxOperations,
	}}
	for _, t := range cfg.Tenants {
		tn := Tenant{Identity: clients.Identity(t)}
		if c := cs[t.Name]; c != nil {
			tn.Fetcher = c
		}
		snap.Tenants[t.Name] = tn
	}
	for _, op := range cfg.Operations {
		snap.Targets = append(snap.Targets, Target{Tenant: op.Tenant, Ref: op.Ref, Name: op.Name, Labels: op.Labels, Source: SourceConfig})
	}
	for _, d := range cfg.Discovery {
		snap.Jobs = append(snap.Jobs, Job{Tenant: d.Tenant, Scope: d.Scope, Site: d.Site, List: d.List, Case: d.Case,
			Interval: d.Interval, Retention: d.Retention, Labels: d.Labels})
	}
	return snap
}
