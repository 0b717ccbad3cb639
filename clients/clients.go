// Package clients builds the Graph clients, with their MSAL credentials, of
// a configuration's tenants, and keeps across reloads those whose tenant
// did not change. main owns it: the collector knows Fetchers, not configs.
package clients

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go-kit/log"

	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// New builds one Graph client, with its MSAL credential, per tenant.
// hc, if not nil, is used for both Graph and the identity platform (the
// simulated tenant's TLS certificate). Nothing is contacted.
func New(cfg *config.Config, hc *http.Client, m *graph.Metrics, logger log.Logger) (map[string]*graph.Client, error) {
	return NewWithRetry(cfg, hc, m, logger, graph.RetryPolicy{})
}

// NewWithRetry is New with a retry policy for every client (its zero
// fields are graph.DefaultRetry's): tests give one whose waits take no
// time.
func NewWithRetry(cfg *config.Config, hc *http.Client, m *graph.Metrics, logger log.Logger, retry graph.RetryPolicy) (map[string]*graph.Client, error) {
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
			Retry:          retry,
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

// Identity is what makes a tenant the one it is, for the collector's cache
// keys: its directory, apps, credential kind and endpoints. No secret: a
// rotated secret is still the same directory.
func Identity(t config.Tenant) string {
	delegatedClient := ""
	if t.Delegated != nil {
		delegatedClient = "delegated:" + t.Delegated.ClientID
	}
	return strings.Join([]string{t.TenantID, t.ClientID, string(t.Credential), delegatedClient, t.AuthorityHost, t.GraphEndpoint}, "\x00")
}
