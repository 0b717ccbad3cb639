// Package config holds the exporter's configuration file: its schema, its
// defaults, its validation and the secrets it names.
//
// The file is strict YAML: an unknown key anywhere is an error naming the key
// and its line. Every error has the shape
//
//	<file>:<line>: <where>: <key>: <problem>
//
// where <where> is `global`, `tenants[<i>] "<name>"` or
// `operations[<i>] "<id or url>"`. Errors found while reading the YAML
// (unknown or repeated keys, values of the wrong type) name the position
// only, as in `tenants[0]`, because the entry's name may not be known yet.
// No error or warning ever contains a secret.
package config

import (
	"path/filepath"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// Config is a loaded, validated configuration file.
type Config struct {
	Global     Global      `yaml:"global"`
	Tenants    []Tenant    `yaml:"tenants"`
	Operations []Operation `yaml:"operations"`
	Discovery  []Discovery `yaml:"discovery"`
	// File is the path the config was loaded from (the name given to
	// Parse), for the commands that messages quote.
	File string `yaml:"-"`
	// Warnings found while loading (e.g. inline client_secret; a secret file
	// readable by group/others). Never contains a secret.
	Warnings []string `yaml:"-"`
}

// Global holds the settings that apply to every tenant.
type Global struct {
	// CacheTTL is how long a non-terminal status is reused.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// TerminalCacheTTL is how long a succeeded or failed status is reused:
	// it never changes, so this can be long.
	TerminalCacheTTL time.Duration `yaml:"terminal_cache_ttl"`
	// RequestTimeout bounds one request to Graph.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxConcurrency is the number of Graph requests in flight per tenant.
	MaxConcurrency int `yaml:"max_concurrency"`
	// Batch groups GETs into $batch requests of up to 20.
	Batch bool `yaml:"batch"`
	// MaxOperations caps the operations watched (configured ones first,
	// then discovered ones), so that a runaway discovery cannot exhaust
	// memory or the Graph budget.
	MaxOperations int `yaml:"max_operations"`
}

// DefaultGlobal holds the defaults of Global; a key left out of the file, or
// given as null, keeps its default.
var DefaultGlobal = Global{
	CacheTTL:         30 * time.Second,
	TerminalCacheTTL: time.Hour,
	RequestTimeout:   10 * time.Second,
	MaxConcurrency:   4,
	Batch:            true,
	MaxOperations:    20000,
}

// CredentialKind says how a tenant authenticates to the identity platform.
type CredentialKind string

// The credential kinds, graph's names for them (one list: the Graph
// client is built from this kind). Exactly one is chosen per tenant.
const (
	// CredentialClientSecret is client_secret or client_secret_file.
	CredentialClientSecret CredentialKind = graph.CredentialClientSecret
	// CredentialClientCertificate is client_certificate_file.
	CredentialClientCertificate CredentialKind = graph.CredentialClientCertificate
	// CredentialFederatedToken is federated_token_file, or workload identity
	// through AZURE_FEDERATED_TOKEN_FILE.
	CredentialFederatedToken CredentialKind = graph.CredentialFederatedToken
	// CredentialManagedIdentity is managed_identity.
	CredentialManagedIdentity CredentialKind = graph.CredentialManagedIdentity
)

// Tenant is one Entra ID tenant and the application that reads its
// operations.
type Tenant struct {
	// Name is the value of the `tenant` label.
	Name     string `yaml:"name"`
	TenantID string `yaml:"tenant_id"`
	ClientID string `yaml:"client_id"`
	// Cloud is one of graph.CloudNames(); "global" after Load when empty.
	Cloud                 string `yaml:"cloud"`
	ClientSecret          Secret `yaml:"client_secret"`
	ClientSecretFile      string `yaml:"client_secret_file"`
	ClientCertificateFile string `yaml:"client_certificate_file"`
	// FederatedTokenFile present but empty means $AZURE_FEDERATED_TOKEN_FILE.
	FederatedTokenFile *string `yaml:"federated_token_file"`
	// ManagedIdentity {} (or null) means the system-assigned identity.
	ManagedIdentity *ManagedIdentity `yaml:"managed_identity"`
	// Delegated is a signed-in account, for the operations Graph reads only
	// with a delegated token (password resets); beside or instead of the
	// application's own credential above.
	Delegated *Delegated `yaml:"delegated"`
	// AuthorityHost is filled from the cloud by Load when empty; no trailing
	// slash.
	AuthorityHost string `yaml:"authority_host"`
	// GraphEndpoint is filled from the cloud by Load when empty; no trailing
	// slash.
	GraphEndpoint string `yaml:"graph_endpoint"`
	// DisableInstanceDiscovery turns off authority validation: MSAL then
	// sends the secret or assertion to authority_host without first asking
	// Entra's instance discovery (at login.microsoftonline.com) whether it
	// is a Microsoft cloud's login host. Only for a private cloud or a test
	// identity platform that Entra does not know (azidentity's
	// DisableInstanceDiscovery).
	DisableInstanceDiscovery bool `yaml:"disable_instance_discovery"`
	// SendCertificateChain sends client_certificate_file's chain (x5c) with
	// each assertion, for subject name and issuer authentication
	// (azidentity's SendCertificateChain).
	SendCertificateChain bool `yaml:"send_certificate_chain"`

	// Credential is the kind of the application's own (app-only)
	// credential; "" when the tenant has only a delegated one.
	Credential CredentialKind `yaml:"-"`
	// Secret is the client secret: inline, or the file's content with
	// surrounding whitespace trimmed.
	Secret Secret `yaml:"-"`
	// CertificatePEM is the content of client_certificate_file: certificate
	// and RSA private key, PEM.
	CertificatePEM Secret `yaml:"-"`
	// FederatedTokenPath is the resolved path of the federated token. The
	// credential re-reads the file on every token request (it is rotated
	// under us), so Load does not read it.
	FederatedTokenPath string `yaml:"-"`
	// Line is the line of this tenant's entry.
	Line int `yaml:"-"`
}

// Delegated is a tenant's delegated sign-in: an account signed in once
// with `msgraph_lro_exporter login`, whose tokens MSAL's public client
// renews from the refresh token kept in TokenCacheFile.
type Delegated struct {
	// TokenCacheFile is MSAL's token cache, written by `login` and rewritten
	// as refresh tokens rotate; resolved against the config's directory.
	TokenCacheFile string `yaml:"token_cache_file"`
	// ClientID is the public client application; the tenant's client_id
	// when empty (after Load, always set).
	ClientID string `yaml:"client_id"`
	// Cache, if set, holds the sign-in instead of TokenCacheFile: the demo
	// keeps its sign-in in memory.
	Cache cache.ExportReplace `yaml:"-"`
}

// ManagedIdentity selects an Azure managed identity.
type ManagedIdentity struct {
	// ClientID of a user-assigned identity; empty means system-assigned.
	ClientID string `yaml:"client_id"`
}

// The values of an operation's credential key.
const (
	CredentialApp       = "app"
	CredentialDelegated = "delegated"
)

// Operation is one long-running operation to watch.
type Operation struct {
	Tenant string `yaml:"tenant"`
	Scope  string `yaml:"scope"`
	ID     string `yaml:"id"`
	// Parents, as the scope's kind names them (graph.Kinds).
	User       string `yaml:"user"`
	Site       string `yaml:"site"`
	List       string `yaml:"list"`
	Team       string `yaml:"team"`
	Connection string `yaml:"connection"`
	Case       string `yaml:"case"`
	// URL is a pasted Graph URL (a Location header, say), which gives the
	// scope and identifying fields instead of scope, id, user and site.
	URL string `yaml:"url"`
	// Name is the value of the optional `name` label.
	Name string `yaml:"name"`
	// Labels are static labels added to every series of this operation.
	Labels map[string]string `yaml:"labels"`
	// Credential is "delegated" for a custom operation that Graph reads only
	// with a signed-in account's token, "app" (or empty) otherwise.
	Credential string `yaml:"credential"`

	// Ref says what to fetch; Ref.Scope is the scope label (inferred from
	// url when url is set).
	Ref graph.OperationRef `yaml:"-"`
	// Line is the line of this operation's entry.
	Line int `yaml:"-"`
}

// Discovery scopes: the collections Graph lists operations in.
var DiscoveryScopes = graph.ListedScopes

// Defaults of a discovery job.
const (
	DefaultDiscoveryInterval  = 5 * time.Minute
	DefaultDiscoveryRetention = 24 * time.Hour
	// MinDiscoveryInterval keeps a typo from listing a collection every
	// second against the tenant's Graph budget.
	MinDiscoveryInterval = 10 * time.Second
)

// Discovery is a job that finds operations by listing a collection.
type Discovery struct {
	Tenant string `yaml:"tenant"`
	// Scope is one of DiscoveryScopes.
	Scope string `yaml:"scope"`
	// Site is the site id, for scopes sites and siteLists; List the list
	// id, for siteLists.
	Site string `yaml:"site"`
	List string `yaml:"list"`
	// Case is the eDiscovery case, for scope ediscovery.
	Case string `yaml:"case"`
	// Interval between two listings; DefaultDiscoveryInterval when absent.
	Interval time.Duration `yaml:"interval"`
	// Retention: a succeeded or failed operation whose last action is older
	// is no longer watched. DefaultDiscoveryRetention when absent.
	Retention time.Duration `yaml:"retention"`
	// Labels are static labels added to every operation the job finds.
	Labels map[string]string `yaml:"labels"`

	// Line is the line of this job's entry.
	Line int `yaml:"-"`
}

// MaxConfigBytes caps the configuration file.
const MaxConfigBytes = 16 << 20

// Load reads, parses and validates the file at path, reads secret files, and
// returns the complete config or the first error. Relative secret file paths
// are relative to the directory of path.
func Load(path string) (*Config, error) {
	data, err := graph.ReadRegularFile(path, MaxConfigBytes)
	if err != nil {
		return nil, err
	}
	return parse(path, data, filepath.Dir(path), nil)
}

// Parse does the same as Load for in-memory YAML; name is used in error
// messages in place of the path; relative secret file paths are relative to
// the process's working directory.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, "", nil)
}

// ParseWithSignIns is Parse for a config whose named tenants keep their
// delegated sign-in in memory (the demo's) instead of a token cache file:
// their `delegated` needs no token_cache_file.
func ParseWithSignIns(name string, data []byte, signIns map[string]cache.ExportReplace) (*Config, error) {
	return parse(name, data, "", signIns)
}

// Tenant returns the tenant with that name.
func (c *Config) Tenant(name string) (*Tenant, bool) {
	for i := range c.Tenants {
		if c.Tenants[i].Name == name {
			return &c.Tenants[i], true
		}
	}
	return nil, false
}
