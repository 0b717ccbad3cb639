package graph

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
)

// MaxBodyBytes caps what the client reads of one Graph answer. An operation
// is a few hundred bytes; anything near this is not one.
const MaxBodyBytes = 1 << 20

// selectFields are the fields of a longRunningOperation we use; asking for
// just these keeps answers small. Each kind says what it selects.
const selectFields = "id,createdDateTime,lastActionDateTime,resourceLocation,status,statusDetail"

// ClientOptions configures a Client for one tenant.
type ClientOptions struct {
	Tenant        string      // the tenant label
	GraphEndpoint string      // https://host[:port], no path
	Tokens        TokenSource // app-only; nil when the tenant has none
	// Delegated is the tenant's delegated sign-in, for the operations
	// Graph reads only with a user's token (OperationRef.NeedsDelegated);
	// nil when the tenant has none.
	Delegated      TokenSource
	HTTPClient     *http.Client // nil: a default transport
	MaxConcurrency int          // Graph requests in flight at once; < 1 means 1
	Batch          bool         // group GetOperations into $batch requests
	RequestTimeout time.Duration
	Metrics        *Metrics
	Logger         log.Logger
	// Now is the clock of the tenant-wide hold-off; nil means time.Now.
	Now func() time.Time
	// Retry is the retry and back-off policy; its zero fields are
	// DefaultRetry's.
	Retry RetryPolicy
}

// Client reads long-running operations of one tenant from Graph.
type Client struct {
	tenant   string
	endpoint *url.URL
	tokens   TokenSource // app-only, or nil
	deleg    TokenSource // delegated, or nil
	hc       *http.Client
	sem      chan struct{}
	// decoding bounds the $batch answers decoded apart from their worker
	// (batchOnce) to MaxConcurrency: beyond, a worker decodes its own.
	decoding chan struct{}
	timeout  time.Duration
	metrics  *Metrics
	logger   log.Logger
	repeats  repeatLimit // Graph's errors, logged once per failLogEvery
	ua       string
	batch    bool
	now      func() time.Time
	retry    RetryPolicy

	// A tenant-wide hold-off: Graph throttled the app in this tenant (an
	// x-ms-throttle-scope of Tenant_Application, Tenant or Application, or
	// a 429 for a whole $batch), and no request goes out before notBefore.
	holdMu    sync.Mutex
	notBefore time.Time
	holdWhy   string        // the scope, for the error of requests not sent
	backoff   time.Duration // of tenant-wide 429s without Retry-After, for retry.HoldOff
}

// NewClient checks the options and builds the client. It contacts nothing.
func NewClient(o ClientOptions) (*Client, error) {
	ep, err := url.Parse(strings.TrimSuffix(o.GraphEndpoint, "/"))
	if err != nil || ep.Scheme != "https" || ep.Host == "" || (ep.Path != "" && ep.Path != "/") ||
		ep.RawQuery != "" || ep.ForceQuery || ep.Fragment != "" || ep.User != nil || ep.Opaque != "" {
		return nil, fmt.Errorf("graph endpoint %q is not https://host[:port]", o.GraphEndpoint)
	}
	ep.Path = ""
	if o.Tokens == nil && o.Delegated == nil {
		return nil, errors.New("graph client needs a token source")
	}
	n := o.MaxConcurrency
	if n < 1 {
		n = 1
	}
	logger := o.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	timeout := o.RequestTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics()
	}
	m.InitTenant(o.Tenant)
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		tenant:   o.Tenant,
		endpoint: ep,
		tokens:   o.Tokens,
		deleg:    o.Delegated,
		hc:       noRedirects(o.HTTPClient, n),
		sem:      make(chan struct{}, n),
		decoding: make(chan struct{}, n),
		timeout:  timeout,
		metrics:  m,
		logger:   log.With(logger, "tenant", o.Tenant),
		ua:       UserAgent(),
		batch:    o.Batch,
		now:      now,
		retry:    o.Retry.orDefault(),
	}, nil
}

// tenantScopes are the x-ms-throttle-scope scopes that throttle every
// request of this app in this tenant, not only the one throttled.
var tenantScopes = map[string]bool{"tenant_application": true, "tenant": true, "application": true}

// tenantWide reports whether a 429's x-ms-throttle-scope
// (<Scope>/<Limit>/<ApplicationId>/<TenantId|UserId|ResourceId>) throttles
// the whole tenant, and gives the scope.
func tenantWide(h http.Header) (string, bool) {
	v := h.Get("x-ms-throttle-scope")
	scope, _, _ := strings.Cut(v, "/")
	return scope, tenantScopes[strings.ToLower(strings.TrimSpace(scope))]
}

// holdTenant stops every request of the tenant for as long as the
// throttled gerr asks (the policy's back-off when it does not say), and
// logs that once per hold.
func (c *Client) holdTenant(gerr *Error, why string) {
	now := c.now()
	c.holdMu.Lock()
	var wait time.Duration
	wait, c.backoff, _ = c.retry.HoldOff(gerr, c.backoff)
	until := now.Add(wait)
	held := now.Before(c.notBefore)
	if until.After(c.notBefore) {
		c.notBefore, c.holdWhy = until, why
	}
	until = c.notBefore
	c.holdMu.Unlock()
	c.metrics.ThrottledUntil.WithLabelValues(c.tenant).Set(float64(until.UnixNano()) / 1e9)
	if !held {
		level.Warn(c.logger).Log("msg", "graph throttles the tenant; no request of this tenant goes out until the wait is over", "scope", why,
			"until", until.UTC().Format(time.RFC3339), "request_id", gerr.RequestID, "client_request_id", gerr.ClientRequestID)
	}
}

// heldOff is the error of a request not sent while the tenant is held off:
// a 429 whose Retry-After is what is left of the wait, so that each
// operation waits as long; nil when the tenant may be asked.
func (c *Client) heldOff() *Error {
	now := c.now()
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	if !now.Before(c.notBefore) {
		return nil
	}
	return &Error{StatusCode: http.StatusTooManyRequests, Code: notSent,
		Message:    fmt.Sprintf("not sent: Graph throttles this tenant (%s) until %s", c.holdWhy, c.notBefore.UTC().Format(time.RFC3339)),
		RetryAfter: c.notBefore.Sub(now), HasRetryAfter: true}
}

// released forgets the back-off of tenant-wide 429s once a request got
// an answer that is not one.
func (c *Client) released() {
	c.holdMu.Lock()
	c.backoff = 0
	c.holdMu.Unlock()
}

// noRedirects is a copy of hc (or, when hc is nil, of the default client,
// keeping idle connections for as many requests as run at once) that
// follows no redirect.
// Neither Graph nor the identity platform has reason to redirect us; not
// following at all is the simplest guarantee that neither the bearer token
// nor a client secret travels to a host a 3xx names.
func noRedirects(hc *http.Client, idle int) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = idle
		c.Transport = tr
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Readable says why this client cannot read ref's operation (it needs a
// credential the tenant lacks), or returns nil.
func (c *Client) Readable(ref OperationRef) error {
	switch {
	case ref.NeedsDelegated() && c.deleg == nil:
		return ErrNeedsDelegated(ref.Scope, c.tenant)
	case !ref.NeedsDelegated() && c.tokens == nil:
		return fmt.Errorf("tenant %q has only a delegated credential, and %s operations are read with the application's own credential (client_secret_file, client_certificate_file, federated_token_file or managed_identity)", c.tenant, ref.Scope)
	}
	return nil
}

// CheckSignIn says what is wrong with the tenant's delegated sign-in, if it
// has one, without contacting anything.
func (c *Client) CheckSignIn() error {
	if c.deleg == nil {
		return nil
	}
	return CheckSignIn(c.deleg)
}

// source is the token source for operations that need (delegated) or do not
// need a signed-in account.
func (c *Client) source(delegated bool) (TokenSource, error) {
	ts := c.tokens
	if delegated {
		ts = c.deleg
	}
	if ts == nil {
		return nil, c.Readable(OperationRef{Scope: ScopeCustom, Delegated: delegated})
	}
	return ts, nil
}

// MayCarryToken is the one place that decides whether a request may carry
// the tenant's bearer token: only https to the tenant's own Graph host.
func (c *Client) MayCarryToken(u *url.URL) bool {
	return u != nil && u.Scheme == "https" && strings.EqualFold(u.Host, c.endpoint.Host) && u.User == nil
}

// OperationURL is the URL GetOperation requests for ref.
func (c *Client) OperationURL(ref OperationRef) (*url.URL, error) {
	p := ref.URLPath()
	if p == "" {
		return nil, fmt.Errorf("no request path for scope %q", ref.Scope)
	}
	u, err := url.Parse(c.endpoint.String() + p)
	if err != nil {
		return nil, fmt.Errorf("operation path: %w", err)
	}
	u.RawQuery = requestQuery(ref)
	return u, nil
}

// requestQuery is ref's query with its kind's $select, unless it has one.
func requestQuery(ref OperationRef) string {
	q := ref.RawQuery
	if sel := ref.Kind().Select; sel != "" && !strings.Contains(q, "$select=") {
		if q != "" {
			q += "&"
		}
		q += "$select=" + sel
	}
	return q
}

// batchInner is ref's request as a $batch names it: the escaped path after
// the version, and the query. A path built from a kind's table (no Path of
// its own) is escaped already, and is what url.Parse and EscapedPath would
// give back (TestBatchInnerIsOperationURLs); any other goes through
// OperationURL.
func (c *Client) batchInner(ref OperationRef, version string) (string, error) {
	var p, q string
	if ref.Path == "" && ref.Kind().Path != "" {
		p, q = ref.URLPath(), requestQuery(ref)
	} else {
		u, err := c.OperationURL(ref)
		if err != nil {
			return "", err
		}
		p, q = u.EscapedPath(), u.RawQuery
	}
	p = strings.TrimPrefix(p, "/"+version)
	if q != "" {
		p += "?" + q
	}
	return p, nil
}

// GetOperation reads one operation with one GET, tried once (the
// exporter reads through GetOperations, which retries). It waits for a
// free slot of the tenant's MaxConcurrency and gives up with ctx.
func (c *Client) GetOperation(ctx context.Context, ref OperationRef) (*Operation, error) {
	return c.getOperation(ctx, ref, false)
}

// getOperation is GetOperation; quiet logs Graph's error at debug, for a
// caller that logs one line for many operations.
func (c *Client) getOperation(ctx context.Context, ref OperationRef, quiet bool) (*Operation, error) {
	u, err := c.OperationURL(ref)
	if err != nil {
		return nil, err
	}
	body, err := c.get(ctx, u, ref.NeedsDelegated(), quiet)
	if err != nil {
		return nil, err
	}
	return c.decode(ref, u.Path, body, false)
}

// decode reads an operation from Graph's 200 answer. An answer it cannot
// read is logged once per interval for the tenant and scope (with the
// path of the first and the count of those held back), and its error says
// so, for the caller to log per operation at debug. path is the request's
// ("" for ref's own).
func (c *Client) decode(ref OperationRef, path string, body []byte, valid bool) (*Operation, error) {
	op, err := LookupKind(ref.Scope).decode(body, valid)
	if err != nil {
		if path == "" { // built for the log line only, not for every answer
			path = ref.URLPath()
		}
		c.logRepeated(level.Warn, "unreadable "+ref.Scope, "msg", "graph's answer for an operation cannot be read; the operation shows up 0",
			"scope", ref.Scope, "path", path, "err", err)
		return nil, &AnswerError{err: err}
	}
	return op, nil
}

// get sends one GET to Graph and returns the body of a 200; quiet as for
// getOperation.
func (c *Client) get(ctx context.Context, u *url.URL, delegated, quiet bool) ([]byte, error) {
	a, err := c.send(ctx, http.MethodGet, u, nil, delegated, false)
	if err != nil {
		return nil, err
	}
	defer a.done()
	c.metrics.Fetched.WithLabelValues(c.tenant).Inc()
	if a.status == http.StatusOK {
		return a.body, nil
	}
	return nil, c.answerErrorAt(u.Path, a.status, a.header, a.body, a.crid, quiet)
}

// answer is what Graph sent back for one HTTP request.
type answer struct {
	status int
	header http.Header
	body   []byte
	crid   string // our client-request-id

	// A $batch's 200 answer, read as it streams in (body is then empty),
	// or why it could not be read.
	responses []batchResponse
	batchErr  error

	// finish frees the request slot of an answer that may hold the tenant
	// off (a 429 or a 503, its own or an inner one): its reader calls done
	// once it has read it, so that no request waiting for the slot goes
	// out before the hold is set.
	finish func()
}

// done frees the answer's request slot if it still holds it.
func (a answer) done() {
	if a.finish != nil {
		a.finish()
	}
}

// mayHold says whether a status may come with a tenant-wide hold.
func mayHold(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// holdsInside says whether an inner answer of a $batch may hold the
// tenant off.
func holdsInside(responses []batchResponse) bool {
	for _, r := range responses {
		if mayHold(r.Status) {
			return true
		}
	}
	return false
}

// send makes one HTTP request to Graph: it waits for a free slot of the
// tenant's MaxConcurrency, adds the token, counts and times the request,
// and reads at most MaxBodyBytes of the answer (of a $batch's 200 answer:
// at most MaxBodyBytes of each inner answer). delegated picks the token:
// the signed-in account's, or the application's own. The slot is freed
// when send returns, but for an answer that may hold the tenant off: its
// caller frees it with answer.done once it has read it.
func (c *Client) send(ctx context.Context, method string, u *url.URL, body []byte, delegated, batch bool) (answer, error) {
	if !c.MayCarryToken(u) {
		return answer{}, fmt.Errorf("refusing to send the token to %s://%s: not the tenant's Graph endpoint", u.Scheme, u.Host)
	}
	tokens, err := c.source(delegated)
	if err != nil {
		return answer{}, err
	}
	if herr := c.heldOff(); herr != nil {
		return answer{}, herr
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return answer{}, fmt.Errorf("waiting for a free request slot: %w", ctx.Err())
	}
	release := sync.OnceFunc(func() { <-c.sem })
	handed := false // the answer goes back with its slot (answer.finish)
	defer func() {
		if !handed {
			release()
		}
	}()
	// A request that waited for its slot may find the tenant held off now.
	if herr := c.heldOff(); herr != nil {
		return answer{}, herr
	}

	// The token and the request each get request_timeout: a hung identity
	// platform must not hold the tenant's request slot for ever.
	tctx, tcancel := context.WithTimeout(ctx, c.timeout)
	token, err := tokens.Token(tctx)
	tcancel()
	if err != nil {
		return answer{}, err
	}
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return answer{}, err
	}
	crid := newUUID()
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("client-request-id", crid)
	req.Header.Set("return-client-request-id", "true")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	c.metrics.Duration.WithLabelValues(c.tenant).Observe(time.Since(start).Seconds())
	if err != nil {
		c.metrics.Requests.WithLabelValues(c.tenant, "error").Inc()
		// url.Error quotes the URL, which holds nothing secret.
		rerr := &RequestError{err: fmt.Errorf("graph request failed (client-request-id %s): %w", crid, err)}
		if caller.Err() != nil {
			// The caller gave up (a scrape's deadline): not Graph's
			// failure. Graph's silence past request_timeout is, below.
			level.Debug(c.logger).Log("msg", "graph request abandoned", "err", rerr)
		} else {
			// One line per interval for the tenant's host, not one per
			// operation and scrape: the operations log it at debug.
			c.logRepeated(level.Warn, "request failed "+u.Host, "msg", "graph request failed; no answer came", "err", rerr)
		}
		return answer{}, rerr
	}
	defer resp.Body.Close()
	c.metrics.Requests.WithLabelValues(c.tenant, strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode != http.StatusTooManyRequests {
		c.released()
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if r, ok := tokens.(interface{ Refused(string) }); ok {
			r.Refused(token)
		}
	}
	if batch && resp.StatusCode == http.StatusOK {
		a := answer{status: resp.StatusCode, header: resp.Header, crid: crid}
		a.responses, a.batchErr = readBatchAnswer(resp.Body, resp.ContentLength)
		if holdsInside(a.responses) {
			a.finish, handed = release, true
		}
		return a, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return answer{}, fmt.Errorf("reading graph answer (client-request-id %s): %w", crid, err)
	}
	if len(b) > MaxBodyBytes {
		return answer{}, fmt.Errorf("graph answer is larger than %d bytes (client-request-id %s)", MaxBodyBytes, crid)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: b, crid: crid}
	if mayHold(resp.StatusCode) {
		a.finish, handed = release, true
	}
	return a, nil
}

// answerError turns a non-200 answer, outer or inside a $batch, into an
// *Error, counts a 429, and logs it with the ids Microsoft support asks for.
func (c *Client) answerError(path string, status int, h http.Header, body []byte, crid string) *Error {
	return c.answerErrorAt(path, status, h, body, crid, false)
}

// answerErrorAt is answerError; inner logs at debug (an inner answer of a
// $batch, or one of many single GETs: one line is logged for all of them).
func (c *Client) answerErrorAt(path string, status int, h http.Header, body []byte, crid string, inner bool) *Error {
	gerr := newError(status, h, body, crid)
	if gerr.Throttled() {
		c.metrics.Throttled.WithLabelValues(c.tenant).Inc()
		if scope, ok := tenantWide(h); ok {
			c.holdTenant(gerr, "x-ms-throttle-scope "+scope)
		}
	}
	kv := []any{"msg", "graph answered with an error", "path", path, "status", status,
		"code", gerr.Code, "request_id", gerr.RequestID, "client_request_id", crid}
	if inner {
		level.Debug(c.logger).Log(kv...)
		return gerr
	}
	lvl := level.Warn
	if gerr.NotFound() || gerr.Throttled() {
		lvl = level.Info
	}
	// Keyed by status and code, not path: twenty operations answered 403
	// are one line per interval (the first's path in it), not twenty.
	c.logRepeated(lvl, fmt.Sprintf("answer %d %s", status, gerr.Code), kv...)
	return gerr
}

// logRepeated logs keyvals at lvl unless the line key names was logged
// within failLogEvery; then it is held back, and the next one says how
// many were. Graph errors that last (a permission removed, a 5xx outage)
// cost a line per interval, not one per scrape.
func (c *Client) logRepeated(lvl func(log.Logger) log.Logger, key string, keyvals ...any) {
	ok, held := c.repeats.allow(key, c.now())
	if !ok {
		return
	}
	if held > 0 {
		keyvals = append(keyvals, "repeated_since_last_log", held)
	}
	lvl(c.logger).Log(keyvals...)
}

// newUUID returns a random (version 4) UUID for client-request-id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// CloseIdleConnections closes the idle connections of the client's
// transports, Graph's and the identity platform's, when a reload replaces
// it: they would otherwise linger until their idle timeout.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
	for _, ts := range []TokenSource{c.tokens, c.deleg} {
		if ci, ok := ts.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
	}
}

// UserAgent is what the exporter calls itself to Graph, decorated as
// SharePoint's throttling guidance asks of traffic that is not an ISV's
// product (NONISV|<company>|<app>/<version>), so that SharePoint, behind
// the site operations, can tell it apart.
func UserAgent() string {
	return "NONISV|msgraph-lro|msgraph_lro_exporter/" + version.Version
}
