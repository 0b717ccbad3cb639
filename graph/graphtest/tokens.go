package graphtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Token kinds, the idtyp claim: an app-only token or one for a signed-in
// user (delegated).
const (
	kindApp  = "app"
	kindUser = "user"
)

// defaultAppRoles are the application permissions an app-only token
// carries until SetApplicationPermissions. UserAuthenticationMethod.Read.All
// is among them on purpose: Graph refuses app-only tokens on password-reset
// operations even with it, which is the mistake these tokens must show.
var defaultAppRoles = []string{
	"RoleManagementAlert.Read.Directory",
	"IndustryData.ReadBasic.All",
	"Sites.Read.All",
	"UserAuthenticationMethod.Read.All",
}

// accessToken is what Graph knows of a token it accepts. Graph validates
// statefully, so the claims in the JWT are for clients to read; these
// fields are what Graph checks.
type accessToken struct {
	exp    time.Time // by the tenant's clock
	kind   string    // kindApp or kindUser
	roles  []string  // app-only: application permissions
	scopes []string  // delegated: the scp claim, short names
	user   User      // delegated: the user as signed in, roles as when issued
}

// SetApplicationPermissions sets the application permissions (app roles)
// admin-consented for the app, the roles claim of app-only tokens issued
// from now on. Graph does not check them, except that no application
// permission opens password-reset operations.
func (t *Tenant) SetApplicationPermissions(roles ...string) {
	t.mu.Lock()
	t.appRoles = slices.Clone(roles)
	t.mu.Unlock()
}

// TokenRequestsByGrant returns how many token requests of one grant type
// arrived, whatever their outcome: GrantClientCredentials, GrantDeviceCode
// (device code polls, either name of the grant), GrantAuthorizationCode,
// GrantRefreshToken, or GrantManagedIdentity for /msi/token. The device
// code endpoint's own requests are not token requests.
func (t *Tenant) TokenRequestsByGrant(grant string) int {
	if grant == deviceCodeURN {
		grant = GrantDeviceCode
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.grantRequests[grant]
}

// issueApp makes an app-only access token for appID (the application, or
// a user-assigned managed identity), valid for Graph until the tenant's
// clock passes now + the token lifetime. acr is the appidacr claim.
func (t *Tenant) issueApp(appID, acr string) (string, time.Duration) {
	t.mu.Lock()
	roles := slices.Clone(t.appRoles)
	t.mu.Unlock()
	return t.issue(&accessToken{kind: kindApp, roles: roles}, appID, acr)
}

// issueUser makes a delegated access token for u with the delegated
// permissions scopes, issued to the public client.
func (t *Tenant) issueUser(u User, scopes []string) (string, time.Duration) {
	u.Roles = slices.Clone(u.Roles)
	return t.issue(&accessToken{kind: kindUser, scopes: slices.Clone(scopes), user: u}, t.clientID, "0")
}

// issue records at and returns it as a JWT with its claims.
func (t *Tenant) issue(at *accessToken, appID, acr string) (string, time.Duration) {
	now := t.clock()
	t.mu.Lock()
	lifetime := t.tokenLifetime
	t.mu.Unlock()
	at.exp = now.Add(lifetime)
	claims := map[string]any{
		"aud":      t.graphEndpoint,
		"iss":      t.authorityHost + "/" + t.tenantID + "/",
		"iat":      now.Unix(),
		"nbf":      now.Unix(),
		"exp":      at.exp.Unix(),
		"tid":      t.tenantID,
		"appid":    appID,
		"appidacr": acr,
		"idtyp":    at.kind,
		"ver":      "1.0",
		"uti":      randString(keyAlphabet, 22),
	}
	if at.kind == kindApp {
		claims["oid"] = t.spID
		claims["sub"] = t.spID
		claims["roles"] = at.roles
	} else {
		claims["oid"] = at.user.ID
		claims["sub"] = at.user.ID
		claims["upn"] = at.user.UPN
		claims["unique_name"] = at.user.UPN
		claims["name"] = displayName(at.user.UPN)
		claims["scp"] = strings.Join(at.scopes, " ")
		claims["wids"] = append([]string{roleUser}, at.user.Roles...)
		claims["amr"] = []string{"pwd", "mfa"}
	}
	token := makeJWT(claims)

	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.tokens) >= 1024 {
		for k, old := range t.tokens {
			if !now.Before(old.exp) {
				delete(t.tokens, k)
			}
		}
	}
	t.tokens[token] = at
	t.tokensIssued++
	return token, lifetime
}

// makeJWT returns claims as an RS256-looking JWT with a random signature:
// no client may trust the simulated tenant's signatures, and Graph here
// validates its tokens by looking them up.
func makeJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding
	payload, err := json.Marshal(claims)
	if err != nil {
		panic("graphtest: " + err.Error())
	}
	sig := make([]byte, 256)
	_, _ = rand.Read(sig)
	return enc.EncodeToString([]byte(`{"typ":"JWT","alg":"RS256"}`)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig)
}

// displayName is the name claim of a user: the UPN's local part.
func displayName(upn string) string {
	name, _, _ := strings.Cut(upn, "@")
	return name
}
