// Package graphtest runs a simulated Microsoft identity platform and
// Microsoft Graph tenant over TLS, for tests, benchmarks and the exporter's
// --demo mode. It plays the part net/http/httptest plays for HTTP: the real
// MSAL client and the exporter's real Graph client talk to it over HTTPS.
//
// A Tenant is two TLS servers on 127.0.0.1 that share one self-signed
// certificate:
//
//   - AuthorityHost, the identity platform: OpenID discovery
//     (/{tenant}/v2.0/.well-known/openid-configuration), the v2.0 token
//     endpoint (/{tenant}/oauth2/v2.0/token) and an App Service style
//     managed identity endpoint (/msi/token). The token endpoint takes the
//     confidential client's client credentials grant (a client secret, a
//     certificate-signed assertion or a federated token) and the public
//     client's delegated grants: device code (the devicecode endpoint,
//     /{tenant}/oauth2/v2.0/devicecode, with the test playing the user
//     through PendingDeviceCodes and ApproveDeviceCode), authorization code
//     with PKCE (the authorize endpoint, /{tenant}/oauth2/v2.0/authorize,
//     signs in the SetBrowserUser user and sends the code to a loopback
//     redirect URI), and refresh token (rotated on every use; RevokeSignIns
//     and RequireInteraction refuse it). The public client is the same app
//     registration, ClientID; its users are those added with AddUser.
//   - WorldwideHost (login.microsoftonline.com), played by the identity
//     platform for instance discovery only: HTTPClient dials it there, and
//     WorldwideProxy reaches it through HTTPS_PROXY. It refuses
//     AuthorityHost as Entra refuses a host it does not know
//     (invalid_instance), unless KnowInstance(true).
//   - GraphEndpoint, Graph: every request needs a bearer token this tenant
//     issued and that has not expired by the tenant's clock. GET serves the
//     JSON objects stored with SetOperation (honouring $select), a path
//     ending in /operations that is not stored itself lists the objects
//     stored directly beneath it ($top and $skiptoken page it), and
//     POST /{version}/$batch runs up to 20 GETs.
//
// Access tokens are JWTs with the claims Entra ID puts in Graph tokens:
// app-only ones carry idtyp "app" and roles, delegated ones idtyp "user",
// scp, oid, upn and wids. Graph enforces the one permission rule that
// catches exporters out: password-reset operations
// (/{version}/users/{id or upn}/authentication/operations[/{id}]) take no
// app-only token, only a delegated one with UserAuthenticationMethod.Read.All
// or .ReadWrite.All and, for another user's, the Global Reader,
// Authentication Administrator or Privileged Authentication Administrator
// role; or with UserAuthenticationMethod.Read or .ReadWrite for the
// signed-in user's own. Anything else is 403 accessDenied, also inside a
// $batch, whose requests are all judged with the batch's token.
//
// Faults (throttling, errors, odd bodies, latency, connection resets) are
// injected per path, and counters say what the servers received.
//
// MSAL must be told not to look the authority up at
// login.microsoftonline.com and to trust the certificate:
//
//	tenant := graphtest.NewTenant(t)
//	cred, _ := confidential.NewCredFromSecret(tenant.ClientSecret)
//	app, _ := confidential.New(tenant.AuthorityHost+"/"+tenant.TenantID, tenant.ClientID, cred,
//		confidential.WithHTTPClient(tenant.HTTPClient()),
//		confidential.WithInstanceDiscovery(false))
//	res, _ := app.AcquireTokenByCredential(ctx, []string{tenant.GraphEndpoint + "/.default"})
//
// and so must the public client, whose device code sign-in a test
// approves as the user would:
//
//	tenant.AddUser("admin@contoso.com", graphtest.RoleGlobalReader)
//	pub, _ := public.New(tenant.ClientID, public.WithHTTPClient(tenant.HTTPClient()),
//		public.WithAuthority(tenant.AuthorityHost+"/"+tenant.TenantID),
//		public.WithInstanceDiscovery(false))
//	dc, _ := pub.AcquireTokenByDeviceCode(ctx, []string{tenant.GraphEndpoint + "/.default"})
//	_ = tenant.ApproveDeviceCode(dc.Result.UserCode, "admin@contoso.com")
//	res, _ := dc.AuthenticationResult(ctx)
//
// MSAL's AcquireTokenInteractive asks for response_mode=form_post, and its
// local server takes nothing else: its WithOpenURL callback, playing the
// browser, gets a page whose form it must post to the redirect URI. Other
// response modes get a 302 to the redirect URI.
//
// The package does not import "testing", so that the exporter's --demo mode
// can use it: NewTenant accepts the small TB interface instead.
package graphtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// TB is the part of testing.TB that NewTenant needs; *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Tenant is a running simulated tenant: an identity platform and a Graph
// endpoint, each its own TLS server. Its exported fields are what a client
// needs to be configured with; change the tenant's behaviour through its
// methods, which are safe for concurrent use.
type Tenant struct {
	// TenantID is the directory (tenant) id, a GUID.
	TenantID string
	// ClientID is the application (client) id, a GUID. The confidential
	// client and the public client (device code, interactive sign-in) are
	// this one app registration, as the exporter's are.
	ClientID string
	// ClientSecret is the application's client secret, random per tenant.
	ClientSecret string
	// AuthorityHost is the identity platform, "https://127.0.0.1:<port>".
	// The authority MSAL wants is AuthorityHost + "/" + TenantID.
	AuthorityHost string
	// GraphEndpoint is Graph, "https://127.0.0.1:<port>", a server separate
	// from AuthorityHost. The token scope is GraphEndpoint + "/.default".
	GraphEndpoint string
	// CAFile is the path of a PEM file holding the certificate both servers
	// use, for SSL_CERT_FILE in a subprocess. Close removes it. Empty for a
	// tenant of StartInMemory.
	CAFile string
	// IdentityHeader is the X-IDENTITY-HEADER value the managed identity
	// endpoint wants (IDENTITY_HEADER for MSAL).
	IdentityHeader string
	// ManagedIdentityEndpoint is AuthorityHost + "/msi/token", an App
	// Service style managed identity endpoint (IDENTITY_ENDPOINT for MSAL).
	ManagedIdentityEndpoint string

	// Copies of the fields above that the handlers use, so that a caller
	// writing to an exported field can neither race with them nor change
	// what the tenant accepts.
	tenantID, clientID, clientSecret string
	authorityHost, graphEndpoint     string
	identityHeader                   string

	tlsCert   *x509.Certificate
	transport *http.Transport
	idpAddr   string // the identity platform's listener, "127.0.0.1:<port>"

	// WorldwideProxy's listener, started on first use.
	proxyOnce sync.Once
	proxyLn   net.Listener
	proxyURL  string
	idp       *http.Server
	graph     *http.Server
	dir       string

	// life guards closing; inflight counts running handlers so that Close
	// can wait for them, as httptest.Server.Close does.
	life      sync.Mutex
	closing   bool
	inflight  sync.WaitGroup
	closed    chan struct{}
	closeOnce sync.Once

	// certMu guards app, the application certificate. It is made on first
	// use: an RSA key takes about 0.1s under the race detector, and most
	// tests never need it.
	certMu sync.Mutex
	app    *appCert
	// Subject name and issuer authentication: the trusted issuer and the
	// subjects it may issue for.
	snCA       *x509.Certificate
	snCAKey    *ecdsa.PrivateKey
	snSubjects map[string]bool

	mu  sync.Mutex // guards everything below
	now func() time.Time

	// identity platform
	tokenLifetime  time.Duration
	tokens         map[string]*accessToken // by the token itself
	fedToken       string
	miClientID     string
	spID           string // the object id of the app's service principal, oid of app-only tokens
	failN          int    // token requests still to fail; < 0 = until FailTokens(0, 0)
	failWith       TokenFault
	tokenRequests  int
	tokensIssued   int
	grantRequests  map[string]int // token requests by grant type
	appRoles       []string       // application permissions, the roles of app-only tokens
	delegatedPerms []string       // admin-consented delegated permissions
	publicFlows    bool

	// delegated sign-in
	users          map[string]*User // by lower-case UPN
	browserUser    string
	deviceCodes    map[string]*deviceCode // by device_code
	deviceCodeSeq  int
	deviceCodeLife time.Duration
	slowDown       int
	authCodes      map[string]*authCode         // by code
	refreshTokens  map[string]*refreshTokenInfo // by the refresh token itself
	latestRefresh  map[string]string            // lower-case UPN → newest refresh token
	epoch          int64                        // counts sign-ins and revocations, to order them
	revokedAt      map[string]int64             // lower-case UPN → epoch of RevokeSignIns
	interactionAt  map[string]int64             // lower-case UPN → epoch of RequireInteraction

	// graph
	ops        map[string]map[string]json.RawMessage
	latency    time.Duration
	answerTime time.Duration
	onTime     struct {
		n    int
		late time.Duration
	} // answers that waited out answerTime, and how late they left
	faults       []*activeFault
	requests     int
	perPath      map[string]int
	pageSize     int
	lastQuery    map[string]url.Values
	lastCRID     string
	lastUA       string
	unauthorized int

	// instance discovery at WorldwideHost, and WorldwideProxy
	knownInstance     bool
	discoveryRequests int
	proxyConnects     map[string]int
}

// NewTenant starts a tenant that t's Cleanup closes. It calls t.Fatalf if
// the tenant cannot start.
func NewTenant(t TB) *Tenant {
	t.Helper()
	tn, err := Start()
	if err != nil {
		t.Fatalf("graphtest: %v", err)
		return nil
	}
	t.Cleanup(tn.Close)
	return tn
}

// Start starts a tenant that is not bound to a test. The caller must call
// Close.
func Start() (*Tenant, error) { return start(true) }

// StartInMemory is Start writing nothing to disk, as the exporter's --demo
// needs under a read-only root file system: CAFile is empty (HTTPClient and
// RootCAs trust the servers without it).
func StartInMemory() (*Tenant, error) { return start(false) }

func start(writeCAFile bool) (*Tenant, error) {
	tn := &Tenant{
		TenantID:       newGUID(),
		ClientID:       newGUID(),
		ClientSecret:   newSecret(),
		IdentityHeader: newGUID(),
		closed:         make(chan struct{}),
		now:            time.Now,
		tokenLifetime:  time.Hour,
		tokens:         map[string]*accessToken{},
		spID:           newGUID(),
		grantRequests:  map[string]int{},
		appRoles:       slices.Clone(defaultAppRoles),
		delegatedPerms: []string{"UserAuthenticationMethod.Read.All"},
		publicFlows:    true,
		users:          map[string]*User{},
		deviceCodes:    map[string]*deviceCode{},
		deviceCodeLife: 15 * time.Minute,
		authCodes:      map[string]*authCode{},
		refreshTokens:  map[string]*refreshTokenInfo{},
		latestRefresh:  map[string]string{},
		revokedAt:      map[string]int64{},
		interactionAt:  map[string]int64{},
		ops:            map[string]map[string]json.RawMessage{},
		perPath:        map[string]int{},
		lastQuery:      map[string]url.Values{},
	}
	tn.tenantID, tn.clientID, tn.clientSecret, tn.identityHeader = tn.TenantID, tn.ClientID, tn.ClientSecret, tn.IdentityHeader
	tn.fedToken = newFederatedToken(tn.tenantID)

	cert, certPEM, err := newServerCert()
	if err != nil {
		return nil, fmt.Errorf("creating the TLS certificate: %w", err)
	}
	tn.tlsCert, err = x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parsing the TLS certificate: %w", err)
	}
	if writeCAFile {
		tn.dir, err = os.MkdirTemp("", "graphtest-")
		if err != nil {
			return nil, fmt.Errorf("creating a directory for the CA file: %w", err)
		}
		tn.CAFile = filepath.Join(tn.dir, "ca.pem")
		if err := os.WriteFile(tn.CAFile, certPEM, 0o600); err != nil {
			_ = os.RemoveAll(tn.dir)
			return nil, fmt.Errorf("writing the CA file: %w", err)
		}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tn.transport = &http.Transport{
		Proxy: nil, // never send the simulated tenant's traffic to a proxy
		// The worldwide login host is the identity platform too, for
		// instance discovery (WorldwideHost).
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.EqualFold(addr, WorldwideHost+":443") {
				addr = tn.idpAddr
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: tn.RootCAs(), MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	// HTTP/1.1 only, so that a Reset fault can hijack the connection.
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}

	var idpURL, graphURL string
	tn.idp, idpURL, err = tn.serve(tlsConfig, http.HandlerFunc(tn.serveIdentity))
	if err != nil {
		_ = os.RemoveAll(tn.dir)
		return nil, fmt.Errorf("starting the identity platform: %w", err)
	}
	tn.graph, graphURL, err = tn.serve(tlsConfig, http.HandlerFunc(tn.serveGraph))
	if err != nil {
		_ = tn.idp.Close()
		_ = os.RemoveAll(tn.dir)
		return nil, fmt.Errorf("starting Graph: %w", err)
	}
	tn.idpAddr = strings.TrimPrefix(idpURL, "https://")
	tn.AuthorityHost, tn.authorityHost = idpURL, idpURL
	tn.GraphEndpoint, tn.graphEndpoint = graphURL, graphURL
	tn.ManagedIdentityEndpoint = idpURL + "/msi/token"
	return tn, nil
}

// serve starts one TLS server on a loopback port and returns its base URL.
func (t *Tenant) serve(cfg *tls.Config, h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{
		Handler:           t.track(h),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		// Handshake errors from clients that do not trust the certificate
		// and resets we cause ourselves are noise in test output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	return srv, "https://" + ln.Addr().String(), nil
}

// track counts running handlers so that Close can wait for them.
func (t *Tenant) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.life.Lock()
		if t.closing {
			t.life.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		t.inflight.Add(1)
		t.life.Unlock()
		defer t.inflight.Done()
		h.ServeHTTP(w, r)
	})
}

// Close stops both servers, waits for running handlers (a handler waiting
// out injected latency returns at once), and removes CAFile. It may be
// called more than once.
func (t *Tenant) Close() {
	t.closeOnce.Do(func() {
		t.life.Lock()
		t.closing = true
		t.life.Unlock()
		close(t.closed)
		_ = t.idp.Close()
		_ = t.graph.Close()
		if t.proxyLn != nil {
			_ = t.proxyLn.Close()
		}
		t.inflight.Wait()
		t.transport.CloseIdleConnections()
		_ = os.RemoveAll(t.dir)
	})
}

// HTTPClient returns a client that trusts the servers' certificate. All
// clients of one tenant share a connection pool, which Close empties.
func (t *Tenant) HTTPClient() *http.Client {
	return &http.Client{Transport: t.transport}
}

// RootCAs returns a new pool holding the servers' certificate.
func (t *Tenant) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(t.tlsCert)
	return pool
}

// SetClock sets the tenant's clock (time.Now by default; nil restores it).
// It decides when access tokens, device codes, authorization codes and
// refresh tokens expire, the claims iat, nbf and exp, the
// lastActionDateTime SetStatus writes, and the dates in error bodies. It does not slow down or speed up
// latency, and MSAL keeps its own cache by the real clock: see
// SetTokenLifetime.
func (t *Tenant) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	t.mu.Lock()
	t.now = now
	t.mu.Unlock()
}

// clock returns the tenant's current time.
func (t *Tenant) clock() time.Time {
	t.mu.Lock()
	now := t.now
	t.mu.Unlock()
	return now()
}

// errClosed reports that a sleep ended because the tenant closed.
var errClosed = errors.New("graphtest: tenant closed")

// sleep waits d, or less if the request goes away or the tenant closes.
func (t *Tenant) sleep(r *http.Request, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	case <-t.closed:
		return errClosed
	}
}

// newServerCert makes the self-signed certificate both servers present.
func newServerCert() (tls.Certificate, []byte, error) {
	key, der, err := selfSignedCA("graphtest simulated tenant", 10, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		c.DNSNames = []string{"localhost", WorldwideHost}
	})
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}

// selfSignedCA makes a P-256 key and a self-signed CA certificate of it
// (DER), valid from an hour ago for years; more, if not nil, adds to its
// template.
func selfSignedCA(cn string, years int, more func(*x509.Certificate)) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{Organization: []string{"graphtest"}, CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(years, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if more != nil {
		more(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return key, der, err
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

// newGUID returns a random (version 4) GUID in lower case.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newSecret returns a secret shaped like the ones Entra ID generates:
// 40 characters with "~" in fourth place.
func newSecret() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
	b := []byte(randString(alphabet, 40))
	b[3] = '~'
	return string(b)
}

// randString returns n characters drawn uniformly from alphabet
// (len(alphabet) must divide 256).
func randString(alphabet string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
