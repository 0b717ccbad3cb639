package graph

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

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
	// Parents, as the kind's Parents keys name them.
	User       string // authenticationMethods, onenote
	Site       string // sites, siteLists
	List       string // siteLists
	Team       string // teams
	Connection string // searchConnections
	Case       string // ediscovery
	// Path is an already escaped path that starts with "/v1.0/" or "/beta/";
	// RawQuery is kept exactly as given (a Location header's aadgdc=…).
	Path     string
	RawQuery string
	// Delegated asks for the tenant's delegated sign-in for a custom
	// operation; the scopes that need it (NeedsDelegated) ask by themselves.
	Delegated bool
}

// NeedsDelegated reports whether Graph accepts only a delegated token (a
// signed-in account) for this operation: its kind allows no application
// permission (Kind.Delegated: password resets, Universal Print,
// eDiscovery), or a custom operation asks for it.
func (r OperationRef) NeedsDelegated() bool {
	return r.Delegated || DelegatedOnly(r.Scope)
}

// Parent returns the parent the key names ("" for an unknown key).
func (r OperationRef) Parent(key string) string {
	switch key {
	case KeyUser:
		return r.User
	case KeySite:
		return r.Site
	case KeyList:
		return r.List
	case KeyTeam:
		return r.Team
	case KeyConnection:
		return r.Connection
	case KeyCase:
		return r.Case
	}
	return ""
}

// SetParent sets the parent the key names; an unknown key is ignored.
func (r *OperationRef) SetParent(key, v string) {
	switch key {
	case KeyUser:
		r.User = v
	case KeySite:
		r.Site = v
	case KeyList:
		r.List = v
	case KeyTeam:
		r.Team = v
	case KeyConnection:
		r.Connection = v
	case KeyCase:
		r.Case = v
	}
}

// Kind is the kind of the operation, custom for a scope the table lacks.
func (r OperationRef) Kind() *Kind { return LookupKind(r.Scope) }

// ErrNeedsDelegated says why an operation cannot be read with the tenant's
// credentials, and what to add; tenant is the tenant's name.
func ErrNeedsDelegated(scope, tenant string) error {
	why := "Graph accepts only a delegated (signed-in) token for it"
	if DelegatedOnly(scope) {
		what := scope
		if scope == ScopeAuthenticationMethods {
			what += " (password-reset)"
		}
		why = "Graph allows no application permission for " + what + " operations, only a delegated sign-in"
	}
	return fmt.Errorf("%s: tenant %q has no delegated credential; add delegated: {token_cache_file: …} to the tenant and sign in once with `msgraph_lro_exporter login --tenant=%s`", why, tenant, tenant)
}

// escapeSegment escapes one path segment. Graph ids carry ':' and ','
// (site ids are "host,guid,guid"); both are legal in a path segment and
// Graph expects them as they are.
// "." and ".." are escaped too, so that no id can climb out of its path,
// and parentheses, so that no id reads as OData's key syntax.
func escapeSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	for i := 0; i < len(s); i++ {
		if !segmentSafe[s[i]] {
			return parens.Replace(url.PathEscape(s))
		}
	}
	return s // a GUID, say: nothing to escape (FuzzEscapeSegment)
}

// segmentSafe are the bytes escapeSegment writes as they are.
var segmentSafe = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~$&+:=@,") {
		t[c] = true
	}
	return t
}()

// parens keeps ',' as it is and escapes parentheses, which would read as
// OData's key syntax.
var parens = strings.NewReplacer("%2C", ",", "(", "%28", ")", "%29")

// URLPath is the escaped request path, version included.
func (r OperationRef) URLPath() string {
	if r.Path != "" {
		return r.Path
	}
	k := r.Kind()
	if k.Path == "" {
		return ""
	}
	return k.build(k.Version, r, false)
}

// Version is the Graph API version of the request: "beta" or "v1.0".
func (r OperationRef) Version() string {
	if r.Path == "" {
		if k := r.Kind(); k.Path != "" {
			return k.Version // what URLPath would start with, without building it
		}
		return ""
	}
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

// ParseOperationURL turns a pasted Graph URL (a Location header, say) or a
// relative path into an OperationRef, inferring the scope from the path and
// keeping any query string. An absolute URL must be https on the host of
// graphEndpoint: the token is only ever sent there.
//
// Real Location headers vary, and all of these are read alike: either path
// syntax, /teams/{id}/operations/{id} or OData's key syntax
// /teams('{id}')/operations('{id}'); any case in the path's fixed segments
// (…/ediscoverycases('…')/…); and no version at all, as Teams sends it,
// which means v1.0. An operation of a kind in the table gets the path the
// kind builds from its fields, so that a pasted URL and the same operation
// given by its fields have the same Key; any other operation (custom)
// keeps its path, in plain syntax, must start with its version and end in
// …operations/{id} (engagementAsyncOperations/{id} and the like included).
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
	var segs []string
	for _, r := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		// Key syntax is read before unescaping: an escaped parenthesis
		// is part of an id, as escapeSegment writes one.
		parts := []string{r}
		if name, key, ok := keySegment(r); ok {
			parts = []string{name, key}
		}
		for i, part := range parts {
			s, err := url.PathUnescape(part)
			if err != nil {
				return OperationRef{}, fmt.Errorf("path %q: %w", p, err)
			}
			if i == 1 {
				if s, err = unquoteKey(s); err != nil {
					return OperationRef{}, fmt.Errorf("path %q: %w", p, err)
				}
			}
			segs = append(segs, s)
		}
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.Contains(s, "/") {
			return OperationRef{}, fmt.Errorf("path %q has an empty, '.', '..' or encoded '/' segment", p)
		}
	}
	// A version-less path (Teams' Location) is a v1.0 path, for a kind of
	// the table; any other path must say its version.
	version, versioned := "v1.0", true
	switch {
	case strings.EqualFold(segs[0], "v1.0"):
		version, segs = "v1.0", segs[1:]
	case strings.EqualFold(segs[0], "beta"):
		version, segs = "beta", segs[1:]
	case otherVersion.MatchString(segs[0]):
		return OperationRef{}, fmt.Errorf("path %q does not start with /v1.0/ or /beta/", p)
	default:
		versioned = false
	}
	ref := OperationRef{Scope: ScopeCustom, RawQuery: u.RawQuery}
	for _, k := range Kinds {
		if k.match(segs, &ref) {
			ref.Path = k.build(version, ref, false)
			return ref, nil
		}
	}
	if !versioned {
		return OperationRef{}, fmt.Errorf("path %q does not start with /v1.0/ or /beta/", p)
	}
	ref = OperationRef{Scope: ScopeCustom, RawQuery: u.RawQuery}
	n := len(segs)
	if n < 2 || !strings.HasSuffix(strings.ToLower(segs[n-2]), "operations") {
		return OperationRef{}, fmt.Errorf("path %q does not end in operations/{id}", p)
	}
	esc := make([]string, n)
	for i, s := range segs {
		esc[i] = escapeSegment(s)
	}
	ref.ID, ref.Path = segs[n-1], "/"+version+"/"+strings.Join(esc, "/")
	return ref, nil
}

// otherVersion is a first segment that is a version, but not one of Graph's.
var otherVersion = regexp.MustCompile(`^[vV][0-9]+(\.[0-9]+)?$`)

// keySegment splits a segment in OData's key syntax, name('key') or
// name(key), into its name and key, both still escaped.
func keySegment(s string) (name, key string, ok bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	name, key = s[:open], s[open+1:len(s)-1]
	for _, r := range name {
		if !(r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", "", false // not a key: an id that holds a parenthesis
		}
	}
	return name, key, true
}

// unquoteKey takes the quotes off a key, 'it”s' → it's; an unquoted key
// (a number) is as it is.
func unquoteKey(key string) (string, error) {
	if len(key) < 2 || key[0] != '\'' || key[len(key)-1] != '\'' {
		return key, nil
	}
	key = key[1 : len(key)-1]
	if strings.Contains(strings.ReplaceAll(key, "''", ""), "'") {
		return "", fmt.Errorf("key %q has an unescaped quote", Truncate(key, 64))
	}
	return strings.ReplaceAll(key, "''", "'"), nil
}
