package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/pkg/browser"
)

// LoginOptions configures Login.
type LoginOptions struct {
	TenantID      string
	ClientID      string
	AuthorityHost string
	GraphEndpoint string
	// DisableInstanceDiscovery: as CredentialOptions'.
	DisableInstanceDiscovery bool
	// CacheFile is written once the sign-in is complete and checked; Cache,
	// if set, is written instead.
	CacheFile string
	Cache     cache.ExportReplace

	// DeviceCode signs in by device code instead of a browser on this
	// machine.
	DeviceCode bool
	// RedirectURI is the interactive flow's redirect, "http://localhost"
	// (any port: MSAL listens on one it picks) when empty.
	RedirectURI string
	// OpenURL opens the sign-in page; nil tries the system's browser. The
	// URL is printed to Out either way.
	OpenURL func(url string) error

	HTTPClient *http.Client
	Out        io.Writer // instructions for the person signing in
}

// LoginResult says who signed in and what Graph will let them read.
type LoginResult struct {
	Username    string
	Permissions []string // delegated permissions granted, short names
	Roles       []string // password-reset roles the account holds, if the token says
	RolesKnown  bool     // the token lists the account's directory roles
}

// Login signs an account in with MSAL's public client, by device code or
// in a browser (authorization code with PKCE), and writes the token cache
// only if the account may read password-reset operations. Nothing is
// written on failure.
func Login(ctx context.Context, o LoginOptions) (LoginResult, error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	// Start from an empty cache: the file gets this one sign-in and nothing
	// left from an earlier one.
	mem := &MemoryTokenCache{}
	app, err := newPublicClient(authority{o.AuthorityHost, o.TenantID, o.DisableInstanceDiscovery}, o.ClientID, o.HTTPClient, mem)
	if err != nil {
		return LoginResult{}, err
	}
	scopes := DelegatedScopes(o.GraphEndpoint)
	var r public.AuthResult
	if o.DeviceCode {
		dc, err := app.AcquireTokenByDeviceCode(ctx, scopes)
		if err != nil {
			return LoginResult{}, loginError(err)
		}
		msg := dc.Result.Message
		if msg == "" {
			msg = fmt.Sprintf("To sign in, open %s and enter the code %s.", dc.Result.VerificationURL, dc.Result.UserCode)
		}
		fmt.Fprintln(out, msg)
		fmt.Fprintln(out, "Waiting for the sign-in…")
		if r, err = dc.AuthenticationResult(ctx); err != nil {
			return LoginResult{}, loginError(err)
		}
	} else {
		redirect := o.RedirectURI
		if redirect == "" {
			redirect = "http://localhost"
		}
		open := o.OpenURL
		if open == nil {
			open = func(u string) error {
				// A failure to start a browser is not the end: the URL is
				// printed, and MSAL's redirect server waits.
				if err := browser.OpenURL(u); err != nil {
					fmt.Fprintln(out, "No browser could be opened here; open the URL above yourself, on this machine (the sign-in ends at a http://localhost page). Or use --device-code.")
				}
				return nil
			}
		}
		r, err = app.AcquireTokenInteractive(ctx, scopes, public.WithRedirectURI(redirect), public.WithOpenURL(func(u string) error {
			fmt.Fprintf(out, "To sign in, open this URL in a browser:\n%s\n", u)
			return open(u)
		}))
		if err != nil {
			return LoginResult{}, loginError(err)
		}
	}

	res := LoginResult{Username: r.Account.PreferredUsername, Permissions: grantedPermissions(r.GrantedScopes)}
	res.Roles, res.RolesKnown = passwordResetRoles(r.AccessToken)
	if !hasAny(res.Permissions, PasswordResetPermissions) {
		granted := strings.Join(res.Permissions, ", ")
		if granted == "" {
			granted = "none"
		}
		return res, fmt.Errorf("%s signed in, but the token grants none of the delegated permissions that read password-reset operations (%s; granted: %s): add UserAuthenticationMethod.Read.All to the app registration's delegated permissions, grant admin consent, and sign in again; nothing was written",
			res.Username, strings.Join(PasswordResetPermissions, ", "), granted)
	}
	if res.RolesKnown && len(res.Roles) == 0 && hasAny(res.Permissions, PasswordResetPermissions[:2]) {
		return res, fmt.Errorf("%s signed in, but holds none of the directory roles Graph requires to read other users' password-reset operations (Global Reader, Authentication Administrator, Privileged Authentication Administrator): assign Global Reader to the account and sign in again; nothing was written", res.Username)
	}
	data := mem.Bytes()
	if o.Cache != nil {
		err = o.Cache.Export(ctx, marshalFunc(func() ([]byte, error) { return data, nil }), cache.ExportHints{})
	} else {
		err = WriteFileAtomic(o.CacheFile, data)
	}
	if err != nil {
		return res, fmt.Errorf("%s signed in, but the token cache could not be written: %w", res.Username, err)
	}
	return res, nil
}

type marshalFunc func() ([]byte, error)

func (f marshalFunc) Marshal() ([]byte, error) { return f() }

// loginError keeps what the identity platform said, without its free text.
func loginError(err error) error {
	if result, reason := classifyTokenError(err); result != "" {
		return fmt.Errorf("sign-in failed: %s", reason)
	}
	return fmt.Errorf("sign-in failed: %s", firstLine(err.Error()))
}

func hasAny(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if strings.EqualFold(h, w) {
				return true
			}
		}
	}
	return false
}

// passwordResetRoles reads the account's directory roles (the wids claim)
// from an access token. Graph's tokens are JWTs; the claim is read only to
// tell the person signing in what Graph will refuse, never trusted for
// anything else. known is false when the token says nothing of roles.
func passwordResetRoles(accessToken string) (roles []string, known bool) {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	var claims struct {
		Wids *[]string `json:"wids"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Wids == nil {
		return nil, false
	}
	for _, id := range *claims.Wids {
		if name, ok := PasswordResetRoles[strings.ToLower(id)]; ok {
			roles = append(roles, name)
		}
	}
	sort.Strings(roles)
	return roles, true
}
