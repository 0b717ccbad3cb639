package graphtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// jwtBearer is the client_assertion_type of a signed or federated assertion.
const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionSkew is how far an assertion's exp and nbf may be off.
const assertionSkew = 5 * time.Minute

// SetTokenLifetime sets the lifetime of the access tokens issued from now
// on (default 1h), app-only and delegated: expires_in in the token
// endpoint's answer, expires_on in the managed identity endpoint's. Graph
// refuses a token once the tenant's clock passes its expiry.
//
// MSAL caches a token only while it has more than 5 minutes left by the
// real clock, so with a lifetime of 5 minutes or less every
// AcquireTokenByCredential goes to the token endpoint, and every
// AcquireTokenSilent of the public client redeems the refresh token.
func (t *Tenant) SetTokenLifetime(d time.Duration) {
	t.mu.Lock()
	t.tokenLifetime = max(d, 0)
	t.mu.Unlock()
}

// appCert is the application's certificate credential.
type appCert struct {
	pem        []byte
	pub        *rsa.PublicKey
	thumbprint [sha256.Size]byte // x5t#S256
}

// CertificatePEM returns a certificate and its RSA private key (PKCS #8),
// PEM-encoded, registered as this application's credential: the token
// endpoint accepts an assertion signed with the key, as
// confidential.CertFromPEM(CertificatePEM(), "") and NewCredFromCert make.
// The pair is generated on the first call.
func (t *Tenant) CertificatePEM() []byte {
	c, err := t.appCertificate(true)
	if err != nil {
		panic(fmt.Sprintf("graphtest: generating the application certificate: %v", err))
	}
	return append([]byte(nil), c.pem...)
}

// appCertificate returns the application certificate, making it if create
// is set; without create it returns nil if none was made yet.
func (t *Tenant) appCertificate(create bool) (*appCert, error) {
	t.certMu.Lock()
	defer t.certMu.Unlock()
	if t.app != nil || !create {
		return t.app, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: "graphtest application " + t.clientID},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p = append(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
	t.app = &appCert{pem: p, pub: &key.PublicKey, thumbprint: sha256.Sum256(der)}
	return t.app, nil
}

// SubjectNameCertificatePEM returns a new certificate for subject (its
// common name), issued by a certificate authority the tenant trusts, then
// that authority's certificate, then the certificate's RSA private key
// (PKCS #8), PEM-encoded. This is subject name and issuer authentication:
// the app registration trusts the subject (trustedCertificateSubjects), so
// an assertion signed with any such certificate is accepted without it
// being registered, as long as the assertion carries the chain in its x5c
// header (MSAL's WithX5C); without x5c the key is "not found". Each call
// issues a new certificate, as a renewal does, and all are accepted.
func (t *Tenant) SubjectNameCertificatePEM(subject string) []byte {
	p, err := t.subjectNameCertificate(subject)
	if err != nil {
		panic(fmt.Sprintf("graphtest: issuing a subject name certificate: %v", err))
	}
	return p
}

func (t *Tenant) subjectNameCertificate(subject string) ([]byte, error) {
	t.certMu.Lock()
	defer t.certMu.Unlock()
	now := time.Now()
	if t.snCA == nil {
		key, der, err := selfSignedCA("graphtest trusted issuing CA", 5, nil)
		if err != nil {
			return nil, err
		}
		if t.snCA, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
		t.snCAKey, t.snSubjects = key, map[string]bool{}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: subject},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.snCA, &key.PublicKey, t.snCAKey)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	t.snSubjects[subject] = true
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p = append(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.snCA.Raw})...)
	return append(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...), nil
}

// DistrustSubject removes subject from the subjects the app registration
// trusts: its certificates are refused from then on, chain or not.
func (t *Tenant) DistrustSubject(subject string) {
	t.certMu.Lock()
	delete(t.snSubjects, subject)
	t.certMu.Unlock()
}

// subjectNameKey is the public key of an assertion's x5c chain when the
// chain is one subject name and issuer authentication accepts: its first
// certificate is the one x5t#S256 names (when given), has a trusted
// subject, and chains to the trusted issuer. Otherwise nil.
func (t *Tenant) subjectNameKey(x5c []string, x5t []byte) *rsa.PublicKey {
	if len(x5c) == 0 {
		return nil
	}
	t.certMu.Lock()
	ca, subjects := t.snCA, t.snSubjects
	t.certMu.Unlock()
	if ca == nil {
		return nil
	}
	var chain []*x509.Certificate
	for _, c := range x5c {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return nil
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil
		}
		chain = append(chain, cert)
	}
	leaf := chain[0]
	if x5t != nil {
		sum := sha256.Sum256(leaf.Raw)
		if subtle.ConstantTimeCompare(sum[:], x5t) != 1 {
			return nil
		}
	}
	t.certMu.Lock()
	trusted := subjects[leaf.Subject.CommonName]
	t.certMu.Unlock()
	if !trusted {
		return nil
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca)
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil
	}
	pub, _ := leaf.PublicKey.(*rsa.PublicKey)
	return pub
}

// FederatedToken returns the federated assertion the token endpoint
// accepts as client_assertion, a JWT-looking string like the service
// account token workload identity projects into a pod. Only the exact
// string is checked, not its claims or signature.
func (t *Tenant) FederatedToken() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fedToken
}

// SetFederatedToken replaces the accepted federated assertion, as a token
// file rotation does; the previous one is refused from then on.
func (t *Tenant) SetFederatedToken(s string) {
	t.mu.Lock()
	t.fedToken = s
	t.mu.Unlock()
}

// newFederatedToken makes a random JWT-shaped federated assertion.
func newFederatedToken(tenantID string) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": randString(keyAlphabet, 43), "typ": "JWT"})
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"aud": []string{"api://AzureADTokenExchange"},
		"exp": now + 86400,
		"iat": now,
		"nbf": now,
		"iss": "https://oidc.graphtest.invalid/" + tenantID + "/",
		"sub": "system:serviceaccount:monitoring:msgraph-lro-exporter",
	})
	sig := make([]byte, 256)
	_, _ = rand.Read(sig)
	return enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

// keyAlphabet is base64url's alphabet.
const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// SetManagedIdentityClientID sets the client id of the user-assigned
// managed identity that /msi/token accepts ("" for none, the default). The
// system-assigned identity (no client_id parameter) is always accepted.
func (t *Tenant) SetManagedIdentityClientID(id string) {
	t.mu.Lock()
	t.miClientID = id
	t.mu.Unlock()
}

// FailTokens makes the next n token requests, to the token endpoint (any
// grant: client credentials, device code polls, authorization code,
// refresh token) and to /msi/token, fail with the HTTP status given (0
// means 503) and an error body in the identity platform's shape, whatever
// credential they carry. n < 0 fails every request until FailTokens(0, 0).
// The device code and authorize endpoints are not token requests and do
// not fail. A failed device code poll does not spend the code.
//
// MSAL's confidential client does not retry; its managed identity client
// retries 408, 429, 500, 502, 503 and 504 twice, a second apart, and each
// attempt counts in TokenRequests.
func (t *Tenant) FailTokens(n int, status int) {
	t.FailTokensWith(n, TokenFault{Status: status})
}

// TokenFault is how FailTokensWith makes token requests misbehave, the
// ways the identity platform and what stands in front of it do.
type TokenFault struct {
	// Status is the HTTP status of the error answer; 0 means 503.
	Status int
	// RetryAfter is the Retry-After header of the error answer, as sent
	// ("30", an HTTP date); empty sends none.
	RetryAfter string
	// NoExpiresIn answers 200 with a valid token but no expires_in, which
	// MSAL takes for a token already expired and never caches.
	NoExpiresIn bool
	// NotJSON answers 200 with an HTML page, as a captive portal or a
	// proxy's error page does.
	NotJSON bool
	// BodyBytes pads the error answer's body to this many bytes (a 50 MB
	// answer), written in pieces with no Content-Length.
	BodyBytes int
	// Stall holds the answer this long, or until the client gives up.
	Stall time.Duration
	// EchoSecret quotes the request's client_secret in the error
	// description, JSON-escaped as the answer's encoding does, as a
	// careless proxy or an old endpoint's debugging aid may.
	EchoSecret bool
}

// FailTokensWith makes the next n token requests (n < 0: every one, until
// FailTokens(0, 0)) misbehave as f says; see FailTokens for which requests
// count.
func (t *Tenant) FailTokensWith(n int, f TokenFault) {
	if f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
	}
	t.mu.Lock()
	t.failN, t.failWith = n, f
	t.mu.Unlock()
}

// TokenRequests returns how many requests the token endpoint (every grant)
// and /msi/token received, whatever their outcome; TokenRequestsByGrant
// splits them.
func (t *Tenant) TokenRequests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tokenRequests
}

// TokensIssued returns how many access tokens the tenant issued.
func (t *Tenant) TokensIssued() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tokensIssued
}

// serveIdentity is the identity platform's handler.
func (t *Tenant) serveIdentity(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	if h, _, _ := strings.Cut(r.Host, ":"); strings.EqualFold(h, WorldwideHost) {
		t.serveWorldwide(w, r)
		return
	}
	if r.URL.Path == "/msi/token" {
		t.serveManagedIdentity(w, r)
		return
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) == 4 && segs[1] == "v2.0" && segs[2] == ".well-known" && segs[3] == "openid-configuration":
		t.serveOpenIDConfiguration(w, r, segs[0])
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token":
		t.serveToken(w, r, segs[0])
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "devicecode":
		t.serveDeviceCode(w, r, segs[0])
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "authorize":
		t.serveAuthorize(w, r, segs[0])
	case r.URL.Path == "/devicelogin":
		t.serveDeviceLogin(w, r)
	default:
		t.aadError(w, r, http.StatusNotFound, "invalid_request", 90010,
			fmt.Sprintf("The request is not supported by the simulated identity platform: %s %s.", r.Method, r.URL.Path))
	}
}

// serveOpenIDConfiguration answers MSAL's tenant discovery. The issuer
// has the authority's scheme and host, which is what MSAL's
// ValidateIssuerMatchesAuthority wants of a host it does not know.
func (t *Tenant) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodGet {
		t.aadError(w, r, http.StatusMethodNotAllowed, "invalid_request", 90056, "The request must be a GET.")
		return
	}
	if !strings.EqualFold(tenant, t.tenantID) {
		t.aadError(w, r, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf(
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	base := t.authorityHost + "/" + t.tenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   strings.TrimPrefix(t.authorityHost, "https://"),
		"msgraph_host":                          strings.TrimPrefix(t.graphEndpoint, "https://"),
	})
}

// beginTokenRequest counts a token request of a grant type and says
// whether FailTokensWith wants it to misbehave, and how.
func (t *Tenant) beginTokenRequest(grant string) (f TokenFault, fail bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokenRequests++
	t.grantRequests[grant]++
	if t.failN == 0 {
		return TokenFault{}, false
	}
	if t.failN > 0 {
		t.failN--
	}
	return t.failWith, true
}

// failToken answers a token request that FailTokensWith made misbehave;
// false means: answer normally, with f's NoExpiresIn.
func (t *Tenant) failToken(w http.ResponseWriter, r *http.Request, f TokenFault) bool {
	if f.Stall > 0 {
		select {
		case <-time.After(f.Stall):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case f.NoExpiresIn:
		return false
	case f.NotJSON:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<html><body><h1>Access denied by the proxy</h1></body></html>")
		return true
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.BodyBytes > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		chunk := []byte(strings.Repeat("AADSTS90033 A transient error has occurred. ", 1<<10))
		for left := f.BodyBytes; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				break
			}
		}
		return true
	}
	status := f.Status
	if f.EchoSecret {
		t.aadError(w, r, status, "invalid_client", 7000215, "Invalid client secret provided: '"+r.PostForm.Get("client_secret")+"'.")
		return true
	}
	code, num, desc := "server_error", 50000, "There was an error issuing a token or an issue with our sign-in service."
	switch {
	case status == http.StatusBadRequest:
		code, num, desc = "invalid_request", 50000, "There was an error issuing a token."
	case status == http.StatusUnauthorized:
		code, num, desc = "invalid_client", 7000222, fmt.Sprintf("The provided client secret keys for app '%s' are expired.", t.clientID)
	case status == http.StatusForbidden:
		code, num, desc = "unauthorized_client", 7000112, fmt.Sprintf("Application '%s' is disabled.", t.clientID)
	case status == http.StatusTooManyRequests:
		code, num, desc = "temporarily_unavailable", 90055, "There are too many incoming requests. Please try again later."
	case status >= 500:
		code, num, desc = "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."
	}
	t.aadError(w, r, status, code, num, desc)
	return true
}

// Grant types, as TokenRequestsByGrant names them. MSAL sends the device
// code grant by its short name; RFC 8628's URN is accepted as the same.
const (
	// GrantClientCredentials is the confidential client's app-only grant.
	GrantClientCredentials = "client_credentials"
	// GrantDeviceCode is the device code poll of the public client.
	GrantDeviceCode = "device_code"
	// GrantAuthorizationCode redeems the code of an interactive sign-in.
	GrantAuthorizationCode = "authorization_code"
	// GrantRefreshToken is the silent renewal of a delegated token.
	GrantRefreshToken = "refresh_token"
	// GrantManagedIdentity counts the requests to /msi/token, which have
	// no grant_type of their own.
	GrantManagedIdentity = "managed_identity"
)

// deviceCodeURN is RFC 8628's name for the device code grant.
const deviceCodeURN = "urn:ietf:params:oauth:grant-type:device_code"

// serveToken is the v2.0 token endpoint: the client credentials grant of
// the confidential client and the device code, authorization code and
// refresh token grants of the public client.
func (t *Tenant) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	// The form is read first so that the request counts under its grant,
	// also when FailTokens makes it fail.
	var form url.Values
	var formErr error
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		formErr = r.ParseForm()
		form = r.PostForm
	}
	grant := form.Get("grant_type")
	if grant == deviceCodeURN {
		grant = GrantDeviceCode
	}
	f, fail := t.beginTokenRequest(grant)
	if fail && t.failToken(w, r, f) {
		return
	}
	if !t.postToTenant(w, r, tenant) {
		return
	}
	if formErr != nil {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
		return
	}
	switch grant {
	case GrantClientCredentials:
		t.clientCredentials(w, r, tenant, form, fail && f.NoExpiresIn)
	case GrantDeviceCode:
		t.redeemDeviceCode(w, r, tenant, form)
	case GrantAuthorizationCode:
		t.redeemAuthCode(w, r, tenant, form)
	case GrantRefreshToken:
		t.redeemRefreshToken(w, r, tenant, form)
	case "":
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	default:
		t.aadError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf(
			"The app requested an unsupported grant type '%s'. The simulated tenant knows client_credentials, device_code, authorization_code and refresh_token.", grant))
	}
}

// checkClientID answers false, having written the error, unless the
// request names this tenant's application.
func (t *Tenant) checkClientID(w http.ResponseWriter, r *http.Request, clientID string) bool {
	if clientID == "" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return false
	}
	if !strings.EqualFold(clientID, t.clientID) {
		t.aadError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'.", clientID, t.tenantID))
		return false
	}
	return true
}

// clientCredential checks the client secret or assertion of a request.
// required says the grant needs one (a confidential client); without it a
// missing credential is accepted (a public client). It answers false,
// having written the error, if the credential is refused; acr is the
// appidacr claim: "0" none, "1" secret, "2" certificate or federated.
func (t *Tenant) clientCredential(w http.ResponseWriter, r *http.Request, tenant string, f url.Values, required bool) (acr string, ok bool) {
	secret, assertion, assertionType := f.Get("client_secret"), f.Get("client_assertion"), f.Get("client_assertion_type")
	switch {
	case secret != "" && assertion != "":
		t.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000216,
			"Only one of 'client_secret' and 'client_assertion' may be sent.")
		return "", false
	case secret != "":
		// Never echo the secret, not even a wrong one.
		if subtle.ConstantTimeCompare([]byte(secret), []byte(t.clientSecret)) != 1 {
			t.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", t.clientID))
			return "", false
		}
		return "1", true
	case assertion != "":
		if assertionType != jwtBearer {
			t.aadError(w, r, http.StatusBadRequest, "invalid_request", 7000216, fmt.Sprintf(
				"'client_assertion_type' must be '%s'.", jwtBearer))
			return "", false
		}
		if status, code, num, desc := t.checkAssertion(assertion, t.authorityHost+"/"+tenant+"/oauth2/v2.0/token"); status != 0 {
			t.aadError(w, r, status, code, num, desc)
			return "", false
		}
		return "2", true
	case required:
		t.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return "", false
	}
	return "0", true
}

// clientCredentials is the client credentials grant: an app-only token.
// noExpiresIn leaves expires_in out of the answer (TokenFault).
func (t *Tenant) clientCredentials(w http.ResponseWriter, r *http.Request, tenant string, f url.Values, noExpiresIn bool) {
	if !t.checkClientID(w, r, f.Get("client_id")) {
		return
	}
	if !t.scopeOK(f.Get("scope")) {
		t.aadError(w, r, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI): %s/.default.",
			f.Get("scope"), t.graphEndpoint))
		return
	}
	acr, ok := t.clientCredential(w, r, tenant, f, true)
	if !ok {
		return
	}
	token, lifetime := t.issueApp(t.clientID, acr)
	secs := int64(lifetime / time.Second)
	answer := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   token,
	}
	if noExpiresIn {
		delete(answer, "expires_in")
		delete(answer, "ext_expires_in")
	}
	writeJSON(w, http.StatusOK, answer)
}

// postToTenant answers a request to an endpoint of the identity platform
// that is not a POST, or not for this tenant, as Entra ID does, and says
// whether the request may go on.
func (t *Tenant) postToTenant(w http.ResponseWriter, r *http.Request, tenant string) bool {
	if r.Method != http.MethodPost {
		t.aadError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return false
	}
	if !strings.EqualFold(tenant, t.tenantID) {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf(
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return false
	}
	return true
}

// scopeOK says whether a token request asks for Graph's .default scope
// and nothing else. MSAL adds openid, profile and offline_access to every
// request; the identity platform ignores them in a client credentials grant.
func (t *Tenant) scopeOK(scope string) bool {
	var rest []string
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "profile", "offline_access":
		default:
			rest = append(rest, s)
		}
	}
	return len(rest) == 1 && rest[0] == t.graphEndpoint+"/.default"
}

// checkAssertion accepts the current federated token or a JWT signed with
// the application certificate's key (RS256, or PS256 as MSAL signs for
// Entra ID) whose aud is the token endpoint and whose iss and sub are the
// client id. Its answer is zero or the error to send. exp and nbf are
// checked against the real clock, with which MSAL stamps them, not the
// tenant's.
func (t *Tenant) checkAssertion(assertion, tokenEndpoint string) (status int, code string, num int, desc string) {
	if fed := t.FederatedToken(); fed != "" && subtle.ConstantTimeCompare([]byte(assertion), []byte(fed)) == 1 {
		return 0, "", 0, ""
	}
	bad := func(num int, desc string) (int, string, int, string) {
		return http.StatusUnauthorized, "invalid_client", num, desc
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return bad(50027, "JWT token is invalid or malformed.")
	}
	enc := base64.RawURLEncoding
	var header struct {
		Alg     string   `json:"alg"`
		X5tS256 string   `json:"x5t#S256"`
		X5c     []string `json:"x5c"`
	}
	var claims struct {
		Aud audience    `json:"aud"`
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Exp json.Number `json:"exp"`
		Nbf json.Number `json:"nbf"`
	}
	hb, err := enc.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil {
		return bad(50027, "JWT token is invalid or malformed.")
	}
	cb, err := enc.DecodeString(parts[1])
	if err != nil || json.Unmarshal(cb, &claims) != nil {
		return bad(50027, "JWT token is invalid or malformed.")
	}
	if !strings.EqualFold(claims.Iss, t.clientID) {
		// Not issued by the application itself, so not a certificate
		// assertion: the identity platform takes it for a federated one.
		return bad(700213, "No matching federated identity record found for presented assertion.")
	}
	// The key is the registered certificate's, which x5t#S256 (when given)
	// names; else, for subject name and issuer authentication, the x5c
	// chain's.
	var x5t []byte
	if header.X5tS256 != "" {
		x5t, err = base64.StdEncoding.DecodeString(header.X5tS256)
		if err != nil {
			x5t, err = enc.DecodeString(header.X5tS256)
		}
		if err != nil {
			return bad(700027, "Client assertion failed signature validation. [Reason - The key was not found.]")
		}
	}
	var pub *rsa.PublicKey
	if app, _ := t.appCertificate(false); app != nil && (x5t == nil || subtle.ConstantTimeCompare(x5t, app.thumbprint[:]) == 1) {
		pub = app.pub
	} else if pub = t.subjectNameKey(header.X5c, x5t); pub == nil {
		return bad(700027, "Client assertion failed signature validation. [Reason - The key was not found.]")
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return bad(50027, "JWT token is invalid or malformed.")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch header.Alg {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	default:
		return bad(5002738, fmt.Sprintf("Invalid JWT token. '%s' is not a supported signature algorithm.", header.Alg))
	}
	if err != nil {
		return bad(700027, "Client assertion failed signature validation.")
	}
	if !claims.Aud.has(tokenEndpoint) {
		return bad(700212, fmt.Sprintf("The audience of the client assertion must be the token endpoint '%s'.", tokenEndpoint))
	}
	if !strings.EqualFold(claims.Sub, t.clientID) {
		return bad(700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
	}
	now := time.Now()
	exp, err := claims.Exp.Int64()
	if err != nil {
		return bad(50027, "JWT token is invalid or malformed: exp is missing.")
	}
	if time.Unix(exp, 0).Before(now.Add(-assertionSkew)) {
		return bad(700024, "Client assertion is not within its valid time range.")
	}
	if claims.Nbf != "" {
		nbf, err := claims.Nbf.Int64()
		if err != nil || time.Unix(nbf, 0).After(now.Add(assertionSkew)) {
			return bad(700024, "Client assertion is not within its valid time range.")
		}
	}
	return 0, "", 0, ""
}

// audience is a JWT aud claim: a string or an array of strings.
type audience []string

// UnmarshalJSON accepts both forms of aud.
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// has says whether s is one of the audiences, ignoring case.
func (a audience) has(s string) bool {
	for _, v := range a {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// serveManagedIdentity is an App Service managed identity endpoint
// (api-version 2019-08-01), the source MSAL picks when IDENTITY_ENDPOINT
// and IDENTITY_HEADER are set.
func (t *Tenant) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	if f, fail := t.beginTokenRequest(GrantManagedIdentity); fail && t.failToken(w, r, f) {
		return
	}
	if r.Method != http.MethodGet {
		t.aadError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The managed identity endpoint only accepts GET requests.")
		return
	}
	if h := r.Header.Get("X-IDENTITY-HEADER"); subtle.ConstantTimeCompare([]byte(h), []byte(t.identityHeader)) != 1 {
		t.aadError(w, r, http.StatusUnauthorized, "invalid_request", 0, "The X-IDENTITY-HEADER header is missing or wrong.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != "2019-08-01" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 0, fmt.Sprintf("Unsupported api-version '%s'; the simulated endpoint speaks 2019-08-01.", v))
		return
	}
	resource := q.Get("resource")
	if resource != t.graphEndpoint && resource != t.graphEndpoint+"/" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf(
			"The resource principal named %s was not found in the tenant named %s.", resource, t.tenantID))
		return
	}
	for _, p := range []string{"mi_res_id", "msi_res_id", "object_id", "principal_id"} {
		if q.Has(p) {
			t.aadError(w, r, http.StatusBadRequest, "invalid_request", 0, fmt.Sprintf(
				"No managed identity found for %s '%s'; the simulated endpoint knows user-assigned identities by client_id only.", p, q.Get(p)))
			return
		}
	}
	t.mu.Lock()
	ua := t.miClientID
	t.mu.Unlock()
	clientID := t.clientID
	if q.Has("client_id") {
		id := q.Get("client_id")
		if ua == "" || !strings.EqualFold(id, ua) {
			t.aadError(w, r, http.StatusBadRequest, "invalid_request", 0, fmt.Sprintf(
				"No managed identity found for client_id '%s'.", id))
			return
		}
		clientID = ua
	}
	token, lifetime := t.issueApp(clientID, "2")
	// expires_on is absolute; take it from the real clock so that MSAL,
	// which compares it with the real clock, sees the lifetime set, also
	// when the tenant's clock is elsewhere.
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"expires_on":   strconv.FormatInt(time.Now().Add(lifetime).Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    clientID,
	})
}

// aadError writes an error in the identity platform's shape. num 0 leaves
// out the AADSTS code (the managed identity endpoint's own errors).
func (t *Tenant) aadError(w http.ResponseWriter, r *http.Request, status int, code string, num int, desc string) {
	t.aadErrorWith(w, r, status, code, num, desc, nil)
}

// aadErrorWith is aadError with more fields in the body, such as the
// suberror of consent_required.
func (t *Tenant) aadErrorWith(w http.ResponseWriter, r *http.Request, status int, code string, num int, desc string, extra map[string]any) {
	now := t.clock().UTC()
	traceID := newGUID()
	correlationID := r.Header.Get("client-request-id")
	if correlationID == "" {
		correlationID = newGUID()
	}
	ts := now.Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error":          code,
		"timestamp":      ts,
		"trace_id":       traceID,
		"correlation_id": correlationID,
	}
	if num != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", num, desc)
		body["error_codes"] = []int{num}
		body["error_uri"] = t.authorityHost + "/error?code=" + strconv.Itoa(num)
	}
	for k, v := range extra {
		body[k] = v
	}
	body["error_description"] = fmt.Sprintf("%s Trace ID: %s Correlation ID: %s Timestamp: %s", desc, traceID, correlationID, ts)
	w.Header().Set("x-ms-request-id", traceID)
	writeJSON(w, status, body)
}

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
