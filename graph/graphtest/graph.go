package graphtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// graphTime is how Graph writes lastActionDateTime and createdDateTime.
const graphTime = "2006-01-02T15:04:05.0000000Z"

// maxBatch is the most requests one JSON batch may hold.
const maxBatch = 20

// Fault is a failure injected into Graph's answers with Inject. Its parts
// apply in order: Latency, then Reset, then Status.
type Fault struct {
	// Status is the HTTP status to answer with (429, 500, 503, 404, or 200
	// with a Body to serve a malformed object); 0 answers normally, which
	// is useful with Latency.
	Status int
	// RetryAfter is the Retry-After header sent with Status ("" = none),
	// such as "2" or "0.5".
	RetryAfter string
	// Body is the raw body sent with Status instead of a Graph error
	// object; a pointer so that an empty body can be asked for. Its
	// Content-Type is application/json if it is JSON, none if it is empty,
	// and sniffed otherwise.
	Body *string
	// Latency is waited before answering, or less if the client goes away.
	Latency time.Duration
	// Reset closes the connection (with a TCP reset) without answering.
	// Go's http.Transport retries an idempotent request once, on a new
	// connection, when a reused connection fails before any answer: a
	// single Reset on a keep-alive connection may go unseen by the client.
	Reset bool
	// Times is how many requests the fault applies to; 0 (or less) means
	// every request until ClearFaults.
	Times int
	// ThrottleScope is the x-ms-throttle-scope header sent with Status, as
	// Graph's throttling guidance gives it:
	// <Scope>/<Limit>/<ApplicationId>/<TenantId|UserId|ResourceId>, where
	// Scope is Tenant_Application, Tenant or Application; for example
	// "Tenant_Application/Read/<app id>/<tenant id>".
	ThrottleScope string
	// BodyBytes, with Status (200 for an oversized answer), answers with an
	// operation-shaped JSON object whose statusDetail is BodyBytes long
	// (a 50 MB answer), streamed in pieces without being held in memory,
	// alone or as one inner answer of a $batch.
	BodyBytes int
}

// activeFault is an injected fault and how many more requests it takes.
type activeFault struct {
	path string // "" = every Graph request
	f    Fault
	left int // 0 = until ClearFaults
}

// opKey is the key a caller's path is stored and counted under: the
// unescaped path, without a query string. A full URL is accepted too.
func opKey(path string) string {
	if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
		if u, err := url.Parse(path); err == nil {
			return u.Path
		}
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return path
}

// SetOperation stores fields as the JSON object Graph serves at path,
// replacing what was there. path starts with the version, as in
// "/beta/identityGovernance/roleManagementAlerts/operations/refresh:…", and
// may be escaped or not: it is stored unescaped and matched against the
// request's unescaped path, so "," and "%2C" are the same. Values must
// marshal to JSON; a nil value is JSON null. It panics on a value that
// does not marshal.
func (t *Tenant) SetOperation(path string, fields map[string]any) {
	obj := encodeFields("SetOperation", path, fields)
	t.mu.Lock()
	t.ops[opKey(path)] = obj
	t.mu.Unlock()
}

// UpdateOperation merges fields into the object at path, creating it if
// there is none. A nil value stores JSON null; it does not remove the field.
func (t *Tenant) UpdateOperation(path string, fields map[string]any) {
	t.update(path, encodeFields("UpdateOperation", path, fields))
}

// SetStatus sets the object's "status" and its "lastActionDateTime" to the
// tenant's clock, written as Graph does (2006-01-02T15:04:05.0000000Z),
// creating the object if there is none.
func (t *Tenant) SetStatus(path, status string) {
	now := t.clock().UTC().Format(graphTime)
	t.update(path, encodeFields("SetStatus", path, map[string]any{
		"status":             status,
		"lastActionDateTime": now,
	}))
}

// update merges fields into the object at path. Stored objects are never
// changed in place, so a request being answered keeps a consistent one.
func (t *Tenant) update(path string, fields map[string]json.RawMessage) {
	key := opKey(path)
	t.mu.Lock()
	defer t.mu.Unlock()
	merged := maps.Clone(t.ops[key])
	if merged == nil {
		merged = map[string]json.RawMessage{}
	}
	maps.Copy(merged, fields)
	t.ops[key] = merged
}

// RemoveOperation removes the object at path; Graph answers 404 for it.
func (t *Tenant) RemoveOperation(path string) {
	t.mu.Lock()
	delete(t.ops, opKey(path))
	t.mu.Unlock()
}

// encodeFields marshals each field once, so that later changes to the
// caller's values do not show through.
func encodeFields(fn, path string, fields map[string]any) map[string]json.RawMessage {
	obj := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Sprintf("graphtest: %s(%q): field %q: %v", fn, path, k, err))
		}
		obj[k] = b
	}
	return obj
}

// SetPageSize makes lists answer at most n items a page, with an
// @odata.nextLink to the rest, as Graph does by itself; 0 means all at once
// unless the request asks for $top.
func (t *Tenant) SetPageSize(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pageSize = n
}

// SetLatency adds d to every Graph HTTP request (a $batch counts once),
// before faults and authentication. A request whose client goes away stops
// waiting.
func (t *Tenant) SetLatency(d time.Duration) {
	t.mu.Lock()
	t.latency = d
	t.mu.Unlock()
}

// SetAnswerTime makes every Graph HTTP request (a $batch counts once) get
// its answer d after it arrived, the simulated tenant's own work included,
// as a remote Graph's latency is: the work is done first and the answer
// waits out the rest of d. Where SetLatency's wait comes before the work
// (so that, on one machine, the simulator's CPU adds to it), an answer
// time models a Graph whose work happens on its own machines: the
// scale benchmarks use it. Everything before the answer counts within d:
// the work, SetLatency's wait and a fault's latency.
func (t *Tenant) SetAnswerTime(d time.Duration) {
	t.mu.Lock()
	t.answerTime = d
	t.mu.Unlock()
}

// answerAt is a ResponseWriter that lets nothing out, the header, the body
// or the connection, before until; a client that goes away or a tenant
// closing aborts the wait, as SetLatency's, but for its last 2 ms.
type answerAt struct {
	http.ResponseWriter
	t     *Tenant
	r     *http.Request
	until time.Time
	ready bool
}

func (a *answerAt) wait() {
	if a.ready {
		return
	}
	a.ready = true
	// Go's timers wake an idle process to the millisecond (the poller's
	// timeout), about half a millisecond late on average: a tenth of a
	// 5 ms answer time. The last stretch is slept by the thread instead
	// (nanosleep wakes it within tens of microseconds; getting a core
	// back adds to that: answers leave 0.15 to 0.25 ms late on average
	// in the scale benchmarks).
	if a.t.sleep(a.r, time.Until(a.until)-preciseSleep) != nil {
		abort()
	}
	sleepPrecisely(time.Until(a.until))
	a.t.answered(time.Since(a.until))
}

// preciseSleep is how much of an answer time the thread sleeps.
const preciseSleep = 2 * time.Millisecond

// answered counts an answer of SetAnswerTime that left late by late (0 or
// less: on time; an answer whose work outran the answer time is late by
// the overrun).
func (t *Tenant) answered(late time.Duration) {
	t.mu.Lock()
	t.onTime.n++
	t.onTime.late += max(late, 0)
	t.mu.Unlock()
}

// AnswerLateness is how many answers SetAnswerTime held, and how late
// after their answer time they left in all: what the scale benchmarks
// report, so that a figure is known to have been measured against answers
// that left on time. ResetCounters zeroes it.
func (t *Tenant) AnswerLateness() (answers int, late time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.onTime.n, t.onTime.late
}

func (a *answerAt) WriteHeader(code int) {
	a.wait()
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerAt) Write(b []byte) (int, error) {
	a.wait()
	return a.ResponseWriter.Write(b)
}

func (a *answerAt) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	a.wait()
	hj, ok := a.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("graphtest: the connection cannot be hijacked")
	}
	return hj.Hijack()
}

// Inject adds a fault for requests to path ("" = every Graph HTTP
// request). Each request takes the earliest injected fault that matches it
// and is not used up, so Inject(p, {Status: 429, Times: 1}) then
// Inject(p, {Status: 500, Times: 1}) answers 429, then 500, then normally.
// Faults are decided when a request arrives and apply before the token is
// checked. In a $batch, the batch request itself takes faults for
// "/{version}/$batch" and "", each inner request those for its own path.
func (t *Tenant) Inject(path string, f Fault) {
	key := ""
	if path != "" {
		key = opKey(path)
	}
	t.mu.Lock()
	t.faults = append(t.faults, &activeFault{path: key, f: f, left: max(f.Times, 0)})
	t.mu.Unlock()
}

// ClearFaults removes every injected fault.
func (t *Tenant) ClearFaults() {
	t.mu.Lock()
	t.faults = nil
	t.mu.Unlock()
}

// takeFault returns the fault for a request to path, if any, and uses it
// once. global says whether faults for every request apply. t.mu is held.
func (t *Tenant) takeFault(path string, global bool) *Fault {
	for i, af := range t.faults {
		if af.path != path && (!global || af.path != "") {
			continue
		}
		f := af.f
		if af.left > 0 {
			af.left--
			if af.left == 0 {
				t.faults = slices.Delete(t.faults, i, i+1)
			}
		}
		return &f
	}
	return nil
}

// Requests returns how many Graph HTTP requests arrived, on any path and
// with any outcome. A $batch counts once.
func (t *Tenant) Requests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests
}

// RequestsFor returns how many requests arrived for path, including the
// requests inside $batch requests.
func (t *Tenant) RequestsFor(path string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.perPath[opKey(path)]
}

// LastQuery returns the query of the latest request for path ($select,
// aadgdc, …), or nil if none arrived.
func (t *Tenant) LastQuery(path string) url.Values {
	t.mu.Lock()
	defer t.mu.Unlock()
	q, ok := t.lastQuery[opKey(path)]
	if !ok {
		return nil
	}
	return cloneValues(q)
}

// LastClientRequestID returns the client-request-id header of the latest
// Graph HTTP request ("" if it had none).
func (t *Tenant) LastClientRequestID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastCRID
}

// LastUserAgent returns the User-Agent of the latest Graph request.
func (t *Tenant) LastUserAgent() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastUA
}

// Unauthorized returns how many Graph requests were refused with 401 for
// a missing, unknown or expired token.
func (t *Tenant) Unauthorized() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unauthorized
}

// ResetCounters sets every counter to zero, the identity platform's
// (TokenRequests, TokenRequestsByGrant, TokensIssued) as well as Graph's, and forgets the last
// queries and client-request-id. Operations, faults and tokens stay.
func (t *Tenant) ResetCounters() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests, t.unauthorized, t.tokenRequests, t.tokensIssued = 0, 0, 0, 0
	t.grantRequests = map[string]int{}
	t.perPath = map[string]int{}
	t.lastQuery = map[string]url.Values{}
	t.lastCRID = ""
	t.onTime.n, t.onTime.late = 0, 0
}

func cloneValues(q url.Values) url.Values {
	c := make(url.Values, len(q))
	for k, v := range q {
		c[k] = slices.Clone(v)
	}
	return c
}

// ids identify one answer, as Graph's innerError does.
type ids struct {
	requestID       string
	clientRequestID string
}

// reply is one answer, to an HTTP request or to a request in a $batch.
type reply struct {
	status int
	header map[string]string
	body   []byte
	json   bool // body is JSON the tenant made (not a fault's): valid
}

func (rp reply) write(w http.ResponseWriter) {
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	if !bytes.Contains(rp.body, []byte(padMarker)) {
		w.Header().Set("Content-Length", strconv.Itoa(len(rp.body)))
		w.WriteHeader(rp.status)
		_, _ = w.Write(rp.body)
		return
	}
	// A Fault's BodyBytes: each marker becomes that many bytes, streamed.
	w.WriteHeader(rp.status)
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	rest := rp.body
	for _, m := range padRE.FindAllSubmatchIndex(rp.body, -1) {
		off := len(rp.body) - len(rest)
		if _, err := w.Write(rest[:m[0]-off]); err != nil {
			return
		}
		n, _ := strconv.Atoi(string(rp.body[m[2]:m[3]]))
		for ; n > 0; n -= len(chunk) {
			if _, err := w.Write(chunk[:min(n, len(chunk))]); err != nil {
				return
			}
		}
		rest = rp.body[m[1]:]
	}
	_, _ = w.Write(rest)
}

// padMarker stands for a Fault's BodyBytes in an answer until it is written.
const padMarker = "@@graphtest-pad-"

var padRE = regexp.MustCompile(`@@graphtest-pad-(\d+)@@`)

// serveGraph is Graph's handler.
func (t *Tenant) serveGraph(w http.ResponseWriter, r *http.Request) {
	path, query := r.URL.Path, r.URL.Query()
	if _, isBatch := batchVersion(path); !isBatch {
		path = canonicalPath(r.URL.EscapedPath())
	}
	crid := r.Header.Get("client-request-id")
	id := ids{requestID: newGUID(), clientRequestID: crid}
	if crid == "" {
		id.clientRequestID = id.requestID
	}
	t.mu.Lock()
	t.requests++
	t.perPath[path]++
	t.lastQuery[path] = query
	t.lastCRID = crid
	t.lastUA = r.Header.Get("User-Agent")
	latency, answerTime := t.latency, t.answerTime
	fault := t.takeFault(path, true)
	t.mu.Unlock()
	if answerTime > 0 {
		w = &answerAt{ResponseWriter: w, t: t, r: r, until: time.Now().Add(answerTime)}
	}

	w.Header().Set("request-id", id.requestID)
	if crid != "" {
		w.Header().Set("client-request-id", crid)
	}
	if t.sleep(r, latency) != nil {
		abort()
	}
	if fault != nil {
		if t.sleep(r, fault.Latency) != nil {
			abort()
		}
		if fault.Reset {
			resetConn(w)
			return
		}
		if fault.Status != 0 {
			t.faultReply(*fault, id).write(w)
			return
		}
	}
	tok, msg := t.authenticate(r)
	if msg != "" {
		t.mu.Lock()
		t.unauthorized++
		t.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+t.authorityHost+
			`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		t.graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", msg, id).write(w)
		return
	}
	if version, ok := batchVersion(path); ok && r.Method == http.MethodPost {
		t.serveBatch(w, r, version, tok, id)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		t.graphError(http.StatusMethodNotAllowed, "BadRequest",
			"Specified HTTP method is not allowed for the request uri.", id).write(w)
		return
	}
	if !authorized(path, tok) {
		t.accessDenied(id).write(w)
		return
	}
	t.get(path, query, id).write(w)
}

// authenticate returns the request's bearer token, or why it is refused.
func (t *Tenant) authenticate(r *http.Request) (*accessToken, string) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, "Access token is empty."
	}
	t.mu.Lock()
	at, ok := t.tokens[token]
	now := t.now
	t.mu.Unlock()
	if !ok {
		return nil, "Access token validation failure. Invalid audience."
	}
	if !now().Before(at.exp) {
		return nil, "Lifetime validation failed, the token is expired."
	}
	return at, ""
}

// Delegated permissions that open password-reset operations: of any user
// (with a directory role), or of the signed-in user only.
var (
	anyUserMethodScopes = []string{"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"}
	ownMethodScopes     = []string{"UserAuthenticationMethod.Read", "UserAuthenticationMethod.ReadWrite"}
	methodReaderRoles   = []string{RoleGlobalReader, RoleAuthenticationAdministrator, RolePrivilegedAuthenticationAdministrator}
)

// passwordResetUser says whether path is a password-reset operation, or
// their list, under /{version}/users/{id or upn}/authentication/operations,
// and whose.
func passwordResetUser(path string) (string, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) != 5 && len(segs) != 6 {
		return "", false
	}
	if !strings.EqualFold(segs[0], "v1.0") && !strings.EqualFold(segs[0], "beta") {
		return "", false
	}
	if !strings.EqualFold(segs[1], "users") || !strings.EqualFold(segs[3], "authentication") || !strings.EqualFold(segs[4], "operations") {
		return "", false
	}
	return segs[2], true
}

// authorized applies Graph's permission rule for password-reset
// operations, which application permissions never open: a delegated
// token needs UserAuthenticationMethod.Read.All or .ReadWrite.All, and for
// another user's operation one of the directory roles too; or, for the
// signed-in user's own, UserAuthenticationMethod.Read or .ReadWrite. Other
// paths need only a valid token.
func authorized(path string, tok *accessToken) bool {
	if scopes, roles, ok := delegatedOnly(path); ok {
		return tok != nil && tok.kind == kindUser && hasAnyFold(tok.scopes, scopes) &&
			(roles == nil || hasAnyFold(tok.user.Roles, roles))
	}
	target, ok := passwordResetUser(path)
	if !ok {
		return true
	}
	if tok == nil || tok.kind != kindUser {
		return false
	}
	anyUser := hasAnyFold(tok.scopes, anyUserMethodScopes)
	if strings.EqualFold(target, tok.user.ID) || strings.EqualFold(target, tok.user.UPN) {
		return anyUser || hasAnyFold(tok.scopes, ownMethodScopes)
	}
	return anyUser && hasAnyFold(tok.user.Roles, methodReaderRoles)
}

// hasAnyFold says whether have holds one of want, ignoring case.
func hasAnyFold(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if strings.EqualFold(h, w) {
				return true
			}
		}
	}
	return false
}

// accessDenied is what Graph answers the authentication methods APIs
// when the token's permissions or the user's roles do not allow a request.
func (t *Tenant) accessDenied(id ids) reply {
	return t.graphError(http.StatusForbidden, "accessDenied", "Request Authorization failed", id)
}

// get answers a GET: the object stored at path, or the list of objects
// stored directly beneath a path ending in /operations.
func (t *Tenant) get(path string, q url.Values, id ids) reply {
	sel := selectFields(q)
	t.mu.Lock()
	key, ok := t.lookup(path)
	obj := t.ops[key]
	var children []string
	var items []map[string]json.RawMessage
	if !ok && isCollection(path) {
		prefix := strings.ToLower(path + "/")
		for k := range t.ops {
			if rest, found := strings.CutPrefix(strings.ToLower(k), prefix); found && rest != "" && !strings.Contains(rest, "/") {
				children = append(children, k)
			}
		}
		slices.Sort(children)
		for _, k := range children {
			items = append(items, t.ops[k])
		}
	}
	t.mu.Unlock()

	switch {
	case ok:
		out := project(obj, sel)
		if _, has := obj["@odata.context"]; !has {
			out["@odata.context"] = mustJSON(t.odataContext(path, sel, true))
		}
		return jsonReply(http.StatusOK, out)
	case isCollection(path):
		if strings.HasSuffix(path, "/roleManagementAlerts/alerts") && q.Get("$filter") != alertsFilter {
			// Graph lists role management alerts only for a scope.
			return t.graphError(http.StatusBadRequest, "BadRequest",
				"The filter 'scopeId eq '/' and scopeType eq 'DirectoryRole'' is required.", id)
		}
		return t.list(path, q, sel, items, id)
	default:
		return t.graphError(http.StatusNotFound, "ResourceNotFound",
			fmt.Sprintf("Resource not found for the segment '%s'.", path[strings.LastIndexByte(path, '/')+1:]), id)
	}
}

// alertsFilter is the filter Graph requires to list role management alerts.
const alertsFilter = "scopeId eq '/' and scopeType eq 'DirectoryRole'"

// isCollection says whether a path names a list: operations, or role
// management alerts; its items are the objects stored directly under it.
func isCollection(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, "/operations") || strings.HasSuffix(p, "/rolemanagementalerts/alerts")
}

// list answers a collection, a page of $top items (or the page size set
// with SetPageSize) from $skiptoken on.
func (t *Tenant) list(path string, q url.Values, sel []string, items []map[string]json.RawMessage, id ids) reply {
	top, skip := len(items), 0
	t.mu.Lock()
	if t.pageSize > 0 {
		top = t.pageSize
	}
	t.mu.Unlock()
	if q.Has("$top") {
		n, err := strconv.Atoi(q.Get("$top"))
		if err != nil || n < 1 {
			return t.graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid $top value '%s'.", q.Get("$top")), id)
		}
		top = n
	}
	if q.Has("$skiptoken") {
		n, err := strconv.Atoi(q.Get("$skiptoken"))
		if err != nil || n < 0 {
			return t.graphError(http.StatusBadRequest, "BadRequest", "The $skiptoken is invalid.", id)
		}
		skip = min(n, len(items))
	}
	end := min(skip+top, len(items))
	value := make([]map[string]json.RawMessage, 0, end-skip)
	for _, it := range items[skip:end] {
		value = append(value, project(it, sel))
	}
	out := map[string]any{
		"@odata.context": t.odataContext(path, sel, false),
		"value":          value,
	}
	if end < len(items) {
		next := cloneValues(q)
		next.Set("$skiptoken", strconv.Itoa(end))
		out["@odata.nextLink"] = t.graphEndpoint + (&url.URL{Path: path}).EscapedPath() + "?" + next.Encode()
	}
	return jsonReply(http.StatusOK, out)
}

// selectFields returns the fields $select names, or nil for all.
func selectFields(q url.Values) []string {
	var sel []string
	for _, v := range q["$select"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				sel = append(sel, f)
			}
		}
	}
	return sel
}

// project returns the fields of obj that sel names (all if sel is nil).
// Graph matches property names without regard to case.
func project(obj map[string]json.RawMessage, sel []string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(obj)+1)
	for k, v := range obj {
		if sel == nil || slices.ContainsFunc(sel, func(s string) bool { return strings.EqualFold(s, k) }) {
			out[k] = v
		}
	}
	return out
}

// odataContext is the @odata.context Graph sends: for
// /beta/identityGovernance/roleManagementAlerts/operations/{id} it is
// {endpoint}/beta/$metadata#identityGovernance/roleManagementAlerts/operations/$entity.
func (t *Tenant) odataContext(path string, sel []string, entity bool) string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	version, rest := segs[0], segs[1:]
	if entity && len(rest) > 0 {
		rest = rest[:len(rest)-1]
	}
	s := t.graphEndpoint + "/" + version + "/$metadata#" + strings.Join(rest, "/")
	if len(sel) > 0 {
		s += "(" + strings.Join(sel, ",") + ")"
	}
	if entity {
		s += "/$entity"
	}
	return s
}

// graphErrorCodes are the codes of the default error bodies.
var graphErrorCodes = map[int][2]string{
	http.StatusBadRequest:          {"BadRequest", "Bad request."},
	http.StatusUnauthorized:        {"InvalidAuthenticationToken", "Access token validation failure."},
	http.StatusForbidden:           {"Forbidden", "Insufficient privileges to complete the operation."},
	http.StatusNotFound:            {"ResourceNotFound", "Resource not found."},
	http.StatusConflict:            {"Conflict", "The request conflicts with the current state of the resource."},
	http.StatusTooManyRequests:     {"TooManyRequests", "Too many requests. Please try again later."},
	http.StatusInternalServerError: {"InternalServerError", "An internal server error occurred."},
	http.StatusBadGateway:          {"BadGateway", "Bad gateway."},
	http.StatusServiceUnavailable:  {"ServiceUnavailable", "The service is temporarily unavailable. Please try again later."},
	http.StatusGatewayTimeout:      {"GatewayTimeout", "The request timed out."},
}

// faultReply is the answer an injected fault with a Status gives.
func (t *Tenant) faultReply(f Fault, id ids) reply {
	var rp reply
	if f.BodyBytes > 0 {
		return reply{status: f.Status, header: map[string]string{"Content-Type": "application/json"},
			body: []byte(fmt.Sprintf(`{"id":"padded","status":"running","statusDetail":"%s%d@@"}`, padMarker, f.BodyBytes))}
	}
	if f.Body != nil {
		rp = reply{status: f.Status, header: map[string]string{}, body: []byte(*f.Body)}
		switch {
		case len(rp.body) == 0:
		case json.Valid(rp.body):
			rp.header["Content-Type"] = "application/json"
		default:
			rp.header["Content-Type"] = http.DetectContentType(rp.body)
		}
	} else {
		ce, ok := graphErrorCodes[f.Status]
		if !ok {
			ce = [2]string{strings.ReplaceAll(http.StatusText(f.Status), " ", ""), "Injected fault."}
			if ce[0] == "" {
				ce[0] = "UnknownError"
			}
		}
		rp = t.graphError(f.Status, ce[0], ce[1], id)
	}
	if f.RetryAfter != "" {
		rp.header["Retry-After"] = f.RetryAfter
	}
	if f.ThrottleScope != "" {
		rp.header["x-ms-throttle-scope"] = f.ThrottleScope
	}
	return rp
}

// graphError is an error in Graph's shape.
func (t *Tenant) graphError(status int, code, message string, id ids) reply {
	return jsonReply(status, map[string]any{
		"error": map[string]any{
			"code":    code,
			"message": message,
			"innerError": map[string]string{
				"date":              t.clock().UTC().Format("2006-01-02T15:04:05"),
				"request-id":        id.requestID,
				"client-request-id": id.clientRequestID,
			},
		},
	})
}

func jsonReply(status int, v any) reply {
	body, ok := v.(map[string]json.RawMessage)
	if !ok {
		return reply{status: status, header: map[string]string{"Content-Type": "application/json"}, body: mustJSON(v), json: true}
	}
	return reply{status: status, header: map[string]string{"Content-Type": "application/json"}, body: rawObject(body), json: true}
}

// appendKey appends k as a JSON string: as it is when it is plain ASCII
// with nothing to escape (Graph's member names), else as encoding/json
// quotes it.
func appendKey(b []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return append(b, mustJSON(k)...)
		}
	}
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"')
}

// rawObject is m as a JSON object, keys in order as encoding/json writes a
// map, each value written as it is: the tenant's members are JSON it
// marshalled itself, and an answer of 20 operations is most of what a
// simulated $batch costs.
func rawObject(m map[string]json.RawMessage) []byte {
	keys := slices.Sorted(maps.Keys(m))
	n := 2
	for _, k := range keys {
		n += len(k) + len(m[k]) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, k)
		b = append(b, ':')
		if v := m[k]; len(v) > 0 {
			b = append(b, v...)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, '}')
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("graphtest: %v", err))
	}
	return b
}

// abort ends a request whose client went away, or whose tenant is
// closing, without an answer. Returning from the handler instead would
// send an empty 200, which a client cancelling just then can still read.
func abort() {
	panic(http.ErrAbortHandler)
}

// resetConn closes the request's connection without answering, with a
// TCP reset where it can.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
			_ = tcp.Close()
			return
		}
	}
	_ = conn.Close()
}

// batchVersion says whether path is a JSON batch endpoint, and its version.
func batchVersion(path string) (string, bool) {
	version, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return version, ok && rest == "$batch" && version != ""
}

// batchRequest is one request in a JSON batch.
type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// batchResponse is one answer in a JSON batch.
type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// serveBatch answers POST /{version}/$batch: each request in it (GETs
// only) is answered as a request of its own would be, faults included, in
// the order given.
func (t *Tenant) serveBatch(w http.ResponseWriter, r *http.Request, version string, tok *accessToken, id ids) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	var batch struct {
		Requests []batchRequest `json:"requests"`
	}
	if err != nil || json.Unmarshal(body, &batch) != nil {
		t.graphError(http.StatusBadRequest, "BadRequest",
			"Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.", id).write(w)
		return
	}
	switch n := len(batch.Requests); {
	case n == 0:
		t.graphError(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.", id).write(w)
		return
	case n > maxBatch:
		t.graphError(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("The number of requests in a batch, %d, exceeds the limit of %d.", n, maxBatch), id).write(w)
		return
	}
	seen := map[string]bool{}
	for _, br := range batch.Requests {
		if br.ID == "" || seen[br.ID] {
			t.graphError(http.StatusBadRequest, "BadRequest", "Every request in a batch needs an id, unique in the batch.", id).write(w)
			return
		}
		seen[br.ID] = true
	}
	responses := make([]batchResponse, 0, len(batch.Requests))
	for _, br := range batch.Requests {
		resp, abort := t.batchItem(w, r, version, br, tok, id)
		if abort {
			return
		}
		responses = append(responses, resp)
	}
	reply{status: http.StatusOK, header: map[string]string{"Content-Type": "application/json"}, body: batchAnswer(responses)}.write(w)
}

// batchAnswer is the body of a $batch's 200, {"responses": […]}, each
// inner body (valid JSON: toBatchResponse sees to it) written as it is
// rather than marshalled a second time.
func batchAnswer(responses []batchResponse) []byte {
	var b bytes.Buffer
	b.WriteString(`{"responses":[`)
	for i, r := range responses {
		if i > 0 {
			b.WriteByte(',')
		}
		body := r.Body
		r.Body = nil
		head := mustJSON(r)
		if len(body) == 0 {
			b.Write(head)
			continue
		}
		b.Write(head[:len(head)-1])
		b.WriteString(`,"body":`)
		b.Write(body)
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.Bytes()
}

// batchItem answers one request of a batch. abort says a Reset fault
// closed the connection, so the batch ends without an answer.
func (t *Tenant) batchItem(w http.ResponseWriter, r *http.Request, version string, br batchRequest, tok *accessToken, outer ids) (batchResponse, bool) {
	id := ids{requestID: newGUID(), clientRequestID: outer.clientRequestID}
	for k, v := range br.Headers {
		if strings.EqualFold(k, "client-request-id") && v != "" {
			id.clientRequestID = v
		}
	}
	raw := br.URL
	var rp reply
	if lower := strings.ToLower(raw); strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		rp = t.graphError(http.StatusBadRequest, "BadRequest", "Requests in a batch must use URLs relative to the version, such as /users/{id}.", id)
		return toBatchResponse(br.ID, rp), false
	}
	if !strings.HasPrefix(raw, "/") {
		raw = "/" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		rp = t.graphError(http.StatusBadRequest, "BadRequest", "Invalid request URL.", id)
		return toBatchResponse(br.ID, rp), false
	}
	path, query := canonicalPath("/"+version+u.EscapedPath()), u.Query()
	t.mu.Lock()
	t.perPath[path]++
	t.lastQuery[path] = query
	fault := t.takeFault(path, false)
	t.mu.Unlock()
	if fault != nil {
		if t.sleep(r, fault.Latency) != nil {
			abort()
		}
		if fault.Reset {
			// There is no resetting one answer of a batch: the whole
			// connection goes, as a failing front end would take it.
			resetConn(w)
			return batchResponse{}, true
		}
		if fault.Status != 0 {
			return toBatchResponse(br.ID, t.faultReply(*fault, id)), false
		}
	}
	if !strings.EqualFold(br.Method, http.MethodGet) {
		rp = t.graphError(http.StatusMethodNotAllowed, "BadRequest", "Specified HTTP method is not allowed for the request uri.", id)
		return toBatchResponse(br.ID, rp), false
	}
	if !authorized(path, tok) {
		// Each request of a batch is judged with the batch's one token.
		return toBatchResponse(br.ID, t.accessDenied(id)), false
	}
	return toBatchResponse(br.ID, t.get(path, query, id)), false
}

// toBatchResponse turns a reply into a batch answer. A body that is not
// JSON is sent as a JSON string.
func toBatchResponse(id string, rp reply) batchResponse {
	resp := batchResponse{ID: id, Status: rp.status, Headers: rp.header}
	switch {
	case len(rp.body) == 0:
	case rp.json || json.Valid(rp.body):
		resp.Body = rp.body
	default:
		resp.Body = mustJSON(string(rp.body))
	}
	return resp
}
