package graph

import (
	"strings"
	"testing"
)

func TestOperationRefURLPath(t *testing.T) {
	for _, tc := range []struct {
		ref  OperationRef
		want string
	}{
		{OperationRef{Scope: ScopeRoleManagementAlerts, ID: "refresh:DirectoryRole_1_StaleSignInAlert"},
			"/beta/identityGovernance/roleManagementAlerts/operations/refresh:DirectoryRole_1_StaleSignInAlert"},
		{OperationRef{Scope: ScopeAuthenticationMethods, User: "alice@contoso.com", ID: "2d497bb"},
			"/beta/users/alice@contoso.com/authentication/operations/2d497bb"},
		{OperationRef{Scope: ScopeIndustryData, ID: "d194fa3e"}, "/beta/external/industryData/operations/d194fa3e"},
		{OperationRef{Scope: ScopeSites, Site: "contoso.sharepoint.com,a-b,c-d", ID: "copy,1"},
			"/v1.0/sites/contoso.sharepoint.com,a-b,c-d/operations/copy,1"},
		{OperationRef{Scope: ScopeIndustryData, ID: "a b/c?d"}, "/beta/external/industryData/operations/a%20b%2Fc%3Fd"},
		{OperationRef{Scope: ScopeIndustryData, ID: ".."}, "/beta/external/industryData/operations/%2E%2E"},
		{OperationRef{Scope: ScopeAuthenticationMethods, User: ".", ID: "x"}, "/beta/users/%2E/authentication/operations/x"},
		{OperationRef{Scope: "nope", ID: "x"}, ""},
	} {
		if got := tc.ref.URLPath(); got != tc.want {
			t.Errorf("%+v.URLPath() = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

func TestParseOperationURL(t *testing.T) {
	const ep = "https://graph.microsoft.com"
	for _, tc := range []struct {
		raw  string
		want OperationRef
	}{
		{"https://graph.microsoft.com/beta/users/alice@contoso.com/authentication/operations/9f1c?aadgdc=x&aadgsu=y",
			OperationRef{Scope: ScopeAuthenticationMethods, User: "alice@contoso.com", ID: "9f1c",
				Path: "/beta/users/alice@contoso.com/authentication/operations/9f1c", RawQuery: "aadgdc=x&aadgsu=y"}},
		{"https://GRAPH.microsoft.com/beta/identityGovernance/roleManagementAlerts/operations/refresh:X",
			OperationRef{Scope: ScopeRoleManagementAlerts, ID: "refresh:X", Path: "/beta/identityGovernance/roleManagementAlerts/operations/refresh:X"}},
		{"/beta/external/industryData/operations/d194",
			OperationRef{Scope: ScopeIndustryData, ID: "d194", Path: "/beta/external/industryData/operations/d194"}},
		{"v1.0/sites/contoso.sharepoint.com,g1,g2/operations/copy,1",
			OperationRef{Scope: ScopeSites, Site: "contoso.sharepoint.com,g1,g2", ID: "copy,1", Path: "/v1.0/sites/contoso.sharepoint.com,g1,g2/operations/copy,1"}},
		{"/v1.0/solutions/backupRestore/operations/abc",
			OperationRef{Scope: ScopeCustom, ID: "abc", Path: "/v1.0/solutions/backupRestore/operations/abc"}},
	} {
		got, err := ParseOperationURL(ep, tc.raw)
		if err != nil {
			t.Errorf("ParseOperationURL(%q): %v", tc.raw, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseOperationURL(%q)\n got  %+v\n want %+v", tc.raw, got, tc.want)
		}
	}
	for raw, want := range map[string]string{
		"https://evil.example/beta/external/industryData/operations/x":       `host "evil.example" is not the tenant's Graph endpoint https://graph.microsoft.com`,
		"http://graph.microsoft.com/beta/external/industryData/operations/x": `scheme "http" is not https`,
		"https://graph.microsoft.com/beta/external/industryData/operations/": `path "/beta/external/industryData/operations/" has an empty, '.', '..' or encoded '/' segment`,
		"https://graph.microsoft.com/beta/external/industryData/x/y":         `path "/beta/external/industryData/x/y" does not end in operations/{id}`,
		"https://graph.microsoft.com/v2/external/industryData/operations/x":  `path "/v2/external/industryData/operations/x" does not start with /v1.0/ or /beta/`,
		"/v1.0/me": `path "/v1.0/me" does not end in operations/{id}`,
		"https://graph.microsoft.com/beta/users/alice@contoso.com": `path "/beta/users/alice@contoso.com" does not end in operations/{id}`,
		"/v1.0":            `path "/v1.0" does not end in operations/{id}`,
		"/me/operations/x": `path "/me/operations/x" does not start with /v1.0/ or /beta/`,
		"/beta/../users/x/authentication/operations/y":                          `path "/beta/../users/x/authentication/operations/y" has an empty, '.', '..' or encoded '/' segment`,
		"https://u:p@graph.microsoft.com/beta/external/industryData/operations": `URL must not carry user information or a fragment`,
		"https://u:s3cret@evil.example/beta/external/industryData/operations/x": `URL must not carry user information or a fragment`,
		"/beta/external/industryData/operations/%2E%2E":                         `path "/beta/external/industryData/operations/%2E%2E" has an empty, '.', '..' or encoded '/' segment`,
		"/beta/users/a%2Fb/authentication/operations/x":                         `path "/beta/users/a%2Fb/authentication/operations/x" has an empty, '.', '..' or encoded '/' segment`,
		"https://graph.microsoft.com/beta/%zz/operations/x":                     `not a URL: invalid URL escape "%zz"`,
	} {
		_, err := ParseOperationURL(ep, raw)
		if err == nil || err.Error() != want {
			t.Errorf("ParseOperationURL(%q) error = %v, want %q", raw, err, want)
		}
	}
}

// A pasted URL, however it escapes its path, names the same operation as
// the fields do: duplicates are found.
func TestPastedURLKeyMatchesFields(t *testing.T) {
	fields := OperationRef{Scope: ScopeAuthenticationMethods, User: "alice@contoso.com", ID: "9f1c"}
	for _, raw := range []string{
		"https://graph.microsoft.com/beta/users/alice@contoso.com/authentication/operations/9f1c",
		"https://graph.microsoft.com/beta/users/alice%40contoso.com/authentication/operations/9f1c",
	} {
		ref, err := ParseOperationURL("https://graph.microsoft.com", raw)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Key() != fields.Key() {
			t.Errorf("%s: Key %q, want %q", raw, ref.Key(), fields.Key())
		}
	}
}

func TestCheckSegment(t *testing.T) {
	for in, want := range map[string]string{
		"refresh:DirectoryRole_1_StaleSignInAlert": "",
		"contoso.sharepoint.com,g1,g2":             "",
		"alice@contoso.com":                        "",
		"a..b":                                     "",
		"":                                         "must not be empty",
		".":                                        `must not be "." or ".."`,
		"..":                                       `must not be "." or ".."`,
		"a/b":                                      `must not contain "/" or "\"`,
		`a\b`:                                      `must not contain "/" or "\"`,
		"https://evil.example/x":                   "must be an id, not a URL",
		"a\nb":                                     "must not contain a control character",
		strings.Repeat("x", MaxSegment):            "",
		strings.Repeat("x", MaxSegment+1):          "must not be longer than 512 bytes",
	} {
		got := ""
		if err := CheckSegment(in); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CheckSegment(%.20q) = %q, want %q", in, got, want)
		}
	}
}
