package graphtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Directory role template ids, the wids claim of a delegated token. Graph
// lets a signed-in user read another user's password-reset operation only
// with one of these roles.
const (
	// RoleGlobalReader is the Global Reader role.
	RoleGlobalReader = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
	// RoleAuthenticationAdministrator is the Authentication Administrator role.
	RoleAuthenticationAdministrator = "c4e39bd9-1100-46d3-8c65-fb160da0071f"
	// RolePrivilegedAuthenticationAdministrator is the Privileged
	// Authentication Administrator role.
	RolePrivilegedAuthenticationAdministrator = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
	// roleUser is the role every member user holds; Entra ID lists it in
	// wids too, so a user with no other role still has the claim.
	roleUser = "b79fbf4d-3ef9-4689-8143-76b194e85509"
)

// Lifetimes Entra ID gives what it issues for a sign-in.
const (
	authCodeLifetime     = 10 * time.Minute
	refreshTokenLifetime = 90 * 24 * time.Hour // inactivity, for a public client
)

// User is a user of the tenant's directory, who can sign in to the public
// client by device code or in the (simulated) browser.
type User struct {
	// ID is the user's object id, a GUID: the oid claim.
	ID string
	// UPN is the user principal name, such as "alice@contoso.com".
	UPN string
	// Roles are the directory role template ids assigned to the user
	// (RoleGlobalReader …): the wids claim.
	Roles []string
}

// AddUser adds a user to the directory with the directory roles given
// (template ids such as RoleGlobalReader) and returns it. Adding a UPN
// again replaces its roles and keeps its ID; tokens already issued keep
// the roles they were issued with, refreshed ones get the new ones.
func (t *Tenant) AddUser(upn string, roles ...string) User {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := strings.ToLower(upn)
	u, ok := t.users[key]
	if !ok {
		u = &User{ID: newGUID(), UPN: upn}
		t.users[key] = u
	}
	u.Roles = slices.Clone(roles)
	return cloneUser(u)
}

func cloneUser(u *User) User {
	c := *u
	c.Roles = slices.Clone(u.Roles)
	return c
}

// user returns the user with that UPN, ignoring case. t.mu is held.
func (t *Tenant) user(upn string) (User, bool) {
	u, ok := t.users[strings.ToLower(upn)]
	if !ok {
		return User{}, false
	}
	return cloneUser(u), true
}

// SetDelegatedPermissions sets the delegated permissions admin-consented
// for the app (default just UserAuthenticationMethod.Read.All), short names
// such as "UserAuthenticationMethod.Read". A request for GraphEndpoint +
// "/.default" is granted all of them; a request for one not among them is
// refused with AADSTS65001. Tokens already issued keep their scp.
func (t *Tenant) SetDelegatedPermissions(scopes ...string) {
	t.mu.Lock()
	t.delegatedPerms = slices.Clone(scopes)
	t.mu.Unlock()
}

// SetPublicClientFlows sets Entra ID's "Allow public client flows" for the
// app (default on). Off, the app is a confidential client only: a device
// code poll or a refresh token request without a client secret or
// assertion is refused with 401 invalid_client AADSTS7000218, as Entra ID
// refuses it. The authorization code grant from a loopback redirect URI
// (the "mobile and desktop" platform) is not affected.
func (t *Tenant) SetPublicClientFlows(on bool) {
	t.mu.Lock()
	t.publicFlows = on
	t.mu.Unlock()
}

// SetBrowserUser sets the user signed in to the simulated browser ("" for
// none, the default). With one, the authorize endpoint signs them in at
// once and sends the code to the redirect URI (a 302, or for
// response_mode=form_post a page posting it; see OpenURL); with none, or
// with a UPN the directory does not hold, it answers a sign-in page that
// goes nowhere, as a browser nobody uses does (prompt=none gets
// login_required instead).
func (t *Tenant) SetBrowserUser(upn string) {
	t.mu.Lock()
	t.browserUser = upn
	t.mu.Unlock()
}

// RevokeSignIns revokes the user's sign-in sessions, as revokeSignInSessions
// or a password reset does: every refresh token issued to the user until
// now is refused with 400 invalid_grant AADSTS50173. Access tokens stay
// valid until they expire, as in Entra ID. A new interactive sign-in makes
// new refresh tokens that work.
func (t *Tenant) RevokeSignIns(upn string) {
	t.mu.Lock()
	t.epoch++
	t.revokedAt[strings.ToLower(upn)] = t.epoch
	t.mu.Unlock()
}

// RequireInteraction makes a policy (such as multi-factor authentication)
// apply to the user: every refresh token issued to the user until now is
// refused with 400 interaction_required AADSTS50076, until the user signs
// in interactively again.
func (t *Tenant) RequireInteraction(upn string) {
	t.mu.Lock()
	t.epoch++
	t.interactionAt[strings.ToLower(upn)] = t.epoch
	t.mu.Unlock()
}

// LatestRefreshToken returns the refresh token most recently issued to the
// user ("" if none), so that a test can find it in a token cache.
func (t *Tenant) LatestRefreshToken(upn string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.latestRefresh[strings.ToLower(upn)]
}

// SetDeviceCodeLifetime sets the lifetime of device codes issued from now
// on (default 15 minutes), the expires_in of the device code answer. A code
// expires by the tenant's clock; MSAL stops polling by the real clock.
func (t *Tenant) SetDeviceCodeLifetime(d time.Duration) {
	t.mu.Lock()
	t.deviceCodeLife = max(d, 0)
	t.mu.Unlock()
}

// SlowDown makes the next n device code polls answer 400 slow_down, which
// MSAL takes as "keep polling".
func (t *Tenant) SlowDown(n int) {
	t.mu.Lock()
	t.slowDown = max(n, 0)
	t.mu.Unlock()
}

// Device code states.
const (
	dcPending = iota
	dcApproved
	dcDeclined
	dcRedeemed
)

// deviceCode is a device code the device code endpoint issued.
type deviceCode struct {
	seq      int
	userCode string
	scope    string    // as requested from the device code endpoint
	expires  time.Time // by the tenant's clock
	state    int
	user     User  // who approved it
	session  int64 // the epoch of the approval, a sign-in
}

// errNoCode and errNoUser are the errors of ApproveDeviceCode.
var (
	errNoCode = errors.New("graphtest: no pending device code with that user code")
	errNoUser = errors.New("graphtest: no such user in the directory")
)

// ApproveDeviceCode plays the user who opens the verification page, enters
// userCode and signs in as upn: the next poll for that code gets the
// user's tokens. It fails if no unexpired code with that user code
// (ignoring case) waits for approval, or if the directory has no such user.
func (t *Tenant) ApproveDeviceCode(userCode, upn string) error {
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	dc := t.pendingCode(userCode, now)
	if dc == nil {
		return fmt.Errorf("%w %q", errNoCode, userCode)
	}
	u, ok := t.user(upn)
	if !ok {
		return fmt.Errorf("%w: %q", errNoUser, upn)
	}
	t.epoch++
	dc.state, dc.user, dc.session = dcApproved, u, t.epoch
	return nil
}

// ApproveDeviceCodesAs plays a user who approves, as upn, every device code
// the tenant hands out until stop is called: for tests and the demo that
// need a signed-in account and are not about the sign-in.
func (t *Tenant) ApproveDeviceCodesAs(upn string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.closed:
				return
			case <-tick.C:
				for _, code := range t.PendingDeviceCodes() {
					_ = t.ApproveDeviceCode(code, upn)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// DeclineDeviceCode plays the user who enters userCode and then declines
// the sign-in: polls for that code answer authorization_declined. It fails
// if no unexpired code with that user code waits for approval.
func (t *Tenant) DeclineDeviceCode(userCode string) error {
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	dc := t.pendingCode(userCode, now)
	if dc == nil {
		return fmt.Errorf("%w %q", errNoCode, userCode)
	}
	dc.state = dcDeclined
	return nil
}

// PendingDeviceCodes returns the user codes of the device codes that wait
// for a user and have not expired, oldest first: what a test playing the
// user reads instead of the message MSAL shows.
func (t *Tenant) PendingDeviceCodes() []string {
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	var pending []*deviceCode
	for _, dc := range t.deviceCodes {
		if dc.state == dcPending && now.Before(dc.expires) {
			pending = append(pending, dc)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].seq < pending[j].seq })
	codes := make([]string, len(pending))
	for i, dc := range pending {
		codes[i] = dc.userCode
	}
	return codes
}

// pendingCode finds the pending, unexpired device code of a user code.
// t.mu is held.
func (t *Tenant) pendingCode(userCode string, now time.Time) *deviceCode {
	for _, dc := range t.deviceCodes {
		if strings.EqualFold(dc.userCode, userCode) && dc.state == dcPending && now.Before(dc.expires) {
			return dc
		}
	}
	return nil
}

// userCodeAlphabet is what Entra ID's user codes are made of.
const userCodeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// serveDeviceCode is the device authorization endpoint,
// POST /{tenant}/oauth2/v2.0/devicecode.
func (t *Tenant) serveDeviceCode(w http.ResponseWriter, r *http.Request, tenant string) {
	if !t.postToTenant(w, r, tenant) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
		return
	}
	f := r.PostForm
	if !t.checkClientID(w, r, f.Get("client_id")) {
		return
	}
	scope := f.Get("scope")
	if scope == "" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if _, se := t.delegatedScopes(scope, false); se != nil {
		t.scopeError(w, r, se)
		return
	}
	now := t.clock()
	t.mu.Lock()
	life := t.deviceCodeLife
	t.deviceCodeSeq++
	code := "DAQABAAEAAAAm" + randString(keyAlphabet, 120)
	dc := &deviceCode{seq: t.deviceCodeSeq, userCode: randString(userCodeAlphabet, 9), scope: scope, expires: now.Add(life)}
	if len(t.deviceCodes) >= 1024 {
		for k, old := range t.deviceCodes {
			if !now.Before(old.expires) {
				delete(t.deviceCodes, k)
			}
		}
	}
	t.deviceCodes[code] = dc
	t.mu.Unlock()
	verification := t.authorityHost + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"user_code":        dc.userCode,
		"device_code":      code,
		"verification_uri": verification,
		"expires_in":       int64((life + time.Second - 1) / time.Second),
		"interval":         5,
		"message": fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.",
			verification, dc.userCode),
	})
}

// serveDeviceLogin is the verification page a device code's message
// names. The simulated user enters codes through ApproveDeviceCode.
func (t *Tenant) serveDeviceLogin(w http.ResponseWriter, _ *http.Request) {
	writeHTML(w, http.StatusOK, "Enter code",
		"<p>Enter the code displayed on your app or device.</p><form><input name=\"otc\" placeholder=\"Code\"><button>Next</button></form>")
}

// redeemDeviceCode is the device code grant, polled by the public client.
func (t *Tenant) redeemDeviceCode(w http.ResponseWriter, r *http.Request, tenant string, f url.Values) {
	if !t.checkPublicClient(w, r, tenant, f, true) {
		return
	}
	code := f.Get("device_code")
	if code == "" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'device_code'.")
		return
	}
	now := t.clock()
	t.mu.Lock()
	dc, ok := t.deviceCodes[code]
	slow := false
	if ok && t.slowDown > 0 {
		t.slowDown--
		slow = true
	}
	var state int
	var scope string
	var u User
	var session int64
	if ok {
		state, scope, u, session = dc.state, dc.scope, dc.user, dc.session
		if state != dcRedeemed && !now.Before(dc.expires) {
			state = -1 // expired
		}
	}
	t.mu.Unlock()
	switch {
	case !ok:
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed. The device code is unknown.")
		return
	case slow:
		t.aadError(w, r, http.StatusBadRequest, "slow_down", 0, "The client is polling too quickly and should back off.")
		return
	case state == -1:
		t.aadError(w, r, http.StatusBadRequest, "expired_token", 70020,
			"The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
		return
	case state == dcPending:
		t.aadError(w, r, http.StatusBadRequest, "authorization_pending", 70016,
			"OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
		return
	case state == dcDeclined:
		t.aadError(w, r, http.StatusBadRequest, "authorization_declined", 70000,
			"The end user declined the authorization request.")
		return
	case state == dcRedeemed:
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed. The device code was already redeemed.")
		return
	}
	// The grant is for what the user approved: the scope asked of the
	// device code endpoint.
	granted, se := t.delegatedScopes(scope, true)
	if se != nil {
		t.scopeError(w, r, se)
		return
	}
	t.mu.Lock()
	if dc.state != dcApproved {
		// Another poll redeemed it meanwhile.
		t.mu.Unlock()
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed. The device code was already redeemed.")
		return
	}
	dc.state = dcRedeemed
	t.mu.Unlock()
	t.answerUser(w, f, u, granted, session)
}

// checkPublicClient checks the client of a public client grant: the
// tenant's application, with no credential or a valid one. Without a
// credential, needsPublicFlows grants (device code, refresh token) are
// refused unless "Allow public client flows" is on.
func (t *Tenant) checkPublicClient(w http.ResponseWriter, r *http.Request, tenant string, f url.Values, needsPublicFlows bool) bool {
	if !t.checkClientID(w, r, f.Get("client_id")) {
		return false
	}
	t.mu.Lock()
	public := t.publicFlows
	t.mu.Unlock()
	_, ok := t.clientCredential(w, r, tenant, f, needsPublicFlows && !public)
	return ok
}

// scopeErr is why a delegated scope parameter is refused.
type scopeErr struct {
	status  int
	code    string
	num     int
	desc    string
	consent bool // consent_required, with its suberror
}

// scopeError writes a scopeErr.
func (t *Tenant) scopeError(w http.ResponseWriter, r *http.Request, se *scopeErr) {
	var extra map[string]any
	if se.consent {
		extra = map[string]any{"suberror": "consent_required"}
	}
	t.aadErrorWith(w, r, se.status, se.code, se.num, se.desc, extra)
}

// grantedScopes is what a delegated request is granted.
type grantedScopes struct {
	perms      []string // the delegated permissions, short names: scp
	answer     string   // the scope of the token answer, fully qualified
	openID     bool     // openid asked: an id_token comes
	offline    bool     // offline_access asked: a refresh token comes
	hasDefault bool
}

// delegatedScopes resolves the scope parameter of a delegated request.
// The resource scopes must be Graph's, fully qualified: GraphEndpoint +
// "/.default" grants every consented delegated permission, GraphEndpoint +
// "/" + a permission grants the consented ones if it is consented itself.
// consent says whether to check consent (at the token step, where Entra
// ID refuses it) or only the form of the scopes.
func (t *Tenant) delegatedScopes(scope string, consent bool) (grantedScopes, *scopeErr) {
	var g grantedScopes
	invalid := func(desc string) (grantedScopes, *scopeErr) {
		return grantedScopes{}, &scopeErr{status: http.StatusBadRequest, code: "invalid_scope", num: 70011, desc: desc}
	}
	prefix := strings.ToLower(t.graphEndpoint + "/")
	var asked []string
	for _, s := range strings.Fields(scope) {
		switch strings.ToLower(s) {
		case "openid":
			g.openID = true
			continue
		case "offline_access":
			g.offline = true
			continue
		case "profile", "email":
			continue
		}
		if !strings.HasPrefix(strings.ToLower(s), prefix) {
			return invalid(fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope '%s' is not valid: the simulated tenant grants scopes of %s only, fully qualified, such as %s/.default.",
				s, t.graphEndpoint, t.graphEndpoint))
		}
		name := s[len(prefix):]
		if strings.EqualFold(name, ".default") {
			g.hasDefault = true
			continue
		}
		asked = append(asked, name)
	}
	if g.hasDefault && len(asked) > 0 {
		return invalid(fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope '%s' combines /.default with other scopes of the same resource.", scope))
	}
	if !g.hasDefault && len(asked) == 0 {
		return invalid(fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope '%s' names no scope of %s.", scope, t.graphEndpoint))
	}
	t.mu.Lock()
	consented := slices.Clone(t.delegatedPerms)
	t.mu.Unlock()
	if consent {
		missing := len(consented) == 0
		for _, a := range asked {
			if !slices.ContainsFunc(consented, func(c string) bool { return strings.EqualFold(c, a) }) {
				missing = true
			}
		}
		if missing {
			return grantedScopes{}, &scopeErr{status: http.StatusBadRequest, code: "invalid_grant", num: 65001, consent: true, desc: fmt.Sprintf(
				"The user or administrator has not consented to use the application with ID '%s' named 'graphtest'. Send an interactive authorization request for this user and resource.", t.clientID)}
		}
	}
	g.perms = consented
	var answer []string
	for _, p := range consented {
		answer = append(answer, t.graphEndpoint+"/"+p)
	}
	if g.hasDefault {
		answer = append(answer, t.graphEndpoint+"/.default")
	}
	g.answer = strings.Join(answer, " ")
	return g, nil
}

// refreshTokenInfo is what the tenant knows of a refresh token it issued.
type refreshTokenInfo struct {
	clientID string
	upn      string    // the user's, as in the directory
	session  int64     // the epoch of the interactive sign-in it descends from
	issued   time.Time // by the tenant's clock
}

// answerUser writes a delegated token answer for u: access token, and as
// the request's scopes ask, refresh token and id token. session is the
// epoch of the interactive sign-in the grant comes from.
func (t *Tenant) answerUser(w http.ResponseWriter, f url.Values, u User, g grantedScopes, session int64) {
	token, lifetime := t.issueUser(u, g.perms)
	secs := int64(lifetime / time.Second)
	now := t.clock()
	body := map[string]any{
		"token_type":     "Bearer",
		"scope":          g.answer,
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   token,
	}
	if g.offline {
		rt := "1.AQ" + randString(keyAlphabet, 300)
		key := strings.ToLower(u.UPN)
		t.mu.Lock()
		t.refreshTokens[rt] = &refreshTokenInfo{clientID: t.clientID, upn: u.UPN, session: session, issued: now}
		t.latestRefresh[key] = rt
		t.mu.Unlock()
		body["refresh_token"] = rt
	}
	if g.openID {
		body["id_token"] = makeJWT(map[string]any{
			"aud":                t.clientID,
			"iss":                t.authorityHost + "/" + t.tenantID + "/v2.0",
			"iat":                now.Unix(),
			"nbf":                now.Unix(),
			"exp":                now.Add(time.Hour).Unix(),
			"tid":                t.tenantID,
			"oid":                u.ID,
			"sub":                u.ID,
			"preferred_username": u.UPN,
			"name":               displayName(u.UPN),
			"ver":                "2.0",
		})
	}
	if f.Get("client_info") == "1" {
		ci := mustJSON(map[string]string{"uid": u.ID, "utid": t.tenantID})
		body["client_info"] = base64.RawURLEncoding.EncodeToString(ci)
	}
	writeJSON(w, http.StatusOK, body)
}

// redeemRefreshToken is the refresh token grant of the public client.
// Each answer carries a new refresh token; the old one stays valid, as in
// Entra ID, until RevokeSignIns, RequireInteraction or 90 days unused.
func (t *Tenant) redeemRefreshToken(w http.ResponseWriter, r *http.Request, tenant string, f url.Values) {
	if !t.checkPublicClient(w, r, tenant, f, true) {
		return
	}
	rt := f.Get("refresh_token")
	if rt == "" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
		return
	}
	now := t.clock()
	t.mu.Lock()
	info, ok := t.refreshTokens[rt]
	var u User
	var known, revoked, interaction bool
	if ok {
		key := strings.ToLower(info.upn)
		u, known = t.user(info.upn)
		revoked = info.session < t.revokedAt[key]
		interaction = info.session < t.interactionAt[key]
	}
	t.mu.Unlock()
	switch {
	case !ok:
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
		return
	case !strings.EqualFold(info.clientID, f.Get("client_id")):
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed. The refresh token was issued to a different client.")
		return
	case !now.Before(info.issued.Add(refreshTokenLifetime)):
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 700082, fmt.Sprintf(
			"The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.", info.issued.UTC().Format(time.RFC3339)))
		return
	case !known:
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 50034, "The user account does not exist in the directory.")
		return
	case revoked:
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 50173,
			"The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
		return
	case interaction:
		t.aadErrorWith(w, r, http.StatusBadRequest, "interaction_required", 50076, fmt.Sprintf(
			"Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", t.graphEndpoint), nil)
		return
	}
	scope := f.Get("scope")
	if scope == "" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	granted, se := t.delegatedScopes(scope, true)
	if se != nil {
		t.scopeError(w, r, se)
		return
	}
	t.answerUser(w, f, u, granted, info.session)
}

// authCode is an authorization code the authorize endpoint issued.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string // S256; "" if none was sent
	scope       string
	user        User
	session     int64
	expires     time.Time // by the tenant's clock
	redeemed    bool
}

// loopbackRedirect says whether a redirect URI is one Entra ID accepts for
// a public client registered with http://localhost: http, host localhost
// or 127.0.0.1, any port, no path, query or fragment.
func loopbackRedirect(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
		return false
	}
	return u.Path == "" || u.Path == "/"
}

// serveAuthorize is the authorization endpoint, where the public client
// sends the browser. Errors before the redirect URI is trusted are pages;
// later ones go to the redirect URI, as Entra ID sends them.
func (t *Tenant) serveAuthorize(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		t.aadError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The authorize endpoint takes GET or POST.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		t.errorPage(w, http.StatusBadRequest, 900144, "The request is malformed.")
		return
	}
	q := r.Form
	if !strings.EqualFold(tenant, t.tenantID) {
		t.errorPage(w, http.StatusBadRequest, 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	clientID := q.Get("client_id")
	switch {
	case clientID == "":
		t.errorPage(w, http.StatusBadRequest, 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	case !strings.EqualFold(clientID, t.clientID):
		t.errorPage(w, http.StatusBadRequest, 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'.", clientID, t.tenantID))
		return
	}
	redirect := q.Get("redirect_uri")
	if !loopbackRedirect(redirect) {
		t.errorPage(w, http.StatusBadRequest, 50011, fmt.Sprintf(
			"The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.",
			redirect, t.clientID))
		return
	}
	mode := q.Get("response_mode")
	switch mode {
	case "", "query", "fragment", "form_post":
	default:
		t.errorPage(w, http.StatusBadRequest, 900144, fmt.Sprintf("The response_mode '%s' is not supported.", mode))
		return
	}
	state := q.Get("state")
	fail := func(code string, num int, desc string) {
		t.sendToRedirect(w, redirect, mode, url.Values{
			"error":             {code},
			"error_description": {fmt.Sprintf("AADSTS%d: %s", num, desc)},
		}, state)
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", 700054, fmt.Sprintf("response_type '%s' is not enabled for the application.", rt))
		return
	}
	scope := q.Get("scope")
	if scope == "" {
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if _, se := t.delegatedScopes(scope, false); se != nil {
		fail(se.code, se.num, se.desc)
		return
	}
	challenge := q.Get("code_challenge")
	if challenge != "" {
		if m := q.Get("code_challenge_method"); m != "S256" {
			fail("invalid_request", 501491, fmt.Sprintf("The code_challenge_method '%s' is not supported; the simulated tenant accepts S256.", m))
			return
		}
		if len(challenge) != 43 {
			fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
			return
		}
	}
	now := t.clock()
	t.mu.Lock()
	u, signedIn := t.user(t.browserUser)
	t.mu.Unlock()
	if !signedIn {
		if q.Get("prompt") == "none" {
			fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
			return
		}
		writeHTML(w, http.StatusOK, "Sign in to your account",
			`<form method="post"><input type="email" name="loginfmt" placeholder="Email, phone, or Skype"><button>Next</button></form>`)
		return
	}
	code := "1.AQ" + randString(keyAlphabet, 200)
	t.mu.Lock()
	t.epoch++
	if len(t.authCodes) >= 1024 {
		for k, old := range t.authCodes {
			if !now.Before(old.expires) {
				delete(t.authCodes, k)
			}
		}
	}
	t.authCodes[code] = &authCode{clientID: t.clientID, redirectURI: redirect, challenge: challenge,
		scope: scope, user: u, session: t.epoch, expires: now.Add(authCodeLifetime)}
	t.mu.Unlock()
	t.sendToRedirect(w, redirect, mode, url.Values{"code": {code}}, state)
}

// sendToRedirect sends values (and state) to the redirect URI by the
// response mode: a 302 with them in the query (the default for a code) or
// the fragment, or a page that posts them (form_post, which MSAL asks for
// and whose local server accepts nothing else).
func (t *Tenant) sendToRedirect(w http.ResponseWriter, redirect, mode string, v url.Values, state string) {
	if state != "" {
		v.Set("state", state)
	}
	switch mode {
	case "form_post":
		var b strings.Builder
		fmt.Fprintf(&b, `<form method="POST" name="hiddenform" action="%s">`, html.EscapeString(redirect))
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s" />`, html.EscapeString(k), html.EscapeString(v.Get(k)))
		}
		b.WriteString(`<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit" /></noscript></form>`)
		b.WriteString(`<script language="javascript">document.forms[0].submit();</script>`)
		writeHTML(w, http.StatusOK, "Working...", b.String())
	case "fragment":
		w.Header().Set("Location", redirect+"#"+v.Encode())
		w.WriteHeader(http.StatusFound)
	default:
		w.Header().Set("Location", redirect+"?"+v.Encode())
		w.WriteHeader(http.StatusFound)
	}
}

// errorPage is the page the authorize endpoint shows when it cannot send
// an error to the redirect URI.
func (t *Tenant) errorPage(w http.ResponseWriter, status, num int, desc string) {
	writeHTML(w, status, "Sign in to your account",
		fmt.Sprintf("<p>Sorry, but we're having trouble signing you in.</p><p>AADSTS%d: %s</p>", num, html.EscapeString(desc)))
}

// writeHTML writes a small HTML page.
func writeHTML(w http.ResponseWriter, status int, title, body string) {
	page := "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(title) +
		"</title></head><body>" + body + "</body></html>"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}

// redeemAuthCode is the authorization code grant of the public client,
// with PKCE: the code is single use, lives 10 minutes, and is bound to the
// client, the redirect URI and the S256 code challenge.
func (t *Tenant) redeemAuthCode(w http.ResponseWriter, r *http.Request, tenant string, f url.Values) {
	if !t.checkPublicClient(w, r, tenant, f, false) {
		return
	}
	for _, p := range []string{"code", "redirect_uri"} {
		if f.Get(p) == "" {
			t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", p))
			return
		}
	}
	now := t.clock()
	t.mu.Lock()
	ac, ok := t.authCodes[f.Get("code")]
	var c authCode
	if ok {
		c = *ac
	}
	t.mu.Unlock()
	switch {
	case !ok:
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid. The authorization code is unknown.")
		return
	case c.redeemed:
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 54005,
			"OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
		return
	case !now.Before(c.expires):
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 70008,
			"The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
		return
	case !strings.EqualFold(c.clientID, f.Get("client_id")):
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed. The code was issued to a different client.")
		return
	case c.redirectURI != f.Get("redirect_uri"):
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 70000, fmt.Sprintf(
			"Provided grant is invalid or malformed. The redirect_uri '%s' is not the one of the authorization request.", f.Get("redirect_uri")))
		return
	case c.challenge == "":
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 9002325,
			"Proof Key for Code Exchange is required for cross-origin authorization code redemption.")
		return
	}
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if f.Get("code_verifier") == "" || subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 501481,
			"The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		return
	}
	granted, se := t.delegatedScopes(c.scope, true)
	if se != nil {
		t.scopeError(w, r, se)
		return
	}
	t.mu.Lock()
	if ac.redeemed {
		t.mu.Unlock()
		t.aadError(w, r, http.StatusBadRequest, "invalid_grant", 54005,
			"OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
		return
	}
	ac.redeemed = true
	t.mu.Unlock()
	t.answerUser(w, f, c.user, granted, c.session)
}
