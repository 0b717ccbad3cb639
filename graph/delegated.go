package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Results of a token request, the `result` label of
// msgraph_lro_token_requests_total.
const (
	ResultSuccess             = "success"
	ResultError               = "error"
	ResultInteractionRequired = "interaction_required"
)

// Retry intervals of a delegated sign-in that failed. A sign-in that needs
// the account to sign in again does not mend itself: it is tried again
// after SignInRetryInterval, or at once when the token cache file changes
// (someone ran `login`). Other failures (the network, a 5xx) may pass, and
// are tried again sooner.
const (
	SignInRetryInterval = 5 * time.Minute
	tokenRetryInterval  = 30 * time.Second
)

// PasswordResetPermissions are the delegated permissions with which Graph
// reads password-reset operations, least privileged first. The .All ones
// read any user's (with a directory role); the others only the signed-in
// account's own.
var PasswordResetPermissions = []string{
	"UserAuthenticationMethod.Read.All",
	"UserAuthenticationMethod.ReadWrite.All",
	"UserAuthenticationMethod.Read",
	"UserAuthenticationMethod.ReadWrite",
}

// PasswordResetRoles are the Entra ID directory roles (name and template
// id) of which the signed-in account needs one to read other users'
// password-reset operations.
var PasswordResetRoles = map[string]string{
	"f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
	"c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
	"7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
}

// DelegatedOptions is what NewDelegatedTokenSource needs to know about a
// tenant's delegated sign-in.
type DelegatedOptions struct {
	Tenant        string // the tenant label, for metrics and messages
	TenantID      string
	ClientID      string // the public client application
	AuthorityHost string
	GraphEndpoint string
	// DisableInstanceDiscovery: as CredentialOptions'.
	DisableInstanceDiscovery bool

	// CacheFile is MSAL's token cache, written by `login` and rewritten as
	// refresh tokens rotate.
	CacheFile string
	// Cache, if set, is used instead of CacheFile (the demo keeps its
	// sign-in in memory).
	Cache cache.ExportReplace
	// LoginCommand is the command that signs the account in again, quoted
	// in errors and logs.
	LoginCommand string

	HTTPClient *http.Client
	Metrics    *Metrics
	Logger     log.Logger
}

// DelegatedScopes are the scopes a delegated sign-in asks for: Graph's
// .default, which grants the delegated permissions admin consent gave the
// app. The sign-in and the exporter must ask for the same, or MSAL's cache
// does not match.
func DelegatedScopes(graphEndpoint string) []string {
	return []string{strings.TrimSuffix(graphEndpoint, "/") + "/.default"}
}

// delegatedSource gets tokens for a signed-in account from MSAL's public
// client and its persisted cache. A failure is remembered and shared by
// every caller until it may be worth another try, so that an expired
// sign-in costs one token request per interval, not one per operation.
type delegatedSource struct {
	o      DelegatedOptions
	app    public.Client
	file   *fileCache // nil with o.Cache
	scopes []string
	lock   chan struct{}
	logger log.Logger
	hc     *http.Client // MSAL's

	// Guarded by lock.
	memo    failMemo // the remembered failure, shared with the app-only source's code
	failSig fileSig  // the cache file as it was at the failure
}

// NewDelegatedTokenSource builds the MSAL public client for a tenant's
// delegated sign-in. It contacts nothing and reads nothing: the cache file
// is read before each token request (so that a `login` while the exporter
// runs is picked up), and CheckSignIn says at load what is wrong with it.
func NewDelegatedTokenSource(o DelegatedOptions) (TokenSource, error) {
	if o.Cache == nil && o.CacheFile == "" {
		return nil, errors.New("delegated credential: no token cache file")
	}
	logger := o.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	s := &delegatedSource{o: o, scopes: DelegatedScopes(o.GraphEndpoint), lock: make(chan struct{}, 1),
		logger: log.With(logger, "tenant", o.Tenant, "credential", "delegated")}
	acc := o.Cache
	if acc == nil {
		s.file = &fileCache{path: o.CacheFile, clientID: o.ClientID, tenantID: o.TenantID, onWriteError: s.writeFailed}
		acc = s.file
	}
	s.hc = identityClient(o.HTTPClient)
	app, err := newPublicClientWith(authority{o.AuthorityHost, o.TenantID, o.DisableInstanceDiscovery}, o.ClientID, s.hc, acc)
	if err != nil {
		return nil, err
	}
	s.app = app
	if o.Metrics != nil {
		o.Metrics.InitDelegated(o.Tenant)
	}
	return s, nil
}

// CloseIdleConnections closes MSAL's idle connections to the identity
// platform.
func (s *delegatedSource) CloseIdleConnections() { s.hc.CloseIdleConnections() }

// newPublicClient is MSAL's public client for one tenant, with the same
// authority, client id and cache for `login` and the exporter.
func newPublicClient(a authority, clientID string, hc *http.Client, acc cache.ExportReplace) (public.Client, error) {
	return newPublicClientWith(a, clientID, identityClient(hc), acc)
}

// authority is where a public client signs in.
type authority struct {
	host, tenantID string
	noValidation   bool // DisableInstanceDiscovery
}

// newPublicClientWith is newPublicClient with the identity client made.
func newPublicClientWith(a authority, clientID string, ic *http.Client, acc cache.ExportReplace) (public.Client, error) {
	opts := []public.Option{
		public.WithAuthority(strings.TrimSuffix(a.host, "/") + "/" + a.tenantID),
		public.WithHTTPClient(ic),
		public.WithCache(acc),
	}
	if a.noValidation {
		opts = append(opts, public.WithInstanceDiscovery(false))
	}
	app, err := public.New(clientID, opts...)
	if err != nil {
		return public.Client{}, fmt.Errorf("identity platform client: %w", err)
	}
	return app, nil
}

// CheckSignIn reads the token cache file of a delegated source and says
// what is wrong with it (missing, empty, not a cache, another app's or
// tenant's sign-in), or returns nil. It contacts nothing.
func CheckSignIn(ts TokenSource) error {
	s, ok := ts.(*delegatedSource)
	if !ok || s.file == nil {
		return nil
	}
	_, err := s.file.read()
	if err != nil {
		s.setValid(false)
		return s.signInError(err)
	}
	s.setValid(true)
	return nil
}

// Token returns an access token of the signed-in account.
func (s *delegatedSource) Token(ctx context.Context) (string, error) {
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("token: %w", ctx.Err())
	}
	defer func() { <-s.lock }()
	if err := s.memo.held(); err != nil && (s.file == nil || s.file.signature() == s.failSig) {
		return "", err
	}
	tok, err := s.acquire(ctx)
	if err != nil {
		return "", err
	}
	if s.memo.recovered() {
		level.Info(s.logger).Log("msg", "delegated sign-in works again")
	}
	return tok, nil
}

func (s *delegatedSource) acquire(ctx context.Context) (string, error) {
	sig := fileSig{}
	if s.file != nil {
		sig = s.file.signature()
	}
	accounts, err := s.app.Accounts(ctx)
	if err == nil && len(accounts) == 0 {
		err = errNoSignIn
	}
	if err != nil {
		// The cache file: nothing reached the identity platform.
		s.setValid(false)
		return "", s.fail(s.signInError(err), SignInRetryInterval, sig)
	}
	acct := accounts[0]
	for _, a := range accounts {
		if strings.EqualFold(a.Realm, s.o.TenantID) {
			acct = a
			break
		}
	}
	r, err := s.app.AcquireTokenSilent(ctx, s.scopes, public.WithSilentAccount(acct))
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up (a scrape's deadline): not the sign-in's
			// failure, and not one to hold against the next caller.
			return "", &TokenError{msg: "delegated sign-in: " + ctx.Err().Error()}
		}
		result, reason := classifyTokenError(err)
		if result == ResultUnreachable {
			s.count(result)
			return "", s.fail(&TokenError{msg: "delegated sign-in: " + reason}, tokenRetryInterval, sig)
		}
		s.count(result)
		if result == ResultInteractionRequired {
			s.setValid(false)
			return "", s.fail(&TokenError{msg: fmt.Sprintf("delegated sign-in of %s needs a new sign-in (%s): sign in again with: %s",
				acct.PreferredUsername, reason, s.o.LoginCommand)}, SignInRetryInterval, sig)
		}
		return "", s.fail(&TokenError{msg: "delegated sign-in: " + reason}, tokenRetryInterval, sig)
	}
	if r.Metadata.TokenSource != public.TokenSourceCache {
		s.count(ResultSuccess)
	}
	s.setValid(true)
	if r.AccessToken == "" {
		return "", &TokenError{msg: "identity platform returned an empty token"}
	}
	return r.AccessToken, nil
}

// errNoSignIn is a cache that holds no account.
var errNoSignIn = errors.New("holds no sign-in")

// signInError is an error of the cache file, with what to do about it.
func (s *delegatedSource) signInError(err error) error {
	where := "the token cache"
	if s.file != nil {
		where = "token cache file " + s.file.path
	}
	return &TokenError{msg: fmt.Sprintf("delegated sign-in: %s %s: sign in with: %s", where, strings.TrimPrefix(err.Error(), s.o.CacheFile+" "), s.o.LoginCommand)}
}

// fail remembers err until d from now (or until the cache file changes)
// and logs it: once per interval however often it happens, and at once
// when it is another failure than the one logged last.
func (s *delegatedSource) fail(err error, d time.Duration, sig fileSig) error {
	s.failSig = sig
	if logNow, repeated := s.memo.remember(err, d); logNow {
		level.Error(s.logger).Log("msg", "delegated sign-in failed; password-reset operations of this tenant are not read until it works", "err", err,
			"failures_since_last_log", repeated, "retry_in", d)
	}
	return err
}

// writeFailed is told that the cache file could not be written: the token
// stays in memory, but a restart will need the refresh token it lost.
func (s *delegatedSource) writeFailed(err error) {
	level.Error(s.logger).Log("msg", "cannot write the token cache file; the rotated refresh token is kept in memory only, and after a restart the account may have to sign in again",
		"file", s.o.CacheFile, "err", err)
}

func (s *delegatedSource) count(result string) {
	if s.o.Metrics != nil {
		s.o.Metrics.TokenRequests.WithLabelValues(s.o.Tenant, result).Inc()
	}
}

func (s *delegatedSource) setValid(ok bool) {
	if s.o.Metrics != nil {
		v := 0.0
		if ok {
			v = 1
		}
		s.o.Metrics.SignIn.WithLabelValues(s.o.Tenant).Set(v)
	}
}

// aadAnswer is the identity platform's error body.
type aadAnswer struct {
	Error      string `json:"error"`
	ErrorCodes []int  `json:"error_codes"`
	Suberror   string `json:"suberror"`
}

// needsInteraction are the OAuth errors that only a new sign-in mends.
var needsInteraction = map[string]bool{
	"invalid_grant": true, "interaction_required": true, "consent_required": true, "login_required": true,
}

// aadReasons explain the AADSTS codes a refresh most often fails with.
var aadReasons = map[int]string{
	50076:  "multi-factor authentication is now required",
	50079:  "multi-factor authentication registration is required",
	50078:  "the multi-factor authentication has expired",
	50173:  "the sign-in was revoked, or the password changed or was reset",
	53003:  "blocked by Conditional Access",
	65001:  "the app lacks consent for the delegated permission",
	70008:  "the refresh token expired",
	700082: "the refresh token expired after inactivity",
	700084: "the refresh token expired",
	50133:  "the session expired after a password change",
}

var aadCodeRE = regexp.MustCompile(`AADSTS(\d{4,7})`)

// classifyTokenError says what a failed token request was: result is
// ResultUnreachable when nothing came back from the identity platform
// (DNS, connect, TLS), with the network's cause as reason, else
// ResultInteractionRequired or ResultError; reason is a short text without
// the platform's free text, which is not ours to log.
func classifyTokenError(err error) (result, reason string) {
	result, reason = classifyMSALError(err)
	if h := discoveryHint(err); h != "" {
		reason += "; " + h
	}
	return result, reason
}

func classifyMSALError(err error) (result, reason string) {
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil {
		var te *TokenError
		if errors.As(err, &te) {
			return ResultError, te.msg
		}
		if cause, ok := unreachable(err); ok {
			return ResultUnreachable, firstLine(cutAndScrub(err.Error(), nil)) + ": " + cutAndScrub(cause, nil)
		}
		if errors.Is(err, errIdentityAnswerTooLarge) {
			return ResultError, "the identity platform's answer is larger than " + strconv.Itoa(maxIdentityAnswer>>20) + " MiB"
		}
		return ResultError, firstLine(cutAndScrub(err.Error(), nil))
	}
	msg := ce.Error()
	var a aadAnswer
	if i := strings.IndexByte(msg, '{'); i >= 0 {
		_ = json.Unmarshal([]byte(msg[i:]), &a)
	}
	code := 0
	if len(a.ErrorCodes) > 0 {
		code = a.ErrorCodes[0]
	} else if m := aadCodeRE.FindStringSubmatch(msg); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	parts := []string{}
	if code != 0 {
		parts = append(parts, "AADSTS"+strconv.Itoa(code))
	}
	if a.Error != "" {
		parts = append(parts, a.Error)
	}
	if why := aadReasons[code]; why != "" {
		parts = append(parts, why)
	}
	if len(parts) == 0 {
		parts = append(parts, "HTTP "+strconv.Itoa(ce.Resp.StatusCode))
	}
	reason = strings.Join(parts, ": ")
	if ce.Resp.StatusCode == http.StatusBadRequest && needsInteraction[a.Error] {
		return ResultInteractionRequired, reason
	}
	return ResultError, reason
}

// grantedPermissions are the delegated permissions among scopes, without
// the resource (https://graph.microsoft.com/) in front, sorted.
func grantedPermissions(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			s = s[i+1:]
		}
		switch strings.ToLower(s) {
		case "", ".default", "openid", "profile", "offline_access", "email":
			continue
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
