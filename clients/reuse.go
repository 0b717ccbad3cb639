package clients

import (
	"net/http"
	"reflect"

	"github.com/go-kit/log"

	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// Reuse builds the Graph clients of cfg like New, but keeps
// those of prevClients (built from prev) whose tenant did not change: the
// same credentials, endpoints and client settings. They keep MSAL's token
// cache, so that a reload costs no token, and their connections. replaced
// are the previous clients not kept, whose idle connections the caller
// closes once the new ones are in use.
func Reuse(cfg, prev *config.Config, prevClients map[string]*graph.Client, hc *http.Client, m *graph.Metrics, logger log.Logger) (clients map[string]*graph.Client, replaced []*graph.Client, err error) {
	build := *cfg
	build.Tenants = nil
	kept := map[string]*graph.Client{}
	for _, t := range cfg.Tenants {
		if c, ok := prevClients[t.Name]; ok && prev != nil && sameClient(cfg, prev, t) {
			kept[t.Name] = c
			continue
		}
		build.Tenants = append(build.Tenants, t)
	}
	clients, err = New(&build, hc, m, logger)
	if err != nil {
		return nil, nil, err
	}
	for name, c := range kept {
		clients[name] = c
	}
	for name, c := range prevClients {
		if kept[name] != c {
			replaced = append(replaced, c)
		}
	}
	return clients, replaced, nil
}

// sameClient says whether tenant t of cfg would get the client its
// namesake in prev got: everything New reads is the same.
func sameClient(cfg, prev *config.Config, t config.Tenant) bool {
	if cfg.File != prev.File || cfg.Global.MaxConcurrency != prev.Global.MaxConcurrency ||
		cfg.Global.Batch != prev.Global.Batch || cfg.Global.RequestTimeout != prev.Global.RequestTimeout {
		return false
	}
	for _, p := range prev.Tenants {
		if p.Name == t.Name {
			p.Line, t.Line = 0, 0 // where it is in the file does not matter
			return reflect.DeepEqual(p, t)
		}
	}
	return false
}
