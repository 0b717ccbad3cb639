package graphtest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// The operations of the seed document (longrunningoperation-get.md),
// untidy data included: a password reset with dashes for colons, an
// industry data import with a null statusDetail, ids with ":" and ",".
const (
	alertID      = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"
	alertPath    = "/beta/identityGovernance/roleManagementAlerts/operations/" + alertID
	resetPath    = "/beta/users/alice@contoso.com/authentication/operations/2d497bb-57bd-47a6-8749-5ccd0869f2bd"
	industryPath = "/beta/external/industryData/operations/d194fa3e-18c9-47a1-0fb1-08dad8e7a876"
	sitePath     = "/v1.0/sites/contoso.sharepoint.com,2c712604-1370-44e7-a1f5-426573fda80a,2d2244c3-251a-49ea-93a8-39e1c3a060fe/operations/contentTypeCopy,0x0101"
)

func alertRunning() map[string]any {
	return map[string]any{
		"id":                 alertID,
		"createdDateTime":    "2023-06-09T22:50:41.5414467Z",
		"lastActionDateTime": "2023-06-09T22:52:09.0296021Z",
		"resourceLocation":   "",
		"status":             "running",
		"statusDetail":       "",
	}
}

func passwordReset() map[string]any {
	return map[string]any{
		"status":             "running",
		"createdDateTime":    "2020-03-19T12-01-03.45Z",
		"lastActionDateTime": "2020-03-19T12-01-04.23Z",
		"id":                 "2d497bb-57bd-47a6-8749-5ccd0869f2bd",
	}
}

func industryImport() map[string]any {
	return map[string]any{
		"@odata.type":        "#microsoft.graph.longRunningOperation",
		"createdDateTime":    "2022-12-14T05:54:35.400029Z",
		"id":                 "d194fa3e-18c9-47a1-0fb1-08dad8e7a876",
		"lastActionDateTime": "2022-12-14T05:54:43.8410226Z",
		"resourceLocation":   "https://graph.microsoft.com/beta/industryData/dataConnectors/022da4a0-c239-4b07-abed-08dad8e7a07a",
		"status":             "succeeded",
		"statusDetail":       nil,
	}
}

func siteCopy() map[string]any {
	return map[string]any{
		"id":                 "contentTypeCopy,0x0101",
		"createdDateTime":    "2024-01-02T03:04:05Z",
		"lastActionDateTime": "2024-01-02T03:04:06Z",
		"status":             "running",
		"percentageComplete": 40,
		"resourceId":         "0x0101",
		"type":               "contentTypeCopy",
		"error":              nil,
	}
}

// seed stores the seed document's operations.
func seed(tn *graphtest.Tenant) {
	tn.SetOperation(alertPath, alertRunning())
	tn.SetOperation(resetPath, passwordReset())
	tn.SetOperation(industryPath, industryImport())
	tn.SetOperation(sitePath, siteCopy())
}

func newApp(t *testing.T, tn *graphtest.Tenant, cred confidential.Credential) confidential.Client {
	t.Helper()
	app, err := confidential.New(tn.AuthorityHost+"/"+tn.TenantID, tn.ClientID, cred,
		confidential.WithHTTPClient(tn.HTTPClient()),
		confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatalf("confidential.New: %v", err)
	}
	return app
}

func secretApp(t *testing.T, tn *graphtest.Tenant) confidential.Client {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(tn.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	return newApp(t, tn, cred)
}

// token gets a Graph token from tn with the client secret.
func token(t *testing.T, tn *graphtest.Tenant) string {
	t.Helper()
	res, err := secretApp(t, tn).AcquireTokenByCredential(t.Context(), []string{tn.GraphEndpoint + "/.default"})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	return res.AccessToken
}

type response struct {
	*http.Response
	body []byte
}

// get sends GET tn.GraphEndpoint+path with token (none if "").
func get(t *testing.T, tn *graphtest.Tenant, token, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tn.GraphEndpoint+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, tn, req, token, header...)
}

func do(t *testing.T, tn *graphtest.Tenant, req *http.Request, token string, header ...string) response {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := tn.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{resp, body}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, b)
	}
	return m
}

// graphErr returns the code and message of a Graph error body.
func graphErr(t *testing.T, b []byte) (code, message string, inner map[string]any) {
	t.Helper()
	var e struct {
		Error struct {
			Code       string         `json:"code"`
			Message    string         `json:"message"`
			InnerError map[string]any `json:"innerError"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not a Graph error body (%v): %s", err, b)
	}
	return e.Error.Code, e.Error.Message, e.Error.InnerError
}

var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestTenantIdentity(t *testing.T) {
	tn := graphtest.NewTenant(t)
	for name, v := range map[string]string{"TenantID": tn.TenantID, "ClientID": tn.ClientID} {
		if !guid.MatchString(v) {
			t.Errorf("%s = %q, want a GUID", name, v)
		}
	}
	if other := graphtest.NewTenant(t); other.ClientSecret == tn.ClientSecret || other.TenantID == tn.TenantID {
		t.Error("two tenants share a client secret or tenant id")
	}
	for name, v := range map[string]string{"AuthorityHost": tn.AuthorityHost, "GraphEndpoint": tn.GraphEndpoint} {
		if !regexp.MustCompile(`^https://127\.0\.0\.1:\d+$`).MatchString(v) {
			t.Errorf("%s = %q, want https://127.0.0.1:<port>", name, v)
		}
	}
	if tn.AuthorityHost == tn.GraphEndpoint {
		t.Error("the identity platform and Graph share a server")
	}
	if want := tn.AuthorityHost + "/msi/token"; tn.ManagedIdentityEndpoint != want {
		t.Errorf("ManagedIdentityEndpoint = %q, want %q", tn.ManagedIdentityEndpoint, want)
	}
	if len(tn.ClientSecret) < 32 || tn.IdentityHeader == "" {
		t.Errorf("ClientSecret %q or IdentityHeader %q too weak", tn.ClientSecret, tn.IdentityHeader)
	}
}

func TestOpenIDConfiguration(t *testing.T) {
	tn := graphtest.NewTenant(t)
	resp, err := tn.HTTPClient().Get(tn.AuthorityHost + "/" + tn.TenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cfg map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	base := tn.AuthorityHost + "/" + tn.TenantID
	for k, want := range map[string]string{
		"token_endpoint":         base + "/oauth2/v2.0/token",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize",
		"issuer":                 base + "/v2.0",
	} {
		if cfg[k] != want {
			t.Errorf("%s = %v, want %s", k, cfg[k], want)
		}
	}

	resp, err = tn.HTTPClient().Get(tn.AuthorityHost + "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error":"invalid_tenant"`) || !strings.Contains(string(body), "AADSTS90002") {
		t.Errorf("unknown tenant: status %d, body %s; want 400 invalid_tenant AADSTS90002", resp.StatusCode, body)
	}
}

// TestConfidentialClient runs the real MSAL confidential client with each
// credential the exporter supports, and checks that MSAL caches the token.
func TestConfidentialClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		cred func(*testing.T, *graphtest.Tenant) confidential.Credential
	}{
		{"secret", func(t *testing.T, tn *graphtest.Tenant) confidential.Credential {
			cred, err := confidential.NewCredFromSecret(tn.ClientSecret)
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}},
		{"certificate", func(t *testing.T, tn *graphtest.Tenant) confidential.Credential {
			certs, key, err := confidential.CertFromPEM(tn.CertificatePEM(), "")
			if err != nil {
				t.Fatalf("CertFromPEM: %v", err)
			}
			cred, err := confidential.NewCredFromCert(certs, key)
			if err != nil {
				t.Fatal(err)
			}
			return cred
		}},
		{"federated", func(t *testing.T, tn *graphtest.Tenant) confidential.Credential {
			return confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
				return tn.FederatedToken(), nil
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := graphtest.NewTenant(t)
			tn.SetOperation(alertPath, alertRunning())
			app := newApp(t, tn, tc.cred(t, tn))
			scopes := []string{tn.GraphEndpoint + "/.default"}

			first, err := app.AcquireTokenByCredential(t.Context(), scopes)
			if err != nil {
				t.Fatalf("AcquireTokenByCredential: %v", err)
			}
			if first.Metadata.TokenSource != confidential.TokenSourceIdentityProvider {
				t.Errorf("first token from %v, want the identity provider", first.Metadata.TokenSource)
			}
			if got := time.Until(first.ExpiresOn); got < 59*time.Minute || got > 61*time.Minute {
				t.Errorf("token expires in %v, want the default 1h", got)
			}
			if tn.TokenRequests() != 1 || tn.TokensIssued() != 1 {
				t.Errorf("TokenRequests, TokensIssued = %d, %d; want 1, 1", tn.TokenRequests(), tn.TokensIssued())
			}

			second, err := app.AcquireTokenByCredential(t.Context(), scopes)
			if err != nil {
				t.Fatalf("second AcquireTokenByCredential: %v", err)
			}
			if second.Metadata.TokenSource != confidential.TokenSourceCache || second.AccessToken != first.AccessToken {
				t.Errorf("second token from %v (same: %v), want the cached one", second.Metadata.TokenSource, second.AccessToken == first.AccessToken)
			}
			if tn.TokenRequests() != 1 {
				t.Errorf("TokenRequests = %d after a cache hit, want 1", tn.TokenRequests())
			}

			if r := get(t, tn, first.AccessToken, alertPath); r.StatusCode != http.StatusOK {
				t.Errorf("GET with the token: %d %s", r.StatusCode, r.body)
			}
		})
	}
}

func TestWrongSecret(t *testing.T) {
	tn := graphtest.NewTenant(t)
	const wrong = "Wr0~ng-secret-that-must-never-be-echoed"
	cred, err := confidential.NewCredFromSecret(wrong)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newApp(t, tn, cred).AcquireTokenByCredential(t.Context(), []string{tn.GraphEndpoint + "/.default"})
	if err == nil {
		t.Fatal("a wrong secret got a token")
	}
	msg := err.Error()
	if strings.Contains(msg, wrong) || strings.Contains(msg, tn.ClientSecret) {
		t.Errorf("the error shows a secret: %v", err)
	}
	if !strings.Contains(msg, "invalid_client") || !strings.Contains(msg, "AADSTS7000215") || !strings.Contains(msg, "401") {
		t.Errorf("error %q does not say 401 invalid_client AADSTS7000215", msg)
	}
	if tn.TokenRequests() != 1 || tn.TokensIssued() != 0 {
		t.Errorf("TokenRequests, TokensIssued = %d, %d; want 1, 0", tn.TokenRequests(), tn.TokensIssued())
	}
}

func TestTokenRequestRefused(t *testing.T) {
	tn := graphtest.NewTenant(t)
	other := graphtest.NewTenant(t)

	t.Run("another tenant's certificate", func(t *testing.T) {
		certs, key, err := confidential.CertFromPEM(other.CertificatePEM(), "")
		if err != nil {
			t.Fatal(err)
		}
		tn.CertificatePEM() // this tenant has a certificate too, a different one
		cred, _ := confidential.NewCredFromCert(certs, key)
		_, err = newApp(t, tn, cred).AcquireTokenByCredential(t.Context(), []string{tn.GraphEndpoint + "/.default"})
		if err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
			t.Errorf("got %v, want AADSTS700027", err)
		}
	})
	t.Run("rotated federated token", func(t *testing.T) {
		old := tn.FederatedToken()
		if strings.Count(old, ".") != 2 {
			t.Errorf("FederatedToken %q does not look like a JWT", old)
		}
		tn.SetFederatedToken("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RhdGVkIn0.c2ln")
		cred := confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
			return old, nil
		})
		_, err := newApp(t, tn, cred).AcquireTokenByCredential(t.Context(), []string{tn.GraphEndpoint + "/.default"})
		if err == nil || !strings.Contains(err.Error(), "AADSTS700213") {
			t.Errorf("got %v, want AADSTS700213", err)
		}
	})
	t.Run("wrong scope", func(t *testing.T) {
		_, err := secretApp(t, tn).AcquireTokenByCredential(t.Context(), []string{"https://graph.microsoft.com/.default"})
		if err == nil || !strings.Contains(err.Error(), "invalid_scope") {
			t.Errorf("got %v, want invalid_scope", err)
		}
	})
	t.Run("unknown tenant", func(t *testing.T) {
		cred, _ := confidential.NewCredFromSecret(tn.ClientSecret)
		app, err := confidential.New(tn.AuthorityHost+"/"+other.TenantID, tn.ClientID, cred,
			confidential.WithHTTPClient(tn.HTTPClient()), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		_, err = app.AcquireTokenByCredential(t.Context(), []string{tn.GraphEndpoint + "/.default"})
		if err == nil || !strings.Contains(err.Error(), "AADSTS90002") {
			t.Errorf("got %v, want AADSTS90002", err)
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		cred, _ := confidential.NewCredFromSecret(tn.ClientSecret)
		app, err := confidential.New(tn.AuthorityHost+"/"+tn.TenantID, other.ClientID, cred,
			confidential.WithHTTPClient(tn.HTTPClient()), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		_, err = app.AcquireTokenByCredential(t.Context(), []string{tn.GraphEndpoint + "/.default"})
		if err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
			t.Errorf("got %v, want AADSTS700016", err)
		}
	})
	if n := tn.TokensIssued(); n != 0 {
		t.Errorf("TokensIssued = %d, want 0", n)
	}
}

// TestSignedAssertions checks the token endpoint's own verification of
// certificate assertions, beyond what MSAL produces.
func TestSignedAssertions(t *testing.T) {
	tn := graphtest.NewTenant(t)
	certs, key, err := confidential.CertFromPEM(tn.CertificatePEM(), "")
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := key.(*rsa.PrivateKey)
	tokenEndpoint := tn.AuthorityHost + "/" + tn.TenantID + "/oauth2/v2.0/token"
	thumb := sha256.Sum256(certs[0].Raw)
	now := time.Now().Unix()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"aud": tokenEndpoint, "iss": tn.ClientID, "sub": tn.ClientID,
			"jti": "1", "nbf": now, "exp": now + 600}
		if change != nil {
			change(c)
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		alg    string
		claims map[string]any
		tamper bool
		want   string // "" = accepted
	}{
		{"PS256 as MSAL signs", "PS256", claims(nil), false, ""},
		{"RS256", "RS256", claims(nil), false, ""},
		{"audience array", "PS256", claims(func(c map[string]any) { c["aud"] = []string{"x", tokenEndpoint} }), false, ""},
		{"wrong audience", "PS256", claims(func(c map[string]any) { c["aud"] = "https://login.microsoftonline.com/x/oauth2/v2.0/token" }), false, "AADSTS700212"},
		{"issuer not the application: taken for federated", "PS256", claims(func(c map[string]any) { c["iss"] = "someone-else" }), false, "AADSTS700213"},
		{"wrong subject", "PS256", claims(func(c map[string]any) { c["sub"] = "someone-else" }), false, "AADSTS700021"},
		{"expired", "PS256", claims(func(c map[string]any) { c["exp"] = now - 3600 }), false, "AADSTS700024"},
		{"not yet valid", "PS256", claims(func(c map[string]any) { c["nbf"] = now + 3600 }), false, "AADSTS700024"},
		{"tampered", "PS256", claims(nil), true, "AADSTS700027"},
		{"alg none", "none", claims(nil), false, "AADSTS5002738"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertion := signJWT(t, rsaKey, tc.alg, base64.StdEncoding.EncodeToString(thumb[:]), tc.claims)
			if tc.tamper {
				parts := strings.Split(assertion, ".")
				c, _ := json.Marshal(claims(func(c map[string]any) { c["jti"] = "2" }))
				assertion = parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
			}
			status, body := postToken(t, tn, url.Values{
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {assertion},
			})
			if tc.want == "" {
				if status != http.StatusOK || body["access_token"] == nil {
					t.Errorf("refused: %d %v", status, body)
				}
				return
			}
			desc, _ := body["error_description"].(string)
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" || !strings.HasPrefix(desc, tc.want+":") {
				t.Errorf("got %d %v, want 401 invalid_client %s", status, body, tc.want)
			}
		})
	}
	t.Run("wrong thumbprint", func(t *testing.T) {
		other := sha256.Sum256([]byte("another certificate"))
		status, body := postToken(t, tn, url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {signJWT(t, rsaKey, "PS256", base64.StdEncoding.EncodeToString(other[:]), claims(nil))},
		})
		if desc, _ := body["error_description"].(string); status != 401 || !strings.HasPrefix(desc, "AADSTS700027") {
			t.Errorf("got %d %v, want 401 AADSTS700027", status, body)
		}
	})
}

func signJWT(t *testing.T, key *rsa.PrivateKey, alg, x5t string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "x5t#S256": x5t})
	c, _ := json.Marshal(claims)
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	var err error
	switch alg {
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + enc.EncodeToString(sig)
}

// postToken posts a client credentials grant for Graph with extra form
// values and returns the status and decoded body.
func postToken(t *testing.T, tn *graphtest.Tenant, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{
		"grant_type": {"client_credentials"},
		"client_id":  {tn.ClientID},
		"scope":      {tn.GraphEndpoint + "/.default"},
	}
	for k, v := range extra {
		form[k] = v
	}
	resp, err := tn.HTTPClient().PostForm(tn.AuthorityHost+"/"+tn.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint answered %d with a body that is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

func TestTokenEndpointResponse(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetTokenLifetime(90 * time.Second)
	status, body := postToken(t, tn, url.Values{"client_secret": {tn.ClientSecret}})
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != 90.0 || body["ext_expires_in"] != 90.0 || body["access_token"] == "" {
		t.Errorf("token response %v, want Bearer, expires_in 90, ext_expires_in 90, an access_token", body)
	}

	status, body = postToken(t, tn, url.Values{"client_secret": {"nope"}})
	want := []string{"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}
	for _, k := range want {
		if _, ok := body[k]; !ok {
			t.Errorf("error body lacks %q: %v", k, body)
		}
	}
	if status != http.StatusUnauthorized || !reflect.DeepEqual(body["error_codes"], []any{7000215.0}) {
		t.Errorf("wrong secret: %d %v", status, body)
	}
	if strings.Contains(fmt.Sprint(body), "nope") {
		t.Errorf("the error body echoes the secret: %v", body)
	}
}

// TestTokenLifetime shows what an exporter meets: MSAL does not cache a
// token with 5 minutes or less left, and Graph refuses a token once the
// tenant's clock passes its expiry, whatever MSAL thinks.
func TestTokenLifetime(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetOperation(alertPath, alertRunning())
	tn.SetTokenLifetime(4 * time.Minute)
	app := secretApp(t, tn)
	for range 2 {
		res, err := app.AcquireTokenByCredential(t.Context(), []string{tn.GraphEndpoint + "/.default"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Metadata.TokenSource != confidential.TokenSourceIdentityProvider {
			t.Error("MSAL cached a token with 4 minutes to live")
		}
	}
	if tn.TokenRequests() != 2 {
		t.Errorf("TokenRequests = %d, want 2", tn.TokenRequests())
	}

	tn.SetTokenLifetime(time.Hour)
	tok := token(t, tn)
	start := time.Now()
	tn.SetClock(func() time.Time { return start.Add(59 * time.Minute) })
	if r := get(t, tn, tok, alertPath); r.StatusCode != http.StatusOK {
		t.Errorf("a token with a minute left: %d %s", r.StatusCode, r.body)
	}
	tn.SetClock(func() time.Time { return start.Add(61 * time.Minute) })
	r := get(t, tn, tok, alertPath)
	if code, msg, _ := graphErr(t, r.body); r.StatusCode != http.StatusUnauthorized || code != "InvalidAuthenticationToken" || !strings.Contains(msg, "expired") {
		t.Errorf("an expired token: %d %s", r.StatusCode, r.body)
	}
	tn.SetClock(nil)
	if r := get(t, tn, tok, alertPath); r.StatusCode != http.StatusOK {
		t.Errorf("after SetClock(nil): %d %s", r.StatusCode, r.body)
	}
}

func TestFailTokens(t *testing.T) {
	tn := graphtest.NewTenant(t)
	app := secretApp(t, tn)
	acquire := func() error {
		_, err := app.AcquireTokenByCredential(t.Context(), []string{tn.GraphEndpoint + "/.default"})
		return err
	}
	tn.SetTokenLifetime(time.Minute) // not cached, so every call reaches the tenant

	tn.FailTokens(1, http.StatusServiceUnavailable)
	if err := acquire(); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "temporarily_unavailable") {
		t.Errorf("got %v, want a 503 temporarily_unavailable", err)
	}
	if tn.TokenRequests() != 1 {
		t.Errorf("MSAL's confidential client retried: TokenRequests = %d", tn.TokenRequests())
	}
	if err := acquire(); err != nil {
		t.Errorf("after the one failure: %v", err)
	}

	tn.FailTokens(-1, http.StatusUnauthorized)
	for range 3 {
		if err := acquire(); err == nil || !strings.Contains(err.Error(), "AADSTS7000222") {
			t.Errorf("got %v, want 401 AADSTS7000222 until FailTokens(0, 0)", err)
		}
	}
	tn.FailTokens(0, 0)
	if err := acquire(); err != nil {
		t.Errorf("after FailTokens(0, 0): %v", err)
	}
	if tn.TokenRequests() != 6 || tn.TokensIssued() != 2 {
		t.Errorf("TokenRequests, TokensIssued = %d, %d; want 6, 2", tn.TokenRequests(), tn.TokensIssued())
	}
}

// TestManagedIdentity runs MSAL's managed identity client against the App
// Service endpoint. MSAL caches managed identity tokens process-wide, keyed
// by resource; every tenant has its own GraphEndpoint, and all live until
// the test ends so that no port, and so no resource, is reused.
func TestManagedIdentity(t *testing.T) {
	setEnv := func(t *testing.T, tn *graphtest.Tenant) {
		t.Setenv("IDENTITY_ENDPOINT", tn.ManagedIdentityEndpoint)
		t.Setenv("IDENTITY_HEADER", tn.IdentityHeader)
	}
	newMI := func(t *testing.T, tn *graphtest.Tenant, id managedidentity.ID) managedidentity.Client {
		t.Helper()
		c, err := managedidentity.New(id, managedidentity.WithHTTPClient(tn.HTTPClient()))
		if err != nil {
			t.Fatalf("managedidentity.New: %v", err)
		}
		return c
	}

	t.Run("system-assigned", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		tn.SetOperation(alertPath, alertRunning())
		setEnv(t, tn)
		mi := newMI(t, tn, managedidentity.SystemAssigned())
		res, err := mi.AcquireToken(t.Context(), tn.GraphEndpoint+"/.default")
		if err != nil {
			t.Fatalf("AcquireToken: %v", err)
		}
		if res.Metadata.TokenSource != managedidentity.TokenSourceIdentityProvider {
			t.Errorf("token from %v", res.Metadata.TokenSource)
		}
		if got := time.Until(res.ExpiresOn); got < 59*time.Minute || got > 61*time.Minute {
			t.Errorf("token expires in %v, want 1h", got)
		}
		again, err := mi.AcquireToken(t.Context(), tn.GraphEndpoint)
		if err != nil || again.Metadata.TokenSource != managedidentity.TokenSourceCache {
			t.Errorf("second AcquireToken: %v, source %v; want the cache", err, again.Metadata.TokenSource)
		}
		if tn.TokenRequests() != 1 || tn.TokensIssued() != 1 {
			t.Errorf("TokenRequests, TokensIssued = %d, %d; want 1, 1", tn.TokenRequests(), tn.TokensIssued())
		}
		if r := get(t, tn, res.AccessToken, alertPath); r.StatusCode != http.StatusOK {
			t.Errorf("GET with the managed identity's token: %d %s", r.StatusCode, r.body)
		}
	})

	t.Run("user-assigned", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		setEnv(t, tn)
		id := "7f2c7b80-4a39-4d4a-9a59-2d4f0d8f1e11"
		if _, err := newMI(t, tn, managedidentity.UserAssignedClientID(id)).AcquireToken(t.Context(), tn.GraphEndpoint); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("an unknown user-assigned identity: %v, want 400", err)
		}
		if tn.TokenRequests() != 1 {
			t.Errorf("a 400 was retried: TokenRequests = %d", tn.TokenRequests())
		}
		tn.SetManagedIdentityClientID(id)
		if _, err := newMI(t, tn, managedidentity.UserAssignedClientID(id)).AcquireToken(t.Context(), tn.GraphEndpoint); err != nil {
			t.Errorf("the user-assigned identity: %v", err)
		}
		if tn.TokensIssued() != 1 {
			t.Errorf("TokensIssued = %d, want 1", tn.TokensIssued())
		}
	})

	t.Run("wrong identity header", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		setEnv(t, tn)
		t.Setenv("IDENTITY_HEADER", "not-the-header")
		_, err := newMI(t, tn, managedidentity.SystemAssigned()).AcquireToken(t.Context(), tn.GraphEndpoint)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("got %v, want a 401", err)
		}
	})

	t.Run("wrong resource", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		setEnv(t, tn)
		_, err := newMI(t, tn, managedidentity.SystemAssigned()).AcquireToken(t.Context(), "https://graph.microsoft.com")
		if err == nil || !strings.Contains(err.Error(), "AADSTS500011") {
			t.Errorf("got %v, want AADSTS500011", err)
		}
	})

	// MSAL retries 408, 429 and 5xx answers of the managed identity
	// endpoint twice, a second apart; each attempt is a token request.
	t.Run("retried failure", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		setEnv(t, tn)
		tn.FailTokens(1, http.StatusServiceUnavailable)
		if _, err := newMI(t, tn, managedidentity.SystemAssigned()).AcquireToken(t.Context(), tn.GraphEndpoint); err != nil {
			t.Errorf("MSAL did not get past one 503: %v", err)
		}
		if tn.TokenRequests() != 2 || tn.TokensIssued() != 1 {
			t.Errorf("TokenRequests, TokensIssued = %d, %d; want 2, 1", tn.TokenRequests(), tn.TokensIssued())
		}
	})
	t.Run("lasting failure", func(t *testing.T) {
		tn := graphtest.NewTenant(t)
		setEnv(t, tn)
		tn.FailTokens(-1, http.StatusInternalServerError)
		_, err := newMI(t, tn, managedidentity.SystemAssigned()).AcquireToken(t.Context(), tn.GraphEndpoint)
		if err == nil || !strings.Contains(err.Error(), "500") {
			t.Errorf("got %v, want a 500", err)
		}
		if tn.TokenRequests() != 3 {
			t.Errorf("TokenRequests = %d, want MSAL's 3 attempts", tn.TokenRequests())
		}
	})
}

// TestGraphServesOperations reads the seed document's examples back, by
// escaped and unescaped paths.
func TestGraphServesOperations(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	tok := token(t, tn)
	// Password-reset operations take only delegated tokens: alice reads her own.
	alice := delegatedToken(t, tn, "alice@contoso.com")
	for _, tc := range []struct {
		request string
		want    map[string]any
		context string
	}{
		{alertPath, alertRunning(), "/beta/$metadata#identityGovernance/roleManagementAlerts/operations/$entity"},
		{"/beta/users/alice%40contoso.com/authentication/operations/2d497bb-57bd-47a6-8749-5ccd0869f2bd", passwordReset(),
			"/beta/$metadata#users/alice@contoso.com/authentication/operations/$entity"},
		{industryPath, industryImport(), "/beta/$metadata#external/industryData/operations/$entity"},
		{strings.ReplaceAll(sitePath, ",", "%2C"), siteCopy(),
			"/v1.0/$metadata#sites/contoso.sharepoint.com,2c712604-1370-44e7-a1f5-426573fda80a,2d2244c3-251a-49ea-93a8-39e1c3a060fe/operations/$entity"},
		{sitePath, siteCopy(), ""},
	} {
		t.Run(tc.request, func(t *testing.T) {
			tok := tok
			if strings.Contains(tc.request, "/authentication/operations/") {
				tok = alice
			}
			r := get(t, tn, tok, tc.request, "client-request-id", "c0ffee00-0000-4000-8000-000000000001")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", r.StatusCode, r.body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if id := r.Header.Get("request-id"); !guid.MatchString(id) {
				t.Errorf("request-id %q is not a GUID", id)
			}
			if got := r.Header.Get("client-request-id"); got != "c0ffee00-0000-4000-8000-000000000001" {
				t.Errorf("client-request-id echoed as %q", got)
			}
			got := decode(t, r.body)
			if tc.context != "" {
				if got["@odata.context"] != tn.GraphEndpoint+tc.context {
					t.Errorf("@odata.context = %v, want %s", got["@odata.context"], tn.GraphEndpoint+tc.context)
				}
			}
			delete(got, "@odata.context")
			want := decode(t, mustMarshal(t, tc.want))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body\n%s\nwant\n%s", r.body, mustMarshal(t, tc.want))
			}
		})
	}
	if got := tn.RequestsFor(sitePath); got != 2 {
		t.Errorf("RequestsFor(site operation) = %d, want 2 (escaped and not)", got)
	}
	if got := tn.LastClientRequestID(); got != "c0ffee00-0000-4000-8000-000000000001" {
		t.Errorf("LastClientRequestID = %q", got)
	}
	if r := get(t, tn, tok, alertPath); r.Header.Get("client-request-id") != "" || tn.LastClientRequestID() != "" {
		t.Errorf("a request without client-request-id: echoed %q, recorded %q", r.Header.Get("client-request-id"), tn.LastClientRequestID())
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSelectAndQuery(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	tok := token(t, tn)
	r := get(t, tn, tok, alertPath+"?$select=status,lastActionDateTime&aadgdc=x&aadgsu=y")
	got := decode(t, r.body)
	want := map[string]any{
		"@odata.context":     tn.GraphEndpoint + "/beta/$metadata#identityGovernance/roleManagementAlerts/operations(status,lastActionDateTime)/$entity",
		"status":             "running",
		"lastActionDateTime": "2023-06-09T22:52:09.0296021Z",
	}
	if r.StatusCode != http.StatusOK || !reflect.DeepEqual(got, want) {
		t.Errorf("$select: %d %v, want %v", r.StatusCode, got, want)
	}
	q := tn.LastQuery(alertPath)
	if q.Get("$select") != "status,lastActionDateTime" || q.Get("aadgdc") != "x" || q.Get("aadgsu") != "y" {
		t.Errorf("LastQuery = %v", q)
	}
	// An escaped $ is the same query parameter.
	r = get(t, tn, delegatedToken(t, tn, "alice@contoso.com"), resetPath+"?%24select=status")
	if got := decode(t, r.body); len(got) != 2 || got["status"] != "running" {
		t.Errorf("%%24select: %s", r.body)
	}
	if tn.LastQuery("/beta/never/requested") != nil {
		t.Error("LastQuery of a path never requested is not nil")
	}
}

func TestUnauthorized(t *testing.T) {
	tn := graphtest.NewTenant(t)
	other := graphtest.NewTenant(t)
	seed(tn)
	for _, tc := range []struct {
		name, token, msg string
	}{
		{"no token", "", "Access token is empty."},
		{"another tenant's token", token(t, other), "Access token validation failure. Invalid audience."},
		{"made up", "eyJ0eXAiOiJKV1QifQ.e30.c2ln", "Access token validation failure. Invalid audience."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, tn, tc.token, alertPath, "client-request-id", "11111111-2222-4333-8444-555555555555")
			code, msg, inner := graphErr(t, r.body)
			if r.StatusCode != http.StatusUnauthorized || code != "InvalidAuthenticationToken" || msg != tc.msg {
				t.Errorf("got %d %s %q, want 401 InvalidAuthenticationToken %q", r.StatusCode, code, msg, tc.msg)
			}
			if inner["request-id"] != r.Header.Get("request-id") || inner["client-request-id"] != "11111111-2222-4333-8444-555555555555" || inner["date"] == "" {
				t.Errorf("innerError %v", inner)
			}
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if tn.Unauthorized() != 3 || tn.Requests() != 3 {
		t.Errorf("Unauthorized, Requests = %d, %d; want 3, 3", tn.Unauthorized(), tn.Requests())
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	tok := token(t, tn)
	r := get(t, tn, tok, "/beta/identityGovernance/roleManagementAlerts/operations/refresh:nope")
	if code, _, _ := graphErr(t, r.body); r.StatusCode != http.StatusNotFound || code != "ResourceNotFound" {
		t.Errorf("unknown operation: %d %s", r.StatusCode, r.body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, tn.GraphEndpoint+alertPath, nil)
	if r := do(t, tn, req, tok); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d %s", r.StatusCode, r.body)
	}
	tn.RemoveOperation(alertPath)
	if r := get(t, tn, tok, alertPath); r.StatusCode != http.StatusNotFound {
		t.Errorf("after RemoveOperation: %d %s", r.StatusCode, r.body)
	}
}

func TestSetStatusAndUpdate(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	tok := token(t, tn)
	// The seed document's second example: the refresh succeeded at
	// 2023-06-09T22:56:09.0296021Z.
	tn.SetClock(func() time.Time { return time.Date(2023, 6, 9, 22, 56, 9, 29602100, time.UTC) })
	tn.SetStatus(alertPath, "succeeded")
	tn.UpdateOperation(alertPath, map[string]any{
		"resourceLocation": "https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert",
		"statusDetail":     nil,
	})
	got := decode(t, get(t, tn, tok, alertPath).body)
	want := alertRunning()
	want["status"] = "succeeded"
	want["lastActionDateTime"] = "2023-06-09T22:56:09.0296021Z"
	want["resourceLocation"] = "https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"
	want["statusDetail"] = nil
	want["@odata.context"] = tn.GraphEndpoint + "/beta/$metadata#identityGovernance/roleManagementAlerts/operations/$entity"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}

	// Values are copied when set.
	fields := map[string]any{"status": "running", "id": "x"}
	tn.SetOperation("/beta/external/industryData/operations/x", fields)
	fields["status"] = "failed"
	if got := decode(t, get(t, tn, tok, "/beta/external/industryData/operations/x").body); got["status"] != "running" {
		t.Errorf("a later change to the caller's map showed through: %v", got)
	}
}

func TestFaults(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	tok := token(t, tn)
	empty, notJSON := "", "{not json"

	t.Run("429 with Retry-After, once", func(t *testing.T) {
		tn.Inject(alertPath, graphtest.Fault{Status: 429, RetryAfter: "2", Times: 1})
		r := get(t, tn, tok, alertPath)
		code, _, _ := graphErr(t, r.body)
		if r.StatusCode != 429 || r.Header.Get("Retry-After") != "2" || code != "TooManyRequests" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("got %d Retry-After %q %s", r.StatusCode, r.Header.Get("Retry-After"), r.body)
		}
		if r := get(t, tn, tok, alertPath); r.StatusCode != 200 {
			t.Errorf("after Times ran out: %d", r.StatusCode)
		}
	})
	t.Run("500, 503 then normal, in order", func(t *testing.T) {
		tn.Inject(alertPath, graphtest.Fault{Status: 500, Times: 1})
		tn.Inject(alertPath, graphtest.Fault{Status: 503, RetryAfter: "0.5", Times: 2})
		for i, want := range []int{500, 503, 503, 200} {
			r := get(t, tn, tok, alertPath)
			if r.StatusCode != want {
				t.Errorf("request %d: %d, want %d", i, r.StatusCode, want)
			}
			if want == 500 {
				if code, _, _ := graphErr(t, r.body); code != "InternalServerError" {
					t.Errorf("500 code %q", code)
				}
			}
		}
	})
	t.Run("empty body", func(t *testing.T) {
		tn.Inject(alertPath, graphtest.Fault{Status: 503, Body: &empty, Times: 1})
		r := get(t, tn, tok, alertPath)
		if r.StatusCode != 503 || len(r.body) != 0 || r.Header.Get("Content-Type") != "" {
			t.Errorf("got %d %q Content-Type %q", r.StatusCode, r.body, r.Header.Get("Content-Type"))
		}
	})
	t.Run("malformed 200", func(t *testing.T) {
		tn.Inject(alertPath, graphtest.Fault{Status: 200, Body: &notJSON, Times: 1})
		r := get(t, tn, tok, alertPath)
		if r.StatusCode != 200 || string(r.body) != notJSON || strings.Contains(r.Header.Get("Content-Type"), "json") {
			t.Errorf("got %d %q Content-Type %q", r.StatusCode, r.body, r.Header.Get("Content-Type"))
		}
	})
	t.Run("reset", func(t *testing.T) {
		tn.Inject(alertPath, graphtest.Fault{Reset: true})
		before := tn.RequestsFor(alertPath)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, tn.GraphEndpoint+alertPath, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := tn.HTTPClient().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a reset connection answered %d", resp.StatusCode)
		}
		if tn.RequestsFor(alertPath) == before {
			t.Error("the reset request was not counted")
		}
		tn.ClearFaults()
		if r := get(t, tn, tok, alertPath); r.StatusCode != 200 {
			t.Errorf("after ClearFaults: %d", r.StatusCode)
		}
	})
	t.Run("latency", func(t *testing.T) {
		tn.Inject(alertPath, graphtest.Fault{Latency: 300 * time.Millisecond, Times: 1})
		start := time.Now()
		r := get(t, tn, tok, alertPath)
		if d := time.Since(start); r.StatusCode != 200 || d < 300*time.Millisecond {
			t.Errorf("got %d after %v, want 200 after at least 300ms", r.StatusCode, d)
		}
		start = time.Now()
		if get(t, tn, tok, alertPath); time.Since(start) > 250*time.Millisecond {
			t.Errorf("the latency fault outlived Times: %v", time.Since(start))
		}
	})
	t.Run("latency respects the client going away", func(t *testing.T) {
		tn.Inject(alertPath, graphtest.Fault{Latency: time.Hour, Times: 1})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tn.GraphEndpoint+alertPath, nil)
		start := time.Now()
		resp, err := tn.HTTPClient().Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("got %d %s after %v", resp.StatusCode, b, time.Since(start))
		}
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Errorf("got %v after %v", err, time.Since(start))
		}
	})
	t.Run("every request", func(t *testing.T) {
		tn.Inject("", graphtest.Fault{Status: 429, Times: 2})
		for _, p := range []string{resetPath, "/v1.0/anything"} {
			if r := get(t, tn, "", p); r.StatusCode != 429 {
				t.Errorf("%s: %d, want 429 before the token is checked", p, r.StatusCode)
			}
		}
		if r := get(t, tn, delegatedToken(t, tn, "alice@contoso.com"), resetPath); r.StatusCode != 200 {
			t.Errorf("after Times ran out: %d", r.StatusCode)
		}
	})
	for _, w := range []struct {
		name string
		set  func(time.Duration)
	}{{"SetLatency", tn.SetLatency}, {"SetAnswerTime", tn.SetAnswerTime}} {
		t.Run(w.name, func(t *testing.T) {
			w.set(120 * time.Millisecond)
			defer w.set(0)
			start := time.Now()
			if r := get(t, tn, "", "/v1.0/nothing"); r.StatusCode != 401 || time.Since(start) < 120*time.Millisecond {
				t.Errorf("got %d after %v, want 401 after 120ms", r.StatusCode, time.Since(start))
			}
		})
	}
	t.Run("SetAnswerTime holds what comes before the answer", func(t *testing.T) {
		defer tn.SetAnswerTime(0)
		// A fault's latency counts within the answer time, as the
		// tenant's work would.
		tn.SetAnswerTime(300 * time.Millisecond)
		tn.Inject("/v1.0/slow", graphtest.Fault{Latency: 250 * time.Millisecond, Times: 1})
		start := time.Now()
		if r := get(t, tn, "", "/v1.0/slow"); r.StatusCode != 401 {
			t.Errorf("got %d", r.StatusCode)
		}
		if d := time.Since(start); d < 300*time.Millisecond || d >= 550*time.Millisecond {
			t.Errorf("answered after %v, want 300 ms (the latency within the answer time), not 550", d)
		}
		// A reset waits for it too (Go's transport, which sends a GET
		// again after a reset, gets the same reset each time).
		tn.SetAnswerTime(120 * time.Millisecond)
		tn.Inject("/v1.0/reset", graphtest.Fault{Reset: true})
		defer tn.ClearFaults()
		start = time.Now()
		resp, err := tn.HTTPClient().Get(tn.GraphEndpoint + "/v1.0/reset")
		if err == nil {
			resp.Body.Close()
			t.Errorf("a reset answered %d", resp.StatusCode)
		}
		if d := time.Since(start); d < 120*time.Millisecond {
			t.Errorf("the reset came after %v, before the answer time", d)
		}
	})
}

// TestCloseDuringLatency checks that Close does not wait out injected
// latency.
func TestCloseDuringLatency(t *testing.T) {
	tn, err := graphtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	tn.SetLatency(time.Hour)
	done := make(chan error, 1)
	go func() {
		resp, err := tn.HTTPClient().Get(tn.GraphEndpoint + alertPath)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for tn.Requests() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	tn.Close()
	tn.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	<-done
	if _, err := os.Stat(tn.CAFile); !os.IsNotExist(err) {
		t.Errorf("CAFile still there after Close: %v", err)
	}
}

func TestCounters(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	tok := token(t, tn)
	get(t, tn, tok, alertPath)
	get(t, tn, tok, strings.ReplaceAll(alertPath, ":", "%3A"))
	get(t, tn, tok, resetPath)
	get(t, tn, "", "/beta/unknown")
	if tn.Requests() != 4 || tn.RequestsFor(alertPath) != 2 || tn.RequestsFor(resetPath) != 1 || tn.RequestsFor("/beta/unknown") != 1 || tn.Unauthorized() != 1 {
		t.Errorf("Requests %d, alert %d, reset %d, unknown %d, Unauthorized %d; want 4, 2, 1, 1, 1",
			tn.Requests(), tn.RequestsFor(alertPath), tn.RequestsFor(resetPath), tn.RequestsFor("/beta/unknown"), tn.Unauthorized())
	}
	tn.ResetCounters()
	if tn.Requests() != 0 || tn.RequestsFor(alertPath) != 0 || tn.Unauthorized() != 0 || tn.TokenRequests() != 0 || tn.TokensIssued() != 0 || tn.LastQuery(alertPath) != nil {
		t.Error("ResetCounters left a counter")
	}
	if r := get(t, tn, tok, alertPath); r.StatusCode != 200 {
		t.Errorf("ResetCounters forgot the token or the operation: %d", r.StatusCode)
	}
}

func TestBatch(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	tok := token(t, tn)
	tn.Inject(resetPath, graphtest.Fault{Status: 429, RetryAfter: "3", Times: 1})
	batch := func(body string) response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tn.GraphEndpoint+"/beta/$batch", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return do(t, tn, req, tok)
	}
	r := batch(`{"requests":[
		{"id":"1","method":"GET","url":"/identityGovernance/roleManagementAlerts/operations/` + alertID + `?$select=status"},
		{"id":"2","method":"GET","url":"users/alice%40contoso.com/authentication/operations/2d497bb-57bd-47a6-8749-5ccd0869f2bd"},
		{"id":"3","method":"GET","url":"/external/industryData/operations/missing"}]}`)
	if r.StatusCode != 200 {
		t.Fatalf("batch: %d %s", r.StatusCode, r.body)
	}
	var got struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    map[string]any    `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || len(got.Responses) != 3 {
		t.Fatalf("batch answer %s: %v", r.body, err)
	}
	one, two, three := got.Responses[0], got.Responses[1], got.Responses[2]
	if one.ID != "1" || one.Status != 200 || one.Body["status"] != "running" || len(one.Body) != 2 {
		t.Errorf("inner 1: %+v", one)
	}
	if two.ID != "2" || two.Status != 429 || two.Headers["Retry-After"] != "3" {
		t.Errorf("inner 2: %+v, want 429 with its own Retry-After", two)
	}
	if e, _ := three.Body["error"].(map[string]any); three.Status != 404 || e["code"] != "ResourceNotFound" {
		t.Errorf("inner 3: %+v", three)
	}
	if tn.Requests() != 1 || tn.RequestsFor(alertPath) != 1 || tn.RequestsFor(resetPath) != 1 || tn.RequestsFor("/beta/$batch") != 1 {
		t.Errorf("Requests %d, alert %d, reset %d, batch %d; want 1 each",
			tn.Requests(), tn.RequestsFor(alertPath), tn.RequestsFor(resetPath), tn.RequestsFor("/beta/$batch"))
	}
	if tn.LastQuery(alertPath).Get("$select") != "status" {
		t.Errorf("inner query not recorded: %v", tn.LastQuery(alertPath))
	}

	var many []string
	for i := range 21 {
		many = append(many, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/me"}`, i))
	}
	if r := batch(`{"requests":[` + strings.Join(many, ",") + `]}`); r.StatusCode != 400 {
		t.Errorf("21 requests: %d, want 400", r.StatusCode)
	}
	if r := batch(`not json`); r.StatusCode != 400 {
		t.Errorf("not JSON: %d, want 400", r.StatusCode)
	}
}

func TestListOperations(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	for _, id := range []string{"a", "b"} {
		tn.SetOperation("/beta/external/industryData/operations/"+id, map[string]any{"id": id, "status": "running"})
	}
	tok := token(t, tn)
	var ids []string
	next := tn.GraphEndpoint + "/beta/external/industryData/operations?$top=2&$select=id"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		if !strings.HasPrefix(next, tn.GraphEndpoint+"/") {
			t.Fatalf("nextLink %q leaves the Graph endpoint", next)
		}
		r := get(t, tn, tok, strings.TrimPrefix(next, tn.GraphEndpoint))
		var page struct {
			Context string           `json:"@odata.context"`
			Value   []map[string]any `json:"value"`
			Next    string           `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil || r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
		for _, v := range page.Value {
			ids = append(ids, v["id"].(string))
			if len(v) != 1 {
				t.Errorf("$select=id gave %v", v)
			}
		}
		next = page.Next
	}
	if want := []string{"a", "b", "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("listed %v, want %v", ids, want)
	}
	r := get(t, tn, tok, "/v1.0/sites/contoso.sharepoint.com,0,0/operations")
	if r.StatusCode != 200 || !bytes.Contains(r.body, []byte(`"value":[]`)) {
		t.Errorf("an empty list: %d %s", r.StatusCode, r.body)
	}
}

func TestCAFile(t *testing.T) {
	tn := graphtest.NewTenant(t)
	pemBytes, err := os.ReadFile(tn.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CAFile holds no certificate")
	}
	for _, p := range []*x509.CertPool{pool, tn.RootCAs()} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p}}}
		for _, u := range []string{tn.GraphEndpoint + "/v1.0/x", tn.AuthorityHost + "/" + tn.TenantID + "/v2.0/.well-known/openid-configuration"} {
			resp, err := c.Get(u)
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			resp.Body.Close()
		}
		c.CloseIdleConnections()
	}
	if _, err := http.Get(tn.GraphEndpoint + "/v1.0/x"); err == nil {
		t.Error("a client that does not trust the certificate got through")
	}
}

// fakeTB records what NewTenant asks of a test.
type fakeTB struct {
	cleanups []func()
	fatal    string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestNewTenantCleanup(t *testing.T) {
	var tb fakeTB
	tn := graphtest.NewTenant(&tb)
	if tb.fatal != "" || len(tb.cleanups) != 1 {
		t.Fatalf("fatal %q, %d cleanups", tb.fatal, len(tb.cleanups))
	}
	client := tn.HTTPClient()
	if _, err := os.Stat(tn.CAFile); err != nil {
		t.Fatal(err)
	}
	tb.cleanups[0]()
	if _, err := os.Stat(tn.CAFile); !os.IsNotExist(err) {
		t.Errorf("CAFile after cleanup: %v", err)
	}
	if resp, err := client.Get(tn.GraphEndpoint + "/v1.0/x"); err == nil {
		resp.Body.Close()
		t.Error("Graph still answers after cleanup")
	}
}

// TestConcurrentUse is for the race detector: scrapes, state changes and
// counters at once.
func TestConcurrentUse(t *testing.T) {
	tn := graphtest.NewTenant(t)
	seed(tn)
	tok := token(t, tn)
	client := tn.HTTPClient()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				path := alertPath
				if (g+i)%2 == 0 {
					path = sitePath
				}
				req, _ := http.NewRequest(http.MethodGet, tn.GraphEndpoint+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.StatusCode != 429 {
					errs <- fmt.Errorf("%s: %d", path, resp.StatusCode)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			tn.SetStatus(alertPath, []string{"running", "succeeded"}[i%2])
			tn.UpdateOperation(sitePath, map[string]any{"percentageComplete": i})
			tn.Inject(alertPath, graphtest.Fault{Status: 429, Times: 1})
			_ = tn.Requests() + tn.RequestsFor(alertPath) + tn.Unauthorized()
			_ = tn.LastQuery(alertPath)
			_ = tn.LastClientRequestID()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if tn.Requests() != 16*20 {
		t.Errorf("Requests = %d, want %d", tn.Requests(), 16*20)
	}
}
