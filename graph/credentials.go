package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
)

// Credential kinds, as config names them.
const (
	CredentialClientSecret      = "client_secret"
	CredentialClientCertificate = "client_certificate"
	CredentialFederatedToken    = "federated_token"
	CredentialManagedIdentity   = "managed_identity"
)

// TokenSource hands out bearer tokens for Graph.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// CredentialOptions is what NewTokenSource needs to know about a tenant.
type CredentialOptions struct {
	Tenant        string // the tenant label, for metrics
	TenantID      string
	ClientID      string
	AuthorityHost string // e.g. https://login.microsoftonline.com
	GraphEndpoint string // e.g. https://graph.microsoft.com; the scope is GraphEndpoint + "/.default"
	// DisableInstanceDiscovery turns off MSAL's authority validation: by
	// default a host outside MSAL's list of Microsoft login hosts is
	// checked with Entra's instance discovery (at login.microsoftonline.com)
	// before any secret or assertion is sent to it. Only for a private
	// cloud or a test whose identity platform Entra does not know.
	DisableInstanceDiscovery bool

	Kind                    string // one of the Credential* constants
	Secret                  string
	CertificatePEM          []byte
	FederatedTokenPath      string
	ManagedIdentityClientID string // empty: system-assigned
	// SendCertificateChain sends the certificate chain (x5c) with each
	// assertion, for subject name and issuer authentication: a certificate
	// issued by a trusted CA, matched by its subject instead of registered.
	SendCertificateChain bool

	// HTTPClient talks to the identity platform; nil means a default one.
	HTTPClient *http.Client
	Metrics    *Metrics
	Logger     log.Logger // failed token requests, once per interval
}

// msalSource gets tokens from one MSAL client. MSAL caches them and renews
// them before they expire; the lock makes concurrent callers wait for one
// request to the identity platform instead of each sending their own.
type msalSource struct {
	tenant  string
	acquire func(ctx context.Context) (acquired, error)
	lock    chan struct{}
	metrics *Metrics
	logger  log.Logger
	secrets []string // values to scrub from any error text

	// renew builds a new MSAL client, with an empty cache; nil where that
	// would not help (managed identity's cache belongs to the process).
	renew     func() (func(context.Context) (acquired, error), error)
	last      string    // the token handed out last
	lastUntil time.Time // last is handed out without asking MSAL until then
	lastRenew time.Time // when renew last ran

	// Guarded by lock: the remembered failure, and the back-off's jitter
	// (nil: random).
	memo   failMemo
	jitter func() float64

	notAfter time.Time // a client certificate's; zero for other credentials

	hc *http.Client // MSAL's, to close its idle connections
}

// CloseIdleConnections closes MSAL's idle connections to the identity
// platform.
func (s *msalSource) CloseIdleConnections() { s.hc.CloseIdleConnections() }

// acquired is MSAL's answer.
type acquired struct {
	token     string
	cached    bool
	expiresOn time.Time
}

// renewEvery bounds how often a refused token empties the cache: a Graph
// that refuses every token must not turn into a storm of token requests.
const renewEvery = time.Minute

// NewTokenSource builds the MSAL client for one tenant. It contacts nothing.
func NewTokenSource(o CredentialOptions) (TokenSource, error) {
	// The client secret or assertion is in the body of the token request,
	// which Go's client sends again to wherever a 307 or 308 points, and a
	// 302 would have MSAL take a token from that host.
	hc := identityClient(o.HTTPClient)
	logger := o.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	s := &msalSource{tenant: o.Tenant, lock: make(chan struct{}, 1), metrics: o.Metrics, hc: hc,
		logger: log.With(logger, "tenant", o.Tenant, "credential", o.Kind)}
	scope := strings.TrimSuffix(o.GraphEndpoint, "/") + "/.default"

	if o.Kind == CredentialManagedIdentity {
		id := managedidentity.SystemAssigned()
		if o.ManagedIdentityClientID != "" {
			id = managedidentity.UserAssignedClientID(o.ManagedIdentityClientID)
		}
		mi, err := managedidentity.New(id, managedidentity.WithHTTPClient(hc))
		if err != nil {
			return nil, fmt.Errorf("managed identity: %w", err)
		}
		s.acquire = func(ctx context.Context) (acquired, error) {
			r, err := mi.AcquireToken(ctx, scope)
			return acquired{r.AccessToken, r.Metadata.TokenSource == managedidentity.TokenSourceCache, r.ExpiresOn}, err
		}
		return s, nil
	}

	var cred confidential.Credential
	switch o.Kind {
	case CredentialClientSecret:
		if o.Secret == "" {
			return nil, errors.New("client secret is empty")
		}
		var err error
		if cred, err = confidential.NewCredFromSecret(o.Secret); err != nil {
			return nil, fmt.Errorf("client secret: %w", err)
		}
		// As sent, as the form body, and as a JSON answer may quote it.
		s.secrets = append(s.secrets, secretForms(o.Secret)...)
	case CredentialClientCertificate:
		certs, key, err := confidential.CertFromPEM(o.CertificatePEM, "")
		if err != nil {
			return nil, errors.New("client certificate: cannot read the certificate and private key from the PEM data")
		}
		if cred, err = confidential.NewCredFromCert(certs, key); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		// The first certificate is the one MSAL signs with and names by
		// its thumbprint; the identity platform refuses it after NotAfter.
		s.notAfter = certs[0].NotAfter
	case CredentialFederatedToken:
		path := o.FederatedTokenPath
		// The file is re-read for every token request: Kubernetes rotates
		// the projected token under our feet.
		cred = confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
			b, err := ReadRegularFile(path, MaxCredentialFileBytes)
			if err != nil {
				return "", fmt.Errorf("federated token: %w", err)
			}
			tok := strings.TrimSpace(string(b))
			if tok == "" {
				return "", fmt.Errorf("federated token: %s is empty", path)
			}
			return tok, nil
		})
	default:
		return nil, fmt.Errorf("unknown credential kind %q", o.Kind)
	}

	authority := strings.TrimSuffix(o.AuthorityHost, "/") + "/" + o.TenantID
	opts := []confidential.Option{confidential.WithHTTPClient(hc)}
	if o.DisableInstanceDiscovery {
		opts = append(opts, confidential.WithInstanceDiscovery(false))
	}
	if o.SendCertificateChain {
		if o.Kind != CredentialClientCertificate {
			return nil, errors.New("the certificate chain is sent only with a client certificate")
		}
		opts = append(opts, confidential.WithX5C())
	}
	scopes := []string{scope}
	s.renew = func() (func(context.Context) (acquired, error), error) {
		app, err := confidential.New(authority, o.ClientID, cred, opts...)
		if err != nil {
			return nil, fmt.Errorf("identity platform client: %w", err)
		}
		return func(ctx context.Context) (acquired, error) {
			r, err := app.AcquireTokenByCredential(ctx, scopes)
			return acquired{r.AccessToken, r.Metadata.TokenSource == confidential.TokenSourceCache, r.ExpiresOn}, err
		}, nil
	}
	var err error
	if s.acquire, err = s.renew(); err != nil {
		return nil, err
	}
	return s, nil
}

// CredentialExpiry is when the client's credential stops working, if the
// exporter can know: a client certificate's NotAfter. Secrets, federated
// tokens and managed identities say nothing of their expiry.
func (c *Client) CredentialExpiry() (time.Time, bool) {
	if s, ok := c.tokens.(*msalSource); ok && !s.notAfter.IsZero() {
		return s.notAfter, true
	}
	return time.Time{}, false
}

// Refused is told that Graph answered 401 to a request carrying token: a
// token revoked, or expired by a clock MSAL does not share, stays in MSAL's
// cache until its own expiry. If it is still the token handed out, the
// cache is dropped (a new MSAL client), at most once per renewEvery, so the
// next request fetches a new one.
func (s *msalSource) Refused(token string) {
	s.lock <- struct{}{}
	defer func() { <-s.lock }()
	if s.renew == nil || token != s.last || time.Since(s.lastRenew) < renewEvery {
		return
	}
	if acquire, err := s.renew(); err == nil {
		s.acquire, s.lastRenew, s.lastUntil = acquire, time.Now(), time.Time{}
	}
}

// Token returns a token from MSAL's cache, or asks the identity platform.
// One request is in flight at a time; while a failure is remembered (the
// platform's Retry-After, else an exponential back-off with jitter) every
// caller gets it without a request.
func (s *msalSource) Token(ctx context.Context) (string, error) {
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("token: %w", ctx.Err())
	}
	defer func() { <-s.lock }()
	if err := s.memo.held(); err != nil {
		return "", err
	}
	now := s.memo.clock()
	if s.last != "" && now.Before(s.lastUntil) {
		// A short-lived token MSAL would not cache: kept here a while, and
		// dropped when Graph refuses it.
		return s.last, nil
	}
	r, err := s.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up (a scrape's deadline): not the identity
			// platform's failure, and not one to hold against the next caller.
			return "", &TokenError{msg: ctx.Err().Error()}
		}
		return "", s.fail(err)
	}
	if !r.cached {
		s.count(ResultSuccess)
	}
	if r.token == "" {
		return "", s.fail(&TokenError{msg: "identity platform returned an empty token"})
	}
	if s.memo.recovered() {
		level.Info(s.logger).Log("msg", "token requests work again")
	}
	s.last, s.lastUntil = r.token, time.Time{}
	if !r.cached && r.expiresOn.Before(now.Add(msalCacheMargin)) {
		// MSAL does not cache a token that lives under 5 minutes, and
		// would ask again for each Graph request.
		s.lastUntil = now.Add(shortTokenReuse)
		if end := r.expiresOn.Add(-shortTokenMargin); end.Before(s.lastUntil) {
			s.lastUntil = end
		}
	}
	return r.token, nil
}

// A token that lives under msalCacheMargin (which MSAL does not cache) is
// reused for up to shortTokenReuse, and no later than shortTokenMargin
// before it expires.
const (
	msalCacheMargin  = 5 * time.Minute
	shortTokenReuse  = time.Minute
	shortTokenMargin = 30 * time.Second
)

// fail counts, remembers and logs a failed token request.
func (s *msalSource) fail(err error) error {
	now := s.memo.clock()
	result, msg := ResultError, ""
	if cause, ok := unreachable(err); ok {
		result = ResultUnreachable
		msg = firstLine(cutAndScrub(err.Error(), s.secrets))
		if !strings.Contains(msg, cause) {
			msg += ": " + cutAndScrub(cause, s.secrets)
		}
	} else if errors.Is(err, errIdentityAnswerTooLarge) {
		msg = "the identity platform's answer is larger than " + strconv.Itoa(maxIdentityAnswer>>20) + " MiB"
	} else {
		// Cut before it is scrubbed, and scrubbed before it is shortened
		// further, which could keep part of a secret.
		msg = firstLine(cutAndScrub(err.Error(), s.secrets))
	}
	if h := discoveryHint(err); h != "" {
		msg += "; " + h
	}
	s.count(result)
	d, ok := tokenRetryAfter(err, now)
	if !ok {
		d = backoff(s.memo.streak+1, s.jitter)
	}
	terr := &TokenError{msg: msg}
	if logNow, repeated := s.memo.remember(terr, d); logNow {
		level.Warn(s.logger).Log("msg", "token request failed; the tenant's operations are not read until it works", "result", result,
			"err", terr, "failures_since_last_log", repeated, "retry_in", d.Round(time.Millisecond))
	}
	return terr
}

func (s *msalSource) count(result string) {
	if s.metrics != nil {
		s.metrics.TokenRequests.WithLabelValues(s.tenant, result).Inc()
	}
}

// jwtLike matches a JWT: three base64url parts, the first a JSON header.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		// MSAL puts the identity platform's JSON answer after the first line;
		// keep its AADSTS description, which says what is wrong.
		rest := s[i+1:]
		if j := strings.Index(rest, "AADSTS"); j >= 0 {
			d := rest[j:]
			if k := strings.IndexAny(d, "\"\r\n"); k >= 0 {
				d = d[:k]
			}
			return strings.TrimSuffix(s[:i], ":") + ": " + Truncate(d, 300)
		}
		return s[:i]
	}
	return s
}

// TokenError says the identity platform gave no token.
type TokenError struct {
	msg    string
	logged bool // the token source logged it, once per interval
}

func (e *TokenError) Error() string { return "token: " + e.msg }
