package collector

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go-kit/log"

	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// TargetsFromConfig lists the operations a config names.
func TargetsFromConfig(cfg *config.Config) []Target {
	ts := make([]Target, 0, len(cfg.Operations))
	for _, op := range cfg.Operations {
		ts = append(ts, Target{Tenant: op.Tenant, Ref: op.Ref, Name: op.Name, Labels: op.Labels, Source: SourceConfig})
	}
	return ts
}

// SettingsFromConfig takes the cache and timeout settings of a config.
func SettingsFromConfig(cfg *config.Config) Settings {
	g := cfg.Global
	return Settings{
		CacheTTL:         g.CacheTTL,
		TerminalCacheTTL: g.TerminalCacheTTL,
		// Room to wait for a request slot and a token, then the request.
		FetchTimeout:  3 * g.RequestTimeout,
		MaxOperations: g.MaxOperations,
	}
}

// NewClients builds one Graph client, with its MSAL credential, per tenant.
// hc, if not nil, is used for both Graph and the identity platform (the
// simulated tenant's TLS certificate). Nothing is contacted.
func NewClients(cfg *config.Config, hc *http.Client, m *graph.Metrics, logger log.Logger) (map[string]*graph.Client, error) {
	clients := make(map[string]*graph.Client, len(cfg.Tenants))
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		co := graph.CredentialOptions{
			Tenant:                   t.Name,
			TenantID:                 t.TenantID,
			ClientID:                 t.ClientID,
			AuthorityHost:            t.AuthorityHost,
			GraphEndpoint:            t.GraphEndpoint,
			Kind:                     string(t.Credential),
			Secret:                   t.Secret.Reveal(),
			CertificatePEM:           []byte(t.CertificatePEM.Reveal()),
			FederatedTokenPath:       t.FederatedTokenPath,
			SendCertificateChain:     t.SendCertificateChain,
			DisableInstanceDiscovery: t.DisableInstanceDiscovery,
			HTTPClient:               hc,
			Metrics:                  m,
			Logger:                   logger,
		}
		if t.ManagedIdentity != nil {
			co.ManagedIdentityClientID = t.ManagedIdentity.ClientID
		}
		var ts, dts graph.TokenSource
		var err error
		if t.Credential != "" {
			if ts, err = graph.NewTokenSource(co); err != nil {
				return nil, fmt.Errorf("tenant %q: %w", t.Name, err)
			}
		}
		if d := t.Delegated; d != nil {
			dts, err = graph.NewDelegatedTokenSource(graph.DelegatedOptions{
				Tenant:                   t.Name,
				TenantID:                 t.TenantID,
				ClientID:                 d.ClientID,
				AuthorityHost:            t.AuthorityHost,
				GraphEndpoint:            t.GraphEndpoint,
				DisableInstanceDiscovery: t.DisableInstanceDiscovery,
				CacheFile:                d.TokenCacheFile,
				Cache:                    d.Cache,
				LoginCommand:             LoginCommand(cfg.File, t.Name),
				HTTPClient:               hc,
				Metrics:                  m,
				Logger:                   logger,
			})
			if err != nil {
				return nil, fmt.Errorf("tenant %q: %w", t.Name, err)
			}
		}
		c, err := graph.NewClient(graph.ClientOptions{
			Tenant:         t.Name,
			GraphEndpoint:  t.GraphEndpoint,
			Tokens:         ts,
			Delegated:      dts,
			HTTPClient:     hc,
			MaxConcurrency: cfg.Global.MaxConcurrency,
			Batch:          cfg.Global.Batch,
			RequestTimeout: cfg.Global.RequestTimeout,
			Metrics:        m,
			Logger:         logger,
		})
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.Name, err)
		}
		clients[t.Name] = c
	}
	return clients, nil
}

// LoginCommand is the command that signs an account in for a tenant's
// delegated credential, as errors and logs quote it.
func LoginCommand(configFile, tenant string) string {
	return "msgraph_lro_exporter login --config.file=" + shellQuote(configFile) + " --tenant=" + shellQuote(tenant)
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SignInProblems says, per tenant, what is wrong with each delegated
// sign-in's token cache (missing, empty, not a cache, another app's or
// tenant's). The exporter serves everything else meanwhile.
func SignInProblems(clients map[string]*graph.Client) map[string]error {
	out := map[string]error{}
	for name, c := range clients {
		if err := c.CheckSignIn(); err != nil {
			out[name] = err
		}
	}
	return out
}

// A Graph client lists: discovery asks it through Lister.
var _ Lister = (*graph.Client)(nil)

// JobsFromConfig lists the discovery jobs a config names.
func JobsFromConfig(cfg *config.Config) []Job {
	jobs := make([]Job, 0, len(cfg.Discovery))
	for _, d := range cfg.Discovery {
		jobs = append(jobs, Job{Tenant: d.Tenant, Scope: d.Scope, Site: d.Site, List: d.List, Case: d.Case, Interval: d.Interval, Retention: d.Retention, Labels: d.Labels})
	}
	return jobs
}

// Apply makes the exporter watch what cfg says, through clients, and runs
// its discovery jobs in the background.
func (e *Exporter) Apply(cfg *config.Config, clients map[string]*graph.Client) {
	fetchers := make(map[string]Fetcher, len(clients))
	for name, c := range clients {
		fetchers[name] = c
	}
	// A tenant that keeps its name but is now another directory, app or
	// Graph must not go on showing the old one's cached answers.
	ids := make(map[string]string, len(cfg.Tenants))
	for _, t := range cfg.Tenants {
		ids[t.Name] = strings.Join([]string{t.TenantID, t.ClientID, t.AuthorityHost, t.GraphEndpoint}, "\x00")
	}
	e.mu.Lock()
	for name, id := range e.tenantIDs {
		if ids[name] != id {
			e.cache.dropTenant(name)
		}
	}
	e.tenantIDs = ids
	e.mu.Unlock()
	jobs := JobsFromConfig(cfg)
	e.configure(&configured{TargetsFromConfig(cfg), fetchers, SettingsFromConfig(cfg)}, &jobs)
}
