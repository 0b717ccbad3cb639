package graph

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Scope names: the `scope` label and the `scope` config key.
const (
	ScopeRoleManagementAlerts  = "roleManagementAlerts"
	ScopeAuthenticationMethods = "authenticationMethods"
	ScopeIndustryData          = "industryData"
	ScopeSites                 = "sites"
	ScopeCustom                = "custom"
)

// Scopes lists every scope the exporter knows, in the order DESIGN.md gives.
var Scopes = []string{ScopeRoleManagementAlerts, ScopeAuthenticationMethods, ScopeIndustryData, ScopeSites, ScopeCustom}

// KnownScope reports whether s is one of Scopes.
func KnownScope(s string) bool {
	for _, k := range Scopes {
		if k == s {
			return true
		}
	}
	return false
}

// Cloud is a national cloud: where tokens come from and where Graph lives.
type Cloud struct {
	Name          string
	GraphEndpoint string // scheme and host, no trailing slash
	AuthorityHost string // scheme and host, no trailing slash
}

var clouds = map[string]Cloud{
	"global":   {"global", "https://graph.microsoft.com", "https://login.microsoftonline.com"},
	"usgov":    {"usgov", "https://graph.microsoft.us", "https://login.microsoftonline.us"},
	"usgovdod": {"usgovdod", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us"},
	"china":    {"china", "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"},
}

// LookupCloud returns the named cloud. The empty name means global.
func LookupCloud(name string) (Cloud, bool) {
	if name == "" {
		name = "global"
	}
	c, ok := clouds[name]
	return c, ok
}

// CloudNames lists the known cloud names, sorted.
func CloudNames() []string {
	names := make([]string, 0, len(clouds))
	for n := range clouds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MaxSegment bounds an operation id, user or site: Graph's are far shorter.
const MaxSegment = 512

// CheckSegment says why s cannot name an operation, user or site (one
// segment of a request path), or returns nil. URLPath escapes whatever it
// must, so this is not what keeps requests on their path; it is the one
// rule of what makes sense to ask Graph for, shared by the config, /probe
// and discovery.
func CheckSegment(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > MaxSegment:
		return fmt.Errorf("must not be longer than %d bytes", MaxSegment)
	case s == "." || s == "..":
		return errors.New(`must not be "." or ".."`)
	case strings.Contains(s, "://"):
		return errors.New("must be an id, not a URL")
	case strings.ContainsAny(s, `/\`):
		return errors.New(`must not contain "/" or "\"`)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("must not contain a control character")
	}
	return nil
}

// OperationRef says which operation to fetch, relative to a tenant's Graph
// endpoint. Either Scope with its identifying fields is set, or Path (from a
// pasted URL), which then wins over what the fields would build.
type OperationRef struct {
	Scope string
	ID    string
	User  string // authenticationMethods
	Site  string // sites
	// Path is an already escaped path that starts with "/v1.0/" or "/beta/";
	// RawQuery is kept exactly as given (a Location header's aadgdc=…).
	Path     string
	RawQuery string
	// Delegated asks for the tenant's delegated sign-in for a custom
	// operation; the scopes that need it (NeedsDelegated) ask by themselves.
	Delegated bool
}

// NeedsDelegated reports whether Graph accepts only a delegated token (a
// signed-in account) for this operation: password-reset operations accept
// no application permission.
func (r OperationRef) NeedsDelegated() bool {
	return r.Delegated || DelegatedOnly(r.Scope)
}

// DelegatedOnly reports whether Graph allows no application permission for
// a scope's operations.
func DelegatedOnly(scope string) bool { return scope == ScopeAuthenticationMethods }

// ErrNeedsDelegated says why an operation cannot be read with the tenant's
// credentials, and what to add; tenant is the tenant's name.
func ErrNeedsDelegated(scope, tenant string) error {
	why := "Graph accepts only a delegated (signed-in) token for it"
	if DelegatedOnly(scope) {
		why = "Graph allows no application permission for " + scope + " (password-reset) operations, only a delegated sign-in"
	}
	return fmt.Errorf("%s: tenant %q has no delegated credential; add delegated: {token_cache_file: …} to the tenant and sign in once with `msgraph_lro_exporter login --tenant=%s`", why, tenant, tenant)
}

// escapeSegment escapes one path segment. Graph ids carry ':' and ','
// (site ids are "host,guid,guid"); both are legal in a path segment and
// Graph expects them as they are.
// "." and ".." are escaped too, so that no id can climb out of its path.
func escapeSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return strings.ReplaceAll(url.PathEscape(s), "%2C", ",")
}

// URLPath is the escaped request path, version included.
func (r OperationRef) URLPath() string {
	if r.Path != "" {
		return r.Path
	}
	id := escapeSegment(r.ID)
	switch r.Scope {
	case ScopeRoleManagementAlerts:
		return "/beta/identityGovernance/roleManagementAlerts/operations/" + id
	case ScopeAuthenticationMethods:
		return "/beta/users/" + escapeSegment(r.User) + "/authentication/operations/" + id
	case ScopeIndustryData:
		return "/beta/external/industryData/operations/" + id
	case ScopeSites:
		return "/v1.0/sites/" + escapeSegment(r.Site) + "/operations/" + id
	}
	return ""
}

// Version is the Graph API version of the request: "beta" or "v1.0".
func (r OperationRef) Version() string {
	p := strings.TrimPrefix(r.URLPath(), "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

// Key identifies the operation within its tenant.
func (r OperationRef) Key() string {
	if r.RawQuery == "" {
		return r.URLPath()
	}
	return r.URLPath() + "?" + r.RawQuery
}

// Rich reports whether Graph answers with a richLongRunningOperation
// (percentageComplete, type, error), which it does for SharePoint.
func (r OperationRef) Rich() bool { return r.Scope == ScopeSites }

// ParseOperationURL turns a pasted Graph URL (a Location header, say) or a
// relative path into an OperationRef, inferring the scope from the path and
// keeping any query string. An absolute URL must be https on the host of
// graphEndpoint: the token is only ever sent there.
func ParseOperationURL(graphEndpoint, raw string) (OperationRef, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// Not the url.Error: it quotes the whole URL, user info included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return OperationRef{}, fmt.Errorf("not a URL: %w", err)
	}
	if u.User != nil || u.Fragment != "" {
		return OperationRef{}, fmt.Errorf("URL must not carry user information or a fragment")
	}
	if u.IsAbs() || u.Host != "" {
		ep, err := url.Parse(graphEndpoint)
		if err != nil {
			return OperationRef{}, fmt.Errorf("graph endpoint %q is not a URL", graphEndpoint)
		}
		if u.Scheme != "https" {
			return OperationRef{}, fmt.Errorf("scheme %q is not https", u.Scheme)
		}
		if !strings.EqualFold(u.Host, ep.Host) {
			return OperationRef{}, fmt.Errorf("host %q is not the tenant's Graph endpoint %s", u.Host, graphEndpoint)
		}
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	raws := strings.Split(strings.TrimPrefix(p, "/"), "/")
	segs := make([]string, len(raws))
	for i, r := range raws {
		if segs[i], err = url.PathUnescape(r); err != nil {
			return OperationRef{}, fmt.Errorf("path %q: %w", p, err)
		}
		if s := segs[i]; s == "" || s == "." || s == ".." || strings.Contains(s, "/") {
			return OperationRef{}, fmt.Errorf("path %q has an empty, '.', '..' or encoded '/' segment", p)
		}
	}
	if segs[0] != "v1.0" && segs[0] != "beta" {
		return OperationRef{}, fmt.Errorf("path %q does not start with /v1.0/ or /beta/", p)
	}
	n := len(segs)
	if n < 3 || segs[n-2] != "operations" {
		return OperationRef{}, fmt.Errorf("path %q does not end in operations/{id}", p)
	}
	// The path as this package escapes it, so that a pasted URL and the
	// same operation given by its fields have the same Key.
	for i := range raws {
		raws[i] = escapeSegment(segs[i])
	}
	p = "/" + strings.Join(raws, "/")
	id := segs[n-1]
	ref := OperationRef{Scope: ScopeCustom, ID: id, Path: p, RawQuery: u.RawQuery}
	rest := segs[1 : n-2]
	switch {
	case len(rest) == 2 && rest[0] == "identityGovernance" && rest[1] == "roleManagementAlerts":
		ref.Scope = ScopeRoleManagementAlerts
	case len(rest) == 3 && rest[0] == "users" && rest[2] == "authentication":
		ref.Scope, ref.User = ScopeAuthenticationMethods, rest[1]
	case len(rest) == 2 && rest[0] == "external" && rest[1] == "industryData":
		ref.Scope = ScopeIndustryData
	case len(rest) == 2 && rest[0] == "sites":
		ref.Scope, ref.Site = ScopeSites, rest[1]
	}
	return ref, nil
}
