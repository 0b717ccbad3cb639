package graphtest

import (
	"net/url"
	"strings"
)

// RolePrinterAdministrator is the Printer Administrator role, which
// Graph's printOperation page requires of the signed-in user.
const RolePrinterAdministrator = "644ef478-e28f-4e28-b9dc-3fdde9aa0b1f"

// canonicalPath is the path Graph serves for a request path as it came
// (escaped, with or without its version): OData's key syntax,
// /teams('{id}')/operations('{id}'), is read as the plain
// /teams/{id}/operations/{id}, and a path without a version (as Teams'
// Location headers carry) is a v1.0 path. The result is unescaped, as
// stored operations are keyed.
func canonicalPath(escaped string) string {
	raws := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	segs := make([]string, 0, len(raws)+2)
	for _, r := range raws {
		parts := []string{r}
		if name, key, ok := keySyntax(r); ok {
			parts = []string{name, key}
		}
		for i, p := range parts {
			if u, err := url.PathUnescape(p); err == nil {
				p = u
			}
			if i == 1 && len(p) >= 2 && p[0] == '\'' && p[len(p)-1] == '\'' {
				p = strings.ReplaceAll(p[1:len(p)-1], "''", "'")
			}
			segs = append(segs, p)
		}
	}
	switch {
	case len(segs) > 0 && strings.EqualFold(segs[0], "v1.0"):
		segs[0] = "v1.0"
	case len(segs) > 0 && strings.EqualFold(segs[0], "beta"):
		segs[0] = "beta"
	case len(segs) > 0 && segs[0] != "":
		segs = append([]string{"v1.0"}, segs...)
	}
	return "/" + strings.Join(segs, "/")
}

// keySyntax splits name('key') or name(key) into name and key.
func keySyntax(s string) (name, key string, ok bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	for _, r := range s[:open] {
		if !(r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", "", false
		}
	}
	return s[:open], s[open+1 : len(s)-1], true
}

// lookup finds the object stored at path, matching its case exactly or,
// failing that, ignoring case, as Graph matches segments (Location
// headers write ediscoverycases for ediscoveryCases). t.mu is held.
func (t *Tenant) lookup(path string) (string, bool) {
	if _, ok := t.ops[path]; ok {
		return path, true
	}
	for k := range t.ops {
		if strings.EqualFold(k, path) {
			return k, true
		}
	}
	return "", false
}

// Delegated permissions, and roles, that the delegated-only kinds need
// (their GET pages: "Application: Not supported").
var (
	printScopes      = []string{"Printer.Create", "Printer.ReadWrite.All", "Printer.FullControl.All"}
	printRoles       = []string{RolePrinterAdministrator}
	ediscoveryScopes = []string{"eDiscovery.Read.All", "eDiscovery.ReadWrite.All"}
)

// delegatedOnly says whether path is an operation (or list) of a kind that
// Graph reads only with a delegated token, and what that token needs:
// one of scopes, and one of roles if roles is not nil.
func delegatedOnly(path string) (scopes, roles []string, ok bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 {
		return nil, nil, false
	}
	rest := segs[1:]
	is := func(want ...string) bool {
		if len(rest) < len(want) {
			return false
		}
		for i, w := range want {
			if w != "*" && !strings.EqualFold(rest[i], w) {
				return false
			}
		}
		return true
	}
	switch {
	case is("print", "operations"):
		return printScopes, printRoles, true
	case is("security", "cases", "ediscoveryCases", "*", "operations"):
		return ediscoveryScopes, nil, true
	}
	return nil, nil, false
}
