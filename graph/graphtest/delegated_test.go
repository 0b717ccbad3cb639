package graphtest_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// memCache is an in-memory MSAL cache accessor, standing in for the cache
// file the exporter's sign-in writes.
type memCache struct {
	mu   sync.Mutex
	data []byte
}

func (m *memCache) Replace(_ context.Context, c cache.Unmarshaler, _ cache.ReplaceHints) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.data) == 0 {
		return nil
	}
	return c.Unmarshal(m.data)
}

func (m *memCache) Export(_ context.Context, c cache.Marshaler, _ cache.ExportHints) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.data = b
	m.mu.Unlock()
	return nil
}

func (m *memCache) contains(s string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Contains(string(m.data), s)
}

// publicApp is the exporter's public client against tn.
func publicApp(t *testing.T, tn *graphtest.Tenant, acc cache.ExportReplace) public.Client {
	t.Helper()
	opts := []public.Option{
		public.WithAuthority(tn.AuthorityHost + "/" + tn.TenantID),
		public.WithHTTPClient(tn.HTTPClient()),
		public.WithInstanceDiscovery(false),
	}
	if acc != nil {
		opts = append(opts, public.WithCache(acc))
	}
	app, err := public.New(tn.ClientID, opts...)
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	return app
}

// deviceCodeSignIn signs upn in with MSAL's device code flow, the test
// approving the code before MSAL's first poll (50 ms).
func deviceCodeSignIn(t *testing.T, tn *graphtest.Tenant, app public.Client, upn string) public.AuthResult {
	t.Helper()
	dc, err := app.AcquireTokenByDeviceCode(t.Context(), []string{tn.GraphEndpoint + "/.default"})
	if err != nil {
		t.Fatalf("AcquireTokenByDeviceCode: %v", err)
	}
	if err := tn.ApproveDeviceCode(dc.Result.UserCode, upn); err != nil {
		t.Fatalf("ApproveDeviceCode: %v", err)
	}
	res, err := dc.AuthenticationResult(t.Context())
	if err != nil {
		t.Fatalf("AuthenticationResult: %v", err)
	}
	return res
}

// form posts form to the tenant's endpoint (a path under the authority)
// and returns the status and decoded JSON body.
func form(t *testing.T, tn *graphtest.Tenant, endpoint string, f url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := tn.HTTPClient().PostForm(tn.AuthorityHost+"/"+tn.TenantID+"/oauth2/v2.0/"+endpoint, f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s answered %d with a body that is not JSON: %v", endpoint, resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// startDeviceCode asks for a device code for Graph's .default scope.
func startDeviceCode(t *testing.T, tn *graphtest.Tenant, scope string) map[string]any {
	t.Helper()
	status, body := form(t, tn, "devicecode", url.Values{"client_id": {tn.ClientID}, "scope": {scope}})
	if status != http.StatusOK {
		t.Fatalf("devicecode: %d %v", status, body)
	}
	return body
}

// pollDeviceCode polls the token endpoint once for a device code.
func pollDeviceCode(t *testing.T, tn *graphtest.Tenant, deviceCode string, extra ...string) (int, map[string]any) {
	t.Helper()
	f := url.Values{"grant_type": {"device_code"}, "client_id": {tn.ClientID}, "device_code": {deviceCode},
		"client_info": {"1"}, "scope": {tn.GraphEndpoint + "/.default openid profile offline_access"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return form(t, tn, "token", f)
}

const defaultScopes = " openid profile offline_access"

// delegatedToken signs upn (added to the directory with roles) in by
// device code over plain HTTP, without MSAL's poll delays, and returns the
// access token.
func delegatedToken(t *testing.T, tn *graphtest.Tenant, upn string, roles ...string) string {
	t.Helper()
	tn.AddUser(upn, roles...)
	dc := startDeviceCode(t, tn, tn.GraphEndpoint+"/.default"+defaultScopes)
	if err := tn.ApproveDeviceCode(dc["user_code"].(string), upn); err != nil {
		t.Fatal(err)
	}
	status, body := pollDeviceCode(t, tn, dc["device_code"].(string))
	if status != http.StatusOK {
		t.Fatalf("device code grant: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// aadErr checks an identity platform error body: status, error, AADSTS number.
func aadErr(t *testing.T, status int, body map[string]any, wantStatus int, wantErr string, wantNum int) {
	t.Helper()
	desc, _ := body["error_description"].(string)
	prefix := "AADSTS" + strconv.Itoa(wantNum) + ":"
	if wantNum == 0 {
		prefix = ""
	}
	if status != wantStatus || body["error"] != wantErr || !strings.HasPrefix(desc, prefix) {
		t.Errorf("got %d %v, want %d %s %s", status, body, wantStatus, wantErr, prefix)
	}
	if wantNum != 0 && !reflect.DeepEqual(body["error_codes"], []any{float64(wantNum)}) {
		t.Errorf("error_codes %v, want [%d]", body["error_codes"], wantNum)
	}
}

// claims decodes a JWT's header and payload.
func claims(t *testing.T, jwt string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", jwt)
	}
	for i, m := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, m); err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || parts[2] == "" {
		t.Errorf("JWT signature %q is not base64url", parts[2])
	}
	return header, payload
}

func TestDeviceCodeMSAL(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetOperation(resetPath, passwordReset())
	admin := tn.AddUser("admin@contoso.com", graphtest.RoleGlobalReader)
	if !guid.MatchString(admin.ID) || admin.UPN != "admin@contoso.com" || !reflect.DeepEqual(admin.Roles, []string{graphtest.RoleGlobalReader}) {
		t.Errorf("AddUser = %+v", admin)
	}
	acc := &memCache{}
	app := publicApp(t, tn, acc)

	dc, err := app.AcquireTokenByDeviceCode(t.Context(), []string{tn.GraphEndpoint + "/.default"})
	if err != nil {
		t.Fatalf("AcquireTokenByDeviceCode: %v", err)
	}
	pending := tn.PendingDeviceCodes()
	if len(pending) != 1 || pending[0] != dc.Result.UserCode || !regexp.MustCompile(`^[A-Z2-7]{9}$`).MatchString(dc.Result.UserCode) {
		t.Fatalf("PendingDeviceCodes = %v, MSAL's user code %q", pending, dc.Result.UserCode)
	}
	wantMsg := "To sign in, use a web browser to open the page " + tn.AuthorityHost + "/devicelogin and enter the code " + dc.Result.UserCode + " to authenticate."
	if dc.Result.Message != wantMsg || dc.Result.VerificationURL != tn.AuthorityHost+"/devicelogin" || dc.Result.Interval != 5 {
		t.Errorf("device code result %+v", dc.Result)
	}
	if d := time.Until(dc.Result.ExpiresOn); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("device code expires in %v, want 15m", d)
	}
	if err := tn.ApproveDeviceCode(strings.ToLower(dc.Result.UserCode), "admin@contoso.com"); err != nil {
		t.Fatalf("ApproveDeviceCode (user codes ignore case): %v", err)
	}
	res, err := dc.AuthenticationResult(t.Context())
	if err != nil {
		t.Fatalf("AuthenticationResult: %v", err)
	}
	if res.Account.PreferredUsername != "admin@contoso.com" || res.Account.HomeAccountID != admin.ID+"."+tn.TenantID {
		t.Errorf("account %+v", res.Account)
	}
	accounts, err := app.Accounts(t.Context())
	if err != nil || len(accounts) != 1 || accounts[0].PreferredUsername != "admin@contoso.com" {
		t.Errorf("Accounts() = %v, %v", accounts, err)
	}
	if n := tn.TokenRequestsByGrant(graphtest.GrantDeviceCode); n != 1 {
		t.Errorf("device code polls = %d, want 1 (approved before the first)", n)
	}
	if got := tn.PendingDeviceCodes(); len(got) != 0 {
		t.Errorf("PendingDeviceCodes after sign-in = %v", got)
	}
	if rt := tn.LatestRefreshToken("ADMIN@contoso.com"); rt == "" || !acc.contains(rt) {
		t.Errorf("the refresh token %q is not in the exported cache", rt)
	}
	if r := get(t, tn, res.AccessToken, resetPath); r.StatusCode != http.StatusOK {
		t.Errorf("Global Reader with UserAuthenticationMethod.Read.All: %d %s", r.StatusCode, r.body)
	}

	// The code is spent.
	status, body := pollDeviceCode(t, tn, dc.Result.DeviceCode)
	aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 70000)

	// A silent call is served from the cache: the token lives an hour.
	again, err := app.AcquireTokenSilent(t.Context(), []string{tn.GraphEndpoint + "/.default"}, public.WithSilentAccount(accounts[0]))
	if err != nil || again.AccessToken != res.AccessToken || again.Metadata.TokenSource != public.TokenSourceCache {
		t.Errorf("AcquireTokenSilent: %v, source %v", err, again.Metadata.TokenSource)
	}
}

func TestDeviceCodeDeclinedAndExpired(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.AddUser("alice@contoso.com")
	app := publicApp(t, tn, nil)

	t.Run("declined", func(t *testing.T) {
		dc, err := app.AcquireTokenByDeviceCode(t.Context(), []string{tn.GraphEndpoint + "/.default"})
		if err != nil {
			t.Fatal(err)
		}
		if err := tn.DeclineDeviceCode(dc.Result.UserCode); err != nil {
			t.Fatal(err)
		}
		_, err = dc.AuthenticationResult(t.Context())
		if err == nil || !strings.Contains(err.Error(), `"error":"authorization_declined"`) || !strings.Contains(err.Error(), "AADSTS70000") {
			t.Errorf("got %v, want authorization_declined AADSTS70000", err)
		}
		if err := tn.ApproveDeviceCode(dc.Result.UserCode, "alice@contoso.com"); err == nil {
			t.Error("a declined code was approved")
		}
	})
	t.Run("expired", func(t *testing.T) {
		dc, err := app.AcquireTokenByDeviceCode(t.Context(), []string{tn.GraphEndpoint + "/.default"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		tn.SetClock(func() time.Time { return start.Add(15*time.Minute + time.Second) })
		defer tn.SetClock(nil)
		if got := tn.PendingDeviceCodes(); len(got) != 0 {
			t.Errorf("an expired code is pending: %v", got)
		}
		if err := tn.ApproveDeviceCode(dc.Result.UserCode, "alice@contoso.com"); err == nil {
			t.Error("an expired code was approved")
		}
		_, err = dc.AuthenticationResult(t.Context())
		if err == nil || !strings.Contains(err.Error(), `"error":"expired_token"`) || !strings.Contains(err.Error(), "AADSTS70020") {
			t.Errorf("got %v, want expired_token AADSTS70020", err)
		}
	})
	t.Run("approve errors", func(t *testing.T) {
		if err := tn.ApproveDeviceCode("NOSUCHCOD", "alice@contoso.com"); err == nil {
			t.Error("an unknown user code was approved")
		}
		if err := tn.DeclineDeviceCode("NOSUCHCOD"); err == nil {
			t.Error("an unknown user code was declined")
		}
		dc := startDeviceCode(t, tn, tn.GraphEndpoint+"/.default"+defaultScopes)
		if err := tn.ApproveDeviceCode(dc["user_code"].(string), "mallory@contoso.com"); err == nil {
			t.Error("a user not in the directory signed in")
		}
		if got := tn.PendingDeviceCodes(); !slices.Contains(got, dc["user_code"].(string)) {
			t.Errorf("a failed approval consumed the code: %v", got)
		}
	})
}

// TestDeviceCodeSlowDown: MSAL keeps polling through slow_down and
// authorization_pending. Polls come at 50 ms, 200 ms and 650 ms.
func TestDeviceCodeSlowDown(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.AddUser("alice@contoso.com")
	app := publicApp(t, tn, nil)
	tn.SlowDown(1)
	dc, err := app.AcquireTokenByDeviceCode(t.Context(), []string{tn.GraphEndpoint + "/.default"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := dc.AuthenticationResult(t.Context())
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for tn.TokenRequestsByGrant(graphtest.GrantDeviceCode) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// The second poll is counted before it is answered; let it be
	// answered (the third comes 450 ms later) before approving.
	time.Sleep(50 * time.Millisecond)
	if err := tn.ApproveDeviceCode(dc.Result.UserCode, "alice@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("AuthenticationResult: %v", err)
	}
	if n := tn.TokenRequestsByGrant(graphtest.GrantDeviceCode); n != 3 {
		t.Errorf("polls = %d, want 3: slow_down, authorization_pending, tokens", n)
	}
}

func TestDeviceCodeEndpoint(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.AddUser("alice@contoso.com")
	dc := startDeviceCode(t, tn, tn.GraphEndpoint+"/.default"+defaultScopes)
	if dc["expires_in"] != 900.0 || dc["interval"] != 5.0 || dc["verification_uri"] != tn.AuthorityHost+"/devicelogin" || len(dc["device_code"].(string)) < 40 {
		t.Errorf("device code answer %v", dc)
	}
	code := dc["device_code"].(string)

	// RFC 8628's grant name is the same grant.
	status, body := pollDeviceCode(t, tn, code, "grant_type", "urn:ietf:params:oauth:grant-type:device_code")
	aadErr(t, status, body, http.StatusBadRequest, "authorization_pending", 70016)
	tn.SlowDown(1)
	status, body = pollDeviceCode(t, tn, code)
	aadErr(t, status, body, http.StatusBadRequest, "slow_down", 0)
	if n := tn.TokenRequestsByGrant(graphtest.GrantDeviceCode); n != 2 || tn.TokenRequestsByGrant("urn:ietf:params:oauth:grant-type:device_code") != 2 {
		t.Errorf("TokenRequestsByGrant(device_code) = %d, want 2", n)
	}

	t.Run("public client flows off", func(t *testing.T) {
		tn.SetPublicClientFlows(false)
		defer tn.SetPublicClientFlows(true)
		status, body := pollDeviceCode(t, tn, code)
		aadErr(t, status, body, http.StatusUnauthorized, "invalid_client", 7000218)
		if desc := body["error_description"].(string); !strings.HasPrefix(desc, "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.") {
			t.Errorf("description %q", desc)
		}
		// A confidential client may still poll, with its secret.
		status, body = pollDeviceCode(t, tn, code, "client_secret", tn.ClientSecret)
		aadErr(t, status, body, http.StatusBadRequest, "authorization_pending", 70016)
		status, body = pollDeviceCode(t, tn, code, "client_secret", "wrong")
		aadErr(t, status, body, http.StatusUnauthorized, "invalid_client", 7000215)
	})
	t.Run("unknown client", func(t *testing.T) {
		status, body := form(t, tn, "devicecode", url.Values{"client_id": {"1d5c1b0e-8a15-4d39-9a43-4c1f3b9f0a01"}, "scope": {tn.GraphEndpoint + "/.default"}})
		aadErr(t, status, body, http.StatusBadRequest, "unauthorized_client", 700016)
		status, body = pollDeviceCode(t, tn, code, "client_id", "1d5c1b0e-8a15-4d39-9a43-4c1f3b9f0a01")
		aadErr(t, status, body, http.StatusBadRequest, "unauthorized_client", 700016)
	})
	t.Run("bad scopes", func(t *testing.T) {
		for _, scope := range []string{
			"https://graph.microsoft.com/.default",
			"UserAuthenticationMethod.Read.All",
			tn.GraphEndpoint + "/.default " + tn.GraphEndpoint + "/UserAuthenticationMethod.Read.All",
			"openid profile offline_access",
		} {
			status, body := form(t, tn, "devicecode", url.Values{"client_id": {tn.ClientID}, "scope": {scope}})
			aadErr(t, status, body, http.StatusBadRequest, "invalid_scope", 70011)
		}
	})
	t.Run("consent", func(t *testing.T) {
		tn.SetDelegatedPermissions("UserAuthenticationMethod.Read")
		defer tn.SetDelegatedPermissions("UserAuthenticationMethod.Read.All")
		dc := startDeviceCode(t, tn, tn.GraphEndpoint+"/UserAuthenticationMethod.Read.All"+defaultScopes)
		if err := tn.ApproveDeviceCode(dc["user_code"].(string), "alice@contoso.com"); err != nil {
			t.Fatal(err)
		}
		status, body := pollDeviceCode(t, tn, dc["device_code"].(string))
		aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 65001)
		if body["suberror"] != "consent_required" {
			t.Errorf("suberror %v, want consent_required", body["suberror"])
		}
		// A consented permission asked by name is granted, with the other consented ones.
		tn.SetDelegatedPermissions("UserAuthenticationMethod.Read", "User.Read")
		dc = startDeviceCode(t, tn, tn.GraphEndpoint+"/UserAuthenticationMethod.Read"+defaultScopes)
		if err := tn.ApproveDeviceCode(dc["user_code"].(string), "alice@contoso.com"); err != nil {
			t.Fatal(err)
		}
		status, body = pollDeviceCode(t, tn, dc["device_code"].(string))
		if want := tn.GraphEndpoint + "/UserAuthenticationMethod.Read " + tn.GraphEndpoint + "/User.Read"; status != 200 || body["scope"] != want {
			t.Errorf("got %d scope %v, want 200 %q", status, body["scope"], want)
		}
	})
	t.Run("unknown device code", func(t *testing.T) {
		status, body := pollDeviceCode(t, tn, "DAQABAAEAAAAmnotacode")
		aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 70000)
	})
	t.Run("lifetime", func(t *testing.T) {
		tn.SetDeviceCodeLifetime(90 * time.Second)
		defer tn.SetDeviceCodeLifetime(15 * time.Minute)
		if dc := startDeviceCode(t, tn, tn.GraphEndpoint+"/.default"); dc["expires_in"] != 90.0 {
			t.Errorf("expires_in %v, want 90", dc["expires_in"])
		}
	})
}

// TestTokenClaims reads the claims of app-only, delegated and id tokens.
func TestTokenClaims(t *testing.T) {
	tn := graphtest.NewTenant(t)
	header, app := claims(t, token(t, tn))
	if !reflect.DeepEqual(header, map[string]any{"typ": "JWT", "alg": "RS256"}) {
		t.Errorf("header %v", header)
	}
	for k, want := range map[string]any{"aud": tn.GraphEndpoint, "tid": tn.TenantID, "appid": tn.ClientID, "idtyp": "app", "appidacr": "1",
		"iss": tn.AuthorityHost + "/" + tn.TenantID + "/"} {
		if app[k] != want {
			t.Errorf("app-only %s = %v, want %v", k, app[k], want)
		}
	}
	if want := []any{"RoleManagementAlert.Read.Directory", "IndustryData.ReadBasic.All", "Sites.Read.All", "UserAuthenticationMethod.Read.All"}; !reflect.DeepEqual(app["roles"], want) {
		t.Errorf("roles %v, want %v", app["roles"], want)
	}
	if _, ok := app["scp"]; ok {
		t.Errorf("an app-only token has scp: %v", app)
	}
	if exp, iat := app["exp"].(float64), app["iat"].(float64); exp-iat != 3600 || app["nbf"] != app["iat"] {
		t.Errorf("iat %v nbf %v exp %v, want an hour", app["iat"], app["nbf"], exp)
	}
	tn.SetApplicationPermissions("Sites.Read.All")
	if _, app := claims(t, token(t, tn)); !reflect.DeepEqual(app["roles"], []any{"Sites.Read.All"}) {
		t.Errorf("roles after SetApplicationPermissions: %v", app["roles"])
	}

	alice := tn.AddUser("alice@contoso.com", graphtest.RoleAuthenticationAdministrator)
	dc := startDeviceCode(t, tn, tn.GraphEndpoint+"/.default"+defaultScopes)
	if err := tn.ApproveDeviceCode(dc["user_code"].(string), alice.UPN); err != nil {
		t.Fatal(err)
	}
	status, body := pollDeviceCode(t, tn, dc["device_code"].(string))
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	for _, k := range []string{"token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token", "id_token", "client_info"} {
		if _, ok := body[k]; !ok {
			t.Errorf("the delegated answer lacks %s: %v", k, body)
		}
	}
	if want := tn.GraphEndpoint + "/UserAuthenticationMethod.Read.All " + tn.GraphEndpoint + "/.default"; body["scope"] != want || body["token_type"] != "Bearer" {
		t.Errorf("scope %v, want %q", body["scope"], want)
	}
	_, user := claims(t, body["access_token"].(string))
	for k, want := range map[string]any{"aud": tn.GraphEndpoint, "tid": tn.TenantID, "appid": tn.ClientID, "idtyp": "user",
		"scp": "UserAuthenticationMethod.Read.All", "oid": alice.ID, "upn": "alice@contoso.com", "name": "alice"} {
		if user[k] != want {
			t.Errorf("delegated %s = %v, want %v", k, user[k], want)
		}
	}
	if !reflect.DeepEqual(user["wids"], []any{"b79fbf4d-3ef9-4689-8143-76b194e85509", graphtest.RoleAuthenticationAdministrator}) {
		t.Errorf("wids %v", user["wids"])
	}
	if _, ok := user["roles"]; ok {
		t.Errorf("a delegated token has roles: %v", user)
	}
	_, id := claims(t, body["id_token"].(string))
	for k, want := range map[string]any{"aud": tn.ClientID, "iss": tn.AuthorityHost + "/" + tn.TenantID + "/v2.0", "tid": tn.TenantID,
		"oid": alice.ID, "sub": alice.ID, "preferred_username": "alice@contoso.com", "name": "alice", "ver": "2.0"} {
		if id[k] != want {
			t.Errorf("id token %s = %v, want %v", k, id[k], want)
		}
	}
	ci, err := base64.RawURLEncoding.DecodeString(body["client_info"].(string))
	if err != nil || string(ci) != `{"uid":"`+alice.ID+`","utid":"`+tn.TenantID+`"}` {
		t.Errorf("client_info %s (%v)", ci, err)
	}

	// Without offline_access and openid there is neither refresh nor id token.
	dc = startDeviceCode(t, tn, tn.GraphEndpoint+"/.default")
	_ = tn.ApproveDeviceCode(dc["user_code"].(string), alice.UPN)
	status, body = pollDeviceCode(t, tn, dc["device_code"].(string), "scope", tn.GraphEndpoint+"/.default")
	if _, rt := body["refresh_token"]; status != 200 || rt || body["id_token"] != nil {
		t.Errorf("got %d %v, want an access token only", status, body)
	}
}

// interactiveBrowser plays the browser for MSAL's AcquireTokenInteractive:
// it opens the authorize URL without following redirects and, as MSAL
// asks for response_mode=form_post, posts the page's form to MSAL's local
// server.
func interactiveBrowser(t *testing.T, tn *graphtest.Tenant, seen *[]int) func(string) error {
	noRedirect := tn.HTTPClient()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return func(u string) error {
		resp, err := noRedirect.Get(u)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		*seen = append(*seen, resp.StatusCode)
		action := regexp.MustCompile(`<form method="POST" name="hiddenform" action="([^"]+)">`).FindStringSubmatch(string(b))
		if action == nil {
			return nil // a sign-in page: nobody signs in
		}
		f := url.Values{}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)" />`).FindAllStringSubmatch(string(b), -1) {
			f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		target := html.UnescapeString(action[1])
		if !strings.HasPrefix(target, "http://localhost:") {
			t.Errorf("form posts to %q, not to MSAL's local server", target)
		}
		r, err := http.PostForm(target, f)
		if err != nil {
			return err
		}
		r.Body.Close()
		*seen = append(*seen, r.StatusCode)
		return nil
	}
}

func TestInteractiveMSAL(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetOperation(resetPath, passwordReset())
	alice := tn.AddUser("alice@contoso.com")
	app := publicApp(t, tn, nil)
	scopes := []string{tn.GraphEndpoint + "/.default"}

	t.Run("nobody signed in to the browser", func(t *testing.T) {
		var seen []int
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := app.AcquireTokenInteractive(ctx, scopes, public.WithOpenURL(interactiveBrowser(t, tn, &seen)))
		if !errors.Is(err, context.DeadlineExceeded) || !reflect.DeepEqual(seen, []int{200}) {
			t.Errorf("got %v, pages %v; want the deadline after one sign-in page", err, seen)
		}
	})

	tn.SetBrowserUser("alice@contoso.com")
	var seen []int
	res, err := app.AcquireTokenInteractive(t.Context(), scopes, public.WithOpenURL(interactiveBrowser(t, tn, &seen)))
	if err != nil {
		t.Fatalf("AcquireTokenInteractive: %v", err)
	}
	if !reflect.DeepEqual(seen, []int{200, 200}) {
		t.Errorf("browser saw %v, want the form_post page and MSAL's page", seen)
	}
	if res.Account.PreferredUsername != "alice@contoso.com" || res.Account.HomeAccountID != alice.ID+"."+tn.TenantID {
		t.Errorf("account %+v", res.Account)
	}
	if n := tn.TokenRequestsByGrant(graphtest.GrantAuthorizationCode); n != 1 || tn.TokenRequests() != 1 {
		t.Errorf("authorization_code requests %d, all %d; want 1, 1", n, tn.TokenRequests())
	}
	if r := get(t, tn, res.AccessToken, resetPath); r.StatusCode != http.StatusOK {
		t.Errorf("alice reading her own operation: %d %s", r.StatusCode, r.body)
	}

	t.Run("Tenant.OpenURL", func(t *testing.T) {
		tn.ResetCounters()
		res, err := publicApp(t, tn, nil).AcquireTokenInteractive(t.Context(), scopes, public.WithOpenURL(tn.OpenURL))
		if err != nil || res.Account.PreferredUsername != "alice@contoso.com" || tn.TokenRequestsByGrant(graphtest.GrantAuthorizationCode) != 1 {
			t.Errorf("AcquireTokenInteractive: %v, account %+v", err, res.Account)
		}
		other, err := public.New("1d5c1b0e-8a15-4d39-9a43-4c1f3b9f0a01", public.WithAuthority(tn.AuthorityHost+"/"+tn.TenantID),
			public.WithHTTPClient(tn.HTTPClient()), public.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.AcquireTokenInteractive(t.Context(), scopes, public.WithOpenURL(tn.OpenURL))
		if err == nil || !strings.Contains(err.Error(), "answered 400: AADSTS700016:") {
			t.Errorf("an unknown client: %v, want the error page's AADSTS700016", err)
		}
		if err := tn.OpenURL("https://login.microsoftonline.com/common/oauth2/v2.0/authorize"); err == nil {
			t.Error("OpenURL opened another host")
		}
	})
}

// authorize sends the browser to the authorize endpoint, without
// following redirects, and returns the answer.
func authorize(t *testing.T, tn *graphtest.Tenant, q url.Values) (*http.Response, string) {
	t.Helper()
	c := tn.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(tn.AuthorityHost + "/" + tn.TenantID + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAuthorizationCode(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.AddUser("alice@contoso.com")
	tn.SetBrowserUser("alice@contoso.com")
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	redirect := "http://127.0.0.1:53127"
	authQuery := func(change func(url.Values)) url.Values {
		q := url.Values{"client_id": {tn.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
			"scope": {tn.GraphEndpoint + "/.default" + defaultScopes}, "code_challenge": {challenge},
			"code_challenge_method": {"S256"}, "state": {"st-1"}, "prompt": {"select_account"}}
		if change != nil {
			change(q)
		}
		return q
	}
	// code gets a code by the query response mode.
	code := func(t *testing.T, q url.Values) string {
		t.Helper()
		resp, body := authorize(t, tn, q)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(resp.Header.Get("Location"), q.Get("redirect_uri")+"?code=") || loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d Location %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		return loc.Query().Get("code")
	}
	redeem := func(t *testing.T, code string, change func(url.Values)) (int, map[string]any) {
		t.Helper()
		f := url.Values{"grant_type": {"authorization_code"}, "client_id": {tn.ClientID}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {verifier}, "scope": {tn.GraphEndpoint + "/.default" + defaultScopes}, "client_info": {"1"}}
		if change != nil {
			change(f)
		}
		return form(t, tn, "token", f)
	}

	t.Run("PKCE", func(t *testing.T) {
		c := code(t, authQuery(nil))
		status, body := redeem(t, c, func(f url.Values) { f.Set("code_verifier", strings.Repeat("x", 43)) })
		aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 501481)
		status, body = redeem(t, c, func(f url.Values) { f.Del("code_verifier") })
		aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 501481)
		status, body = redeem(t, c, func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:53128") })
		aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 70000)
		status, body = redeem(t, c, nil)
		if status != 200 || body["refresh_token"] == nil || body["id_token"] == nil {
			t.Fatalf("redeem: %d %v", status, body)
		}
		status, body = redeem(t, c, nil)
		aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 54005)
	})
	t.Run("no code_challenge", func(t *testing.T) {
		c := code(t, authQuery(func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }))
		status, body := redeem(t, c, nil)
		aadErr(t, status, body, http.StatusBadRequest, "invalid_request", 9002325)
	})
	t.Run("expired", func(t *testing.T) {
		c := code(t, authQuery(nil))
		start := time.Now()
		tn.SetClock(func() time.Time { return start.Add(10*time.Minute + time.Second) })
		defer tn.SetClock(nil)
		status, body := redeem(t, c, nil)
		aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 70008)
	})
	t.Run("redirect URIs", func(t *testing.T) {
		for _, ok := range []string{"http://localhost", "http://localhost:8400", "http://127.0.0.1:1/"} {
			code(t, authQuery(func(q url.Values) { q.Set("redirect_uri", ok) }))
		}
		for _, bad := range []string{"https://localhost:8400", "http://evil.example:8400", "http://localhost:8400/cb?x=1", "http://localhost.evil.example", ""} {
			resp, body := authorize(t, tn, authQuery(func(q url.Values) { q.Set("redirect_uri", bad) }))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "AADSTS50011") {
				t.Errorf("redirect_uri %q: %d Location %q", bad, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})
	t.Run("errors sent to the redirect URI", func(t *testing.T) {
		for _, tc := range []struct {
			change func(url.Values)
			want   string
		}{
			{func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
			{func(q url.Values) { q.Set("scope", "https://graph.microsoft.com/.default") }, "invalid_scope"},
			{func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		} {
			resp, _ := authorize(t, tn, authQuery(tc.change))
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != tc.want || loc.Query().Get("state") != "st-1" || loc.Query().Get("code") != "" {
				t.Errorf("got %d Location %q, want a redirect with error %s", resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
		}
		resp, body := authorize(t, tn, authQuery(func(q url.Values) { q.Set("client_id", "1d5c1b0e-8a15-4d39-9a43-4c1f3b9f0a01") }))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "AADSTS700016") {
			t.Errorf("unknown client: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("nobody signed in", func(t *testing.T) {
		tn.SetBrowserUser("")
		defer tn.SetBrowserUser("alice@contoso.com")
		resp, body := authorize(t, tn, authQuery(nil))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" || strings.Contains(body, "code") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("got %d %q %s, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		resp, _ = authorize(t, tn, authQuery(func(q url.Values) { q.Set("prompt", "none") }))
		if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "login_required" {
			t.Errorf("prompt=none: %d %q, want login_required", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("form_post", func(t *testing.T) {
		resp, body := authorize(t, tn, authQuery(func(q url.Values) { q.Set("response_mode", "form_post") }))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="`+redirect+`"`) || !strings.Contains(body, `name="code"`) || !strings.Contains(body, `name="state" value="st-1"`) {
			t.Errorf("form_post: %d %s", resp.StatusCode, body)
		}
	})
}

// TestSilentRefresh: with tokens of 5 minutes or less MSAL refreshes on
// every AcquireTokenSilent, and each refresh rotates the refresh token.
func TestSilentRefresh(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.AddUser("alice@contoso.com")
	tn.SetTokenLifetime(4 * time.Minute)
	acc := &memCache{}
	app := publicApp(t, tn, acc)
	first := deviceCodeSignIn(t, tn, app, "alice@contoso.com")
	scopes := []string{tn.GraphEndpoint + "/.default"}
	rts := []string{tn.LatestRefreshToken("alice@contoso.com")}
	for i := range 2 {
		res, err := app.AcquireTokenSilent(t.Context(), scopes, public.WithSilentAccount(first.Account))
		if err != nil {
			t.Fatalf("AcquireTokenSilent %d: %v", i, err)
		}
		if res.Metadata.TokenSource != public.TokenSourceIdentityProvider || res.AccessToken == first.AccessToken {
			t.Errorf("AcquireTokenSilent %d: token from %v, want a refresh", i, res.Metadata.TokenSource)
		}
		rt := tn.LatestRefreshToken("alice@contoso.com")
		if slices.Contains(rts, rt) || !acc.contains(rt) {
			t.Errorf("refresh %d: the refresh token did not rotate into the cache", i)
		}
		rts = append(rts, rt)
	}
	if n := tn.TokenRequestsByGrant(graphtest.GrantRefreshToken); n != 2 {
		t.Errorf("refresh requests = %d, want 2", n)
	}
	// The first refresh token is still valid, as in Entra ID.
	refresh := func(rt string, extra ...string) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {tn.ClientID}, "refresh_token": {rt},
			"scope": {tn.GraphEndpoint + "/.default" + defaultScopes}, "client_info": {"1"}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return form(t, tn, "token", f)
	}
	if status, body := refresh(rts[0]); status != 200 || body["refresh_token"] == rts[0] {
		t.Errorf("the first refresh token: %d %v", status, body)
	}
	status, body := refresh("1.AQnot-a-refresh-token")
	aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 9002313)
	tn.SetPublicClientFlows(false)
	status, body = refresh(rts[0])
	aadErr(t, status, body, http.StatusUnauthorized, "invalid_client", 7000218)
	tn.SetPublicClientFlows(true)
	status, body = refresh(rts[0], "scope", tn.GraphEndpoint+"/UserAuthenticationMethod.ReadWrite.All"+defaultScopes)
	aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 65001)
	start := time.Now()
	tn.SetClock(func() time.Time { return start.Add(91 * 24 * time.Hour) })
	status, body = refresh(rts[0])
	aadErr(t, status, body, http.StatusBadRequest, "invalid_grant", 700082)
	tn.SetClock(nil)
}

// TestSignInRevoked: a revoked or interaction-requiring refresh token
// fails AcquireTokenSilent with an errors.CallErr, and a new sign-in
// brings things back.
func TestSignInRevoked(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.AddUser("alice@contoso.com")
	tn.SetTokenLifetime(time.Minute)
	app := publicApp(t, tn, &memCache{})
	scopes := []string{tn.GraphEndpoint + "/.default"}
	silentErr := func(t *testing.T, account public.Account, wantErr, wantNum string) {
		t.Helper()
		_, err := app.AcquireTokenSilent(t.Context(), scopes, public.WithSilentAccount(account))
		var ce msalerrors.CallErr
		if !errors.As(err, &ce) {
			t.Fatalf("got %v, want an errors.CallErr", err)
		}
		b, _ := io.ReadAll(ce.Resp.Body)
		if ce.Resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"error":"`+wantErr+`"`) || !strings.Contains(string(b), "AADSTS"+wantNum+":") {
			t.Errorf("got %d %s, want 400 %s AADSTS%s", ce.Resp.StatusCode, b, wantErr, wantNum)
		}
	}

	res := deviceCodeSignIn(t, tn, app, "alice@contoso.com")
	tn.RevokeSignIns("alice@contoso.com")
	silentErr(t, res.Account, "invalid_grant", "50173")
	silentErr(t, res.Account, "invalid_grant", "50173") // MSAL does not remember a failure
	if n := tn.TokenRequestsByGrant(graphtest.GrantRefreshToken); n != 2 {
		t.Errorf("refresh requests = %d, want 2", n)
	}

	res = deviceCodeSignIn(t, tn, app, "alice@contoso.com")
	if _, err := app.AcquireTokenSilent(t.Context(), scopes, public.WithSilentAccount(res.Account)); err != nil {
		t.Fatalf("after signing in again: %v", err)
	}
	tn.RequireInteraction("alice@contoso.com")
	silentErr(t, res.Account, "interaction_required", "50076")

	res = deviceCodeSignIn(t, tn, app, "alice@contoso.com")
	if _, err := app.AcquireTokenSilent(t.Context(), scopes, public.WithSilentAccount(res.Account)); err != nil {
		t.Errorf("after the interactive sign-in: %v", err)
	}
}

func TestFailTokensDelegated(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.AddUser("alice@contoso.com")
	dc := startDeviceCode(t, tn, tn.GraphEndpoint+"/.default"+defaultScopes)
	_ = tn.ApproveDeviceCode(dc["user_code"].(string), "alice@contoso.com")
	tn.FailTokens(1, http.StatusServiceUnavailable)
	status, body := pollDeviceCode(t, tn, dc["device_code"].(string))
	aadErr(t, status, body, http.StatusServiceUnavailable, "temporarily_unavailable", 90033)
	status, body = pollDeviceCode(t, tn, dc["device_code"].(string))
	if status != 200 {
		t.Fatalf("after the failure: %d %v", status, body)
	}
	tn.FailTokens(-1, http.StatusTooManyRequests)
	status, body = form(t, tn, "token", url.Values{"grant_type": {"refresh_token"}, "client_id": {tn.ClientID},
		"refresh_token": {body["refresh_token"].(string)}, "scope": {tn.GraphEndpoint + "/.default"}})
	aadErr(t, status, body, http.StatusTooManyRequests, "temporarily_unavailable", 90055)
	tn.FailTokens(0, 0)
	if tn.TokenRequestsByGrant(graphtest.GrantDeviceCode) != 2 || tn.TokenRequestsByGrant(graphtest.GrantRefreshToken) != 1 || tn.TokenRequests() != 3 || tn.TokensIssued() != 1 {
		t.Errorf("device_code %d, refresh_token %d, all %d, issued %d; want 2, 1, 3, 1", tn.TokenRequestsByGrant(graphtest.GrantDeviceCode),
			tn.TokenRequestsByGrant(graphtest.GrantRefreshToken), tn.TokenRequests(), tn.TokensIssued())
	}
	token(t, tn)
	if tn.TokenRequestsByGrant(graphtest.GrantClientCredentials) != 1 {
		t.Errorf("client_credentials %d, want 1", tn.TokenRequestsByGrant(graphtest.GrantClientCredentials))
	}
	tn.ResetCounters()
	if tn.TokenRequestsByGrant(graphtest.GrantDeviceCode) != 0 || tn.TokenRequestsByGrant(graphtest.GrantClientCredentials) != 0 {
		t.Error("ResetCounters left a grant counter")
	}
}

// TestPasswordResetPermissions is Graph's permission rule for
// password-reset operations, alone and in $batch.
func TestPasswordResetPermissions(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	alice := tn.AddUser("alice@contoso.com")
	bobPath := "/v1.0/users/bob@contoso.com/authentication/operations/0c4e1f0a-9d0e-4b52-9b36-4c4d8f5e2a11"
	tn.SetOperation(bobPath, map[string]any{"id": "0c4e1f0a-9d0e-4b52-9b36-4c4d8f5e2a11", "status": "succeeded"})
	byOID := "/beta/users/" + strings.ToUpper(alice.ID) + "/authentication/operations/2d497bb-57bd-47a6-8749-5ccd0869f2bd"
	tn.SetOperation(byOID, passwordReset())

	app := token(t, tn)
	reader := delegatedToken(t, tn, "reader@contoso.com", graphtest.RoleGlobalReader)
	noRole := delegatedToken(t, tn, "helpdesk@contoso.com")
	tn.SetDelegatedPermissions("UserAuthenticationMethod.ReadWrite.All")
	authAdmin := delegatedToken(t, tn, "authadmin@contoso.com", graphtest.RoleAuthenticationAdministrator)
	tn.SetDelegatedPermissions("UserAuthenticationMethod.Read")
	aliceOwn := delegatedToken(t, tn, "Alice@Contoso.com")
	readOnlyAdmin := delegatedToken(t, tn, "privadmin@contoso.com", graphtest.RolePrivilegedAuthenticationAdministrator)
	tn.SetDelegatedPermissions("UserAuthenticationMethod.Read.All")

	const denied, ok = http.StatusForbidden, http.StatusOK
	for _, tc := range []struct {
		name, token, path string
		want              int
	}{
		{"app-only", app, resetPath, denied},
		{"app-only, the list", app, "/beta/users/alice@contoso.com/authentication/operations", denied},
		{"app-only, v1.0", app, bobPath, denied},
		{"app-only, other operations", app, alertPath, ok},
		{"Read.All and Global Reader", reader, resetPath, ok},
		{"Read.All and Global Reader, the list", reader, "/beta/users/alice@contoso.com/authentication/operations", ok},
		{"ReadWrite.All and Authentication Administrator", authAdmin, bobPath, ok},
		{"Read.All without a role, another user's", noRole, resetPath, denied},
		{"Read.All without a role, other operations", noRole, alertPath, ok},
		{"Read, own by UPN", aliceOwn, resetPath, ok},
		{"Read, own by object id", aliceOwn, byOID, ok},
		{"Read, another user's", aliceOwn, bobPath, denied},
		{"Read with a role, another user's", readOnlyAdmin, resetPath, denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, tn, tc.token, tc.path, "client-request-id", "0d15ea5e-0000-4000-8000-000000000001")
			if r.StatusCode != tc.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tc.want)
			}
			if tc.want == denied {
				code, msg, inner := graphErr(t, r.body)
				if code != "accessDenied" || msg != "Request Authorization failed" || inner["request-id"] != r.Header.Get("request-id") ||
					inner["client-request-id"] != "0d15ea5e-0000-4000-8000-000000000001" || inner["date"] == "" {
					t.Errorf("403 body %s", r.body)
				}
			}
		})
	}

	batch := func(t *testing.T, token string) []int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tn.GraphEndpoint+"/beta/$batch", strings.NewReader(`{"requests":[
			{"id":"1","method":"GET","url":"/identityGovernance/roleManagementAlerts/operations/`+alertID+`"},
			{"id":"2","method":"GET","url":"/users/alice@contoso.com/authentication/operations/2d497bb-57bd-47a6-8749-5ccd0869f2bd"},
			{"id":"3","method":"GET","url":"/users/alice%40contoso.com/authentication/operations"}]}`))
		req.Header.Set("Content-Type", "application/json")
		r := do(t, tn, req, token)
		var got struct {
			Responses []struct {
				ID     string `json:"id"`
				Status int    `json:"status"`
				Body   struct {
					Error struct {
						Code    string `json:"code"`
						Message string `json:"message"`
					} `json:"error"`
				} `json:"body"`
			} `json:"responses"`
		}
		if err := json.Unmarshal(r.body, &got); err != nil || r.StatusCode != 200 || len(got.Responses) != 3 {
			t.Fatalf("batch: %d %s", r.StatusCode, r.body)
		}
		var statuses []int
		for i, resp := range got.Responses {
			statuses = append(statuses, resp.Status)
			if resp.ID != strconv.Itoa(i+1) {
				t.Errorf("answer %d has id %q", i, resp.ID)
			}
			if resp.Status == denied && (resp.Body.Error.Code != "accessDenied" || resp.Body.Error.Message != "Request Authorization failed") {
				t.Errorf("inner 403 %+v", resp.Body)
			}
		}
		return statuses
	}
	t.Run("batch, app-only", func(t *testing.T) {
		if got := batch(t, app); !reflect.DeepEqual(got, []int{ok, denied, denied}) {
			t.Errorf("inner statuses %v, want 200, 403, 403", got)
		}
	})
	t.Run("batch, Global Reader", func(t *testing.T) {
		if got := batch(t, reader); !reflect.DeepEqual(got, []int{ok, ok, ok}) {
			t.Errorf("inner statuses %v, want 200, 200, 200", got)
		}
	})
	t.Run("batch, no role", func(t *testing.T) {
		if got := batch(t, noRole); !reflect.DeepEqual(got, []int{ok, denied, denied}) {
			t.Errorf("inner statuses %v, want 200, 403, 403", got)
		}
	})
}
