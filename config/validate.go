package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"gopkg.in/yaml.v3"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// Environment variables of Azure workload identity, which a tenant with no
// credential falls back to.
const (
	envFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	envTenantID           = "AZURE_TENANT_ID"
	envClientID           = "AZURE_CLIENT_ID"
)

// credentialKeys are the keys of which a tenant gives exactly one, in the
// order errors list them.
var credentialKeys = []string{"client_secret", "client_secret_file", "client_certificate_file", "federated_token_file", "managed_identity"}

// IsReservedLabel says whether name is a label the exporter sets itself
// on an operation's series, which static labels may not take; the
// collector's tests check that it names every one the collector sets.
func IsReservedLabel(name string) bool { return reservedLabels[name] }

// reservedLabels are the label names the exporter itself sets.
var reservedLabels = map[string]bool{
	"tenant": true, "scope": true, "operation_id": true, "name": true, "status": true,
	"resource_location": true, "status_detail": true, "type": true, "error_code": true, "raw_status": true,
}

var (
	guidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	domainRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parse decodes and validates; base is the directory relative secret file
// paths are taken from ("" for the working directory); signIns are the
// in-memory token caches of ParseWithSignIns.
func parse(name string, data []byte, base string, signIns map[string]cache.ExportReplace) (*Config, error) {
	cfg := &Config{Global: DefaultGlobal, File: name}
	d := &decoder{name: name, sections: map[any]fields{}, expanded: map[*yaml.Node][]pair{}}
	if err := d.decode(data, cfg); err != nil {
		return nil, err
	}
	for i := range cfg.Tenants {
		if c, ok := signIns[cfg.Tenants[i].Name]; ok && cfg.Tenants[i].Delegated != nil {
			cfg.Tenants[i].Delegated.Cache = c
		}
	}
	v := &validator{decoder: d, cfg: cfg, base: base}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

type validator struct {
	*decoder
	cfg  *Config
	base string
}

func (v *validator) section(p any) fields {
	if f := v.sections[p]; f != nil {
		return f
	}
	return fields{}
}

func (v *validator) warnf(line int, where, key, format string, args ...any) {
	v.cfg.Warnings = append(v.cfg.Warnings, v.errorf(line, where, key, format, args...).Error())
}

func (v *validator) validate() error {
	if err := v.global(); err != nil {
		return err
	}
	top := v.section(v.cfg)
	if len(v.cfg.Tenants) == 0 {
		return v.errorf(top.line("tenants", 1), "", "tenants", "at least one tenant is required")
	}
	names := map[string]int{}
	for i := range v.cfg.Tenants {
		t := &v.cfg.Tenants[i]
		if err := v.tenant(i, t, v.section(t), names); err != nil {
			return err
		}
	}
	type seenOp struct{ index, line int }
	seen := map[[2]string]seenOp{}
	series := map[string]seenOp{}
	for i := range v.cfg.Operations {
		o := &v.cfg.Operations[i]
		f := v.section(o)
		if err := v.operation(i, o, f); err != nil {
			return err
		}
		k := [2]string{o.Tenant, o.Ref.Key()}
		if prev, ok := seen[k]; ok {
			key := "id"
			if o.URL != "" {
				key = "url"
			}
			return v.errorf(f.line(key, o.Line), operationWhere(i, o), key,
				"duplicate of operations[%d] (line %d)", prev.index, prev.line)
		}
		seen[k] = seenOp{i, o.Line}
		// Different requests (a query string, another path) that would
		// make the same series: the scrape could not tell them apart.
		id := seriesID(o)
		if prev, ok := series[id]; ok {
			key := "id"
			if o.URL != "" {
				key = "url"
			}
			return v.errorf(f.line(key, o.Line), operationWhere(i, o), key,
				"same series as operations[%d] (line %d): the same tenant, scope, id, name and labels", prev.index, prev.line)
		}
		series[id] = seenOp{i, o.Line}
	}
	jobs := map[[5]string]int{}
	for i := range v.cfg.Discovery {
		d := &v.cfg.Discovery[i]
		f := v.section(d)
		if err := v.discovery(i, d, f); err != nil {
			return err
		}
		k := [5]string{d.Tenant, d.Scope, d.Site, d.List, d.Case}
		if prev, ok := jobs[k]; ok {
			return v.errorf(f.line("scope", d.Line), discoveryWhere(i, d), "scope",
				"duplicate of discovery[%d] (line %d)", prev, v.cfg.Discovery[prev].Line)
		}
		jobs[k] = i
	}
	return nil
}

// seriesID is what names an operation's series: tenant, scope, id, name
// and static labels. A label with an empty value is no label, in
// Prometheus and in the collector (which gives every operation every
// label name, empty where it has none).
func seriesID(o *Operation) string {
	parts := []string{o.Tenant, o.Ref.Scope, o.Ref.ID, o.Name}
	names := make([]string, 0, len(o.Labels))
	for k, v := range o.Labels {
		if v != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		parts = append(parts, k, o.Labels[k])
	}
	return strings.Join(parts, "\x00")
}

func discoveryWhere(i int, d *Discovery) string {
	if d.Scope == "" {
		return fmt.Sprintf("discovery[%d]", i)
	}
	return fmt.Sprintf("discovery[%d] %q", i, d.Scope)
}

func (v *validator) discovery(i int, d *Discovery, f fields) error {
	where := discoveryWhere(i, d)
	fail := func(key, format string, args ...any) error {
		return v.errorf(f.line(key, d.Line), where, key, format, args...)
	}
	if d.Tenant == "" {
		return fail("tenant", "is required")
	}
	t, ok := v.cfg.Tenant(d.Tenant)
	if !ok {
		return fail("tenant", "%q is not a configured tenant", d.Tenant)
	}
	if !slices.Contains(DiscoveryScopes, d.Scope) {
		if t.Credential == "" {
			return fail("tenant", "%q has only a delegated credential; discovery lists with the application's own (one of %s)", d.Tenant, strings.Join(credentialKeys, ", "))
		}
		return fail("scope", "%q is not one of %s", d.Scope, strings.Join(DiscoveryScopes, ", "))
	}
	// A list is read with the credential its kind's operations are.
	k := graph.LookupKind(d.Scope)
	switch {
	case k.Delegated && t.Delegated == nil:
		return fail("scope", "%s", graph.ErrNeedsDelegated(d.Scope, t.Name))
	case !k.Delegated && t.Credential == "":
		return fail("tenant", "%q has only a delegated credential; discovery lists with the application's own (one of %s)", d.Tenant, strings.Join(credentialKeys, ", "))
	}
	if err := parents(k, map[string]string{graph.KeySite: d.Site, graph.KeyList: d.List, graph.KeyCase: d.Case}, fail); err != nil {
		return err
	}
	if !f.has("interval") {
		d.Interval = DefaultDiscoveryInterval
	} else if d.Interval < MinDiscoveryInterval {
		return fail("interval", "must be at least %s, got %s", MinDiscoveryInterval, d.Interval)
	}
	if !f.has("retention") {
		d.Retention = DefaultDiscoveryRetention
	} else if d.Retention <= 0 {
		return fail("retention", "must be positive, got %s", d.Retention)
	}
	return v.labels(d.Labels, f, d.Line, where)
}

func (v *validator) global() error {
	g := &v.cfg.Global
	f := v.section(g)
	def := v.section(v.cfg).line("global", 1)
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"cache_ttl", g.CacheTTL},
		{"terminal_cache_ttl", g.TerminalCacheTTL},
		{"request_timeout", g.RequestTimeout},
	} {
		if d.val <= 0 {
			return v.errorf(f.line(d.key, def), "global", d.key, "must be positive, got %s", d.val)
		}
	}
	if g.MaxConcurrency < 1 {
		return v.errorf(f.line("max_concurrency", def), "global", "max_concurrency", "must be at least 1, got %d", g.MaxConcurrency)
	}
	if g.MaxOperations < 1 {
		return v.errorf(f.line("max_operations", def), "global", "max_operations", "must be at least 1, got %d", g.MaxOperations)
	}
	return nil
}

func tenantWhere(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("tenants[%d]", i)
	}
	return fmt.Sprintf("tenants[%d] %q", i, name)
}

func operationWhere(i int, o *Operation) string {
	switch {
	case o.ID != "":
		return fmt.Sprintf("operations[%d] %q", i, o.ID)
	case o.URL != "":
		return fmt.Sprintf("operations[%d] %q", i, redactUserinfo(o.URL))
	}
	return fmt.Sprintf("operations[%d]", i)
}

// redactUserinfo hides the user information of a URL, which may hold a
// password, without needing the URL to parse.
func redactUserinfo(s string) string {
	i := strings.Index(s, "//")
	if i < 0 {
		return s
	}
	authority := s[i+2:]
	if end := strings.IndexAny(authority, "/?#"); end >= 0 {
		authority = authority[:end]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	return s[:i+2] + "xxxxx" + s[i+2+at:]
}

// validLabelValue: a name that can stand in a label and a log line as is.
func validLabelValue(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// tenant validates t and resolves its credential; names holds the index of
// each tenant name seen before it.
func (v *validator) tenant(i int, t *Tenant, f fields, names map[string]int) error {
	where := tenantWhere(i, t.Name)
	line := func(key string) int { return f.line(key, t.Line) }
	fail := func(key, format string, args ...any) error {
		return v.errorf(line(key), where, key, format, args...)
	}

	if t.Name == "" {
		return fail("name", "is required")
	}
	if !validLabelValue(t.Name) {
		return fail("name", "must be valid UTF-8 without control characters")
	}
	if j, ok := names[t.Name]; ok {
		return fail("name", "duplicate of tenants[%d] (line %d)", j, v.cfg.Tenants[j].Line)
	}
	names[t.Name] = i

	// Which credential: exactly one of the keys, or workload identity from
	// the environment.
	var given []string
	for _, k := range credentialKeys {
		if f.has(k) {
			given = append(given, k)
		}
	}
	switch len(given) {
	case 0:
		// A tenant that names only a delegated sign-in has no app-only
		// credential, even where workload identity's variables are set:
		// `federated_token_file: ""` asks for both.
		switch {
		case t.Delegated != nil:
		case os.Getenv(envFederatedTokenFile) != "":
			t.Credential = CredentialFederatedToken
		default:
			return fail("credential", "one of %s is required (or delegated, for password-reset operations only)", strings.Join(credentialKeys, ", "))
		}
	case 1:
		switch given[0] {
		case "client_secret", "client_secret_file":
			t.Credential = CredentialClientSecret
		case "client_certificate_file":
			t.Credential = CredentialClientCertificate
		case "federated_token_file":
			t.Credential = CredentialFederatedToken
		case "managed_identity":
			t.Credential = CredentialManagedIdentity
		}
	default:
		return v.errorf(line(given[1]), where, "credential", "only one of %s may be given, got %s",
			strings.Join(credentialKeys, ", "), strings.Join(given, " and "))
	}

	if t.Credential == CredentialFederatedToken {
		p := ""
		if t.FederatedTokenFile != nil {
			p = v.path(*t.FederatedTokenFile)
		}
		if p == "" {
			p = os.Getenv(envFederatedTokenFile)
			if p == "" {
				return fail("federated_token_file", "is empty and %s is not set", envFederatedTokenFile)
			}
		}
		t.FederatedTokenPath = p
		// As Azure's workload identity webhook sets them, and as Azure's
		// own WorkloadIdentityCredential reads them.
		if t.TenantID == "" {
			t.TenantID = os.Getenv(envTenantID)
		}
		if t.ClientID == "" {
			t.ClientID = os.Getenv(envClientID)
		}
	}

	managed := t.Credential == CredentialManagedIdentity
	orEnv := func(env string) string {
		if t.Credential == CredentialFederatedToken {
			return "; or set " + env
		}
		return ""
	}
	switch {
	case t.TenantID == "" && !managed:
		return fail("tenant_id", "is required%s", orEnv(envTenantID))
	case t.TenantID != "" && !guidRE.MatchString(t.TenantID) && !domainRE.MatchString(t.TenantID):
		return fail("tenant_id", "%q is neither a GUID nor a domain name", t.TenantID)
	}
	switch {
	case t.ClientID == "" && !managed && t.Credential != "":
		return fail("client_id", "is required with %s%s", given0(given), orEnv(envClientID))
	case t.ClientID == "" && t.Credential == "" && (t.Delegated == nil || t.Delegated.ClientID == ""):
		return fail("client_id", "is required (the app registration that signs in, with delegated)")
	case t.ClientID != "" && !guidRE.MatchString(t.ClientID):
		return fail("client_id", "%q is not a GUID", t.ClientID)
	}
	if managed {
		mi := t.ManagedIdentity.ClientID
		switch {
		case mi != "" && !guidRE.MatchString(mi):
			return fail("managed_identity.client_id", "%q is not a GUID", mi)
		case mi != "" && t.ClientID != "" && !strings.EqualFold(mi, t.ClientID):
			return fail("client_id", "%s differs from managed_identity.client_id %s", t.ClientID, mi)
		case mi == "" && t.ClientID != "":
			v.warnf(line("client_id"), where, "client_id",
				"is not used: managed_identity has no client_id, so the system-assigned identity is used; set managed_identity.client_id for a user-assigned one")
		}
	}

	if t.Cloud == "" {
		t.Cloud = "global"
	}
	cloud, ok := graph.LookupCloud(t.Cloud)
	if !ok {
		return fail("cloud", "%q is not one of %s", t.Cloud, strings.Join(graph.CloudNames(), ", "))
	}
	for _, e := range []struct {
		key string
		val *string
		def string
	}{
		{"authority_host", &t.AuthorityHost, cloud.AuthorityHost},
		{"graph_endpoint", &t.GraphEndpoint, cloud.GraphEndpoint},
	} {
		if *e.val == "" {
			*e.val = e.def
			continue
		}
		u, err := baseURL(*e.val)
		if err != nil {
			return fail(e.key, "%s", err)
		}
		*e.val = u
	}

	if t.Delegated != nil {
		if err := v.delegated(t, f, where); err != nil {
			return err
		}
	}

	switch given0(given) {
	case "client_secret":
		if t.ClientSecret == "" {
			return fail("client_secret", "must not be empty")
		}
		t.Secret = t.ClientSecret
		v.warnf(line("client_secret"), where, "", "client_secret is inline in the config file; prefer client_secret_file")
	case "client_secret_file":
		data, err := v.readSecretFile(t.ClientSecretFile, where, "client_secret_file", line("client_secret_file"))
		if err != nil {
			return err
		}
		s := strings.TrimSpace(string(data))
		if s == "" {
			return fail("client_secret_file", "%s is empty", v.path(t.ClientSecretFile))
		}
		t.Secret = Secret(s)
	case "client_certificate_file":
		data, err := v.readSecretFile(t.ClientCertificateFile, where, "client_certificate_file", line("client_certificate_file"))
		if err != nil {
			return err
		}
		if err := checkCertificate(data); err != nil {
			return fail("client_certificate_file", "%s: %s", v.path(t.ClientCertificateFile), err)
		}
		t.CertificatePEM = Secret(data)
	}
	if t.SendCertificateChain && t.Credential != CredentialClientCertificate {
		return fail("send_certificate_chain", "needs client_certificate_file: the chain is that of the certificate the assertion is signed with")
	}
	if t.DisableInstanceDiscovery && managed && t.Delegated == nil {
		v.warnf(line("disable_instance_discovery"), where, "disable_instance_discovery",
			"is not used: a managed identity asks its local endpoint, not authority_host")
	}
	return nil
}

// given0 is the credential key the tenant gave, or federated_token_file for
// workload identity from the environment.
func given0(given []string) string {
	if len(given) > 0 {
		return given[0]
	}
	return "federated_token_file"
}

// delegated checks a tenant's delegated sign-in. The token cache file need
// not exist yet (`login` writes it); if it does, it must be a regular file
// that only its owner can read, as a secret file.
func (v *validator) delegated(t *Tenant, f fields, where string) error {
	d := t.Delegated
	line := func(key string) int { return f.line("delegated."+key, f.line("delegated", t.Line)) }
	fail := func(key, format string, args ...any) error {
		return v.errorf(line(key), where, "delegated."+key, format, args...)
	}
	switch {
	case d.ClientID == "" && t.ClientID == "":
		return fail("client_id", "is required: the tenant has no client_id for the sign-in to use")
	case d.ClientID == "":
		d.ClientID = t.ClientID
	case !guidRE.MatchString(d.ClientID):
		return fail("client_id", "%q is not a GUID", d.ClientID)
	}
	if t.TenantID == "" {
		return v.errorf(f.line("tenant_id", t.Line), where, "tenant_id", "is required with delegated (the sign-in's authority)")
	}
	if d.TokenCacheFile == "" && d.Cache == nil {
		return fail("token_cache_file", "is required: the file `msgraph_lro_exporter login` writes the sign-in to")
	}
	if d.TokenCacheFile == "" {
		return nil
	}
	d.TokenCacheFile = v.path(d.TokenCacheFile)
	fi, err := os.Stat(d.TokenCacheFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// Not yet signed in: the exporter says so, with the command.
		if di, err := os.Stat(filepath.Dir(d.TokenCacheFile)); err != nil || !di.IsDir() {
			return fail("token_cache_file", "the directory of %s does not exist", d.TokenCacheFile)
		}
	case err != nil:
		return fail("token_cache_file", "%s", err)
	case !fi.Mode().IsRegular():
		return fail("token_cache_file", "%s is not a regular file", d.TokenCacheFile)
	case fi.Mode().Perm()&0o044 != 0:
		v.warnf(line("token_cache_file"), where, "delegated.token_cache_file", "%s is readable by group or others (mode %#o) and holds a refresh token; chmod 0600 it", d.TokenCacheFile, uint32(fi.Mode().Perm()))
	}
	return nil
}

// path resolves a file path given in the config.
func (v *validator) path(p string) string {
	if p == "" || v.base == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.base, p)
}

// readSecretFile reads a file holding a secret, and warns when others than
// its owner may read it.
func (v *validator) readSecretFile(p, where, key string, line int) ([]byte, error) {
	if p == "" {
		return nil, v.errorf(line, where, key, "must not be empty")
	}
	p = v.path(p)
	data, err := graph.ReadRegularFile(p, graph.MaxCredentialFileBytes)
	if err != nil {
		return nil, &configError{name: v.name, line: line, where: where, key: key, msg: err.Error(), err: err}
	}
	if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o044 != 0 {
		v.warnf(line, where, key, "%s is readable by group or others (mode %#o); chmod 0600 it", p, uint32(fi.Mode().Perm()))
	}
	return data, nil
}

// checkCertificate checks that PEM data holds what MSAL needs: a certificate
// and the RSA private key of one of the certificates. Its errors never quote
// the data.
func checkCertificate(data []byte) error {
	certs, key, err := confidential.CertFromPEM(data, "")
	if err != nil {
		return err
	}
	var rk *rsa.PrivateKey
	switch k := key.(type) {
	case *rsa.PrivateKey:
		rk = k
	case *ecdsa.PrivateKey:
		return errors.New("the private key is ECDSA; an RSA key is required")
	case ed25519.PrivateKey:
		return errors.New("the private key is Ed25519; an RSA key is required")
	default:
		return fmt.Errorf("the private key is a %T; an RSA key is required", key)
	}
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&rk.PublicKey) {
			return nil
		}
	}
	return errors.New("the private key does not belong to any certificate in the file")
}

// baseURL checks that s is https://host[:port] with nothing else (a trailing
// slash aside), and returns it without the slash. Its errors do not quote a
// URL carrying user information, which may hold a password.
func baseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("is not a URL: %v", err)
	}
	if u.User != nil {
		return "", errors.New("must be https://host[:port]; it has user information")
	}
	var what string
	switch {
	case u.Scheme != "https":
		what = "is not https"
	case u.Opaque != "" || u.Host == "":
		what = "has no host"
	case strings.HasSuffix(u.Host, ":"):
		what = "has an empty port"
	case u.Path != "" && u.Path != "/":
		what = "has a path"
	case u.RawQuery != "" || u.ForceQuery:
		what = "has a query"
	case u.Fragment != "":
		what = "has a fragment"
	default:
		return u.Scheme + "://" + u.Host, nil
	}
	return "", fmt.Errorf("must be https://host[:port]; %q %s", s, what)
}

func (v *validator) operation(i int, o *Operation, f fields) error {
	where := operationWhere(i, o)
	fail := func(key, format string, args ...any) error {
		return v.errorf(f.line(key, o.Line), where, key, format, args...)
	}

	if o.Tenant == "" {
		return fail("tenant", "is required")
	}
	t, ok := v.cfg.Tenant(o.Tenant)
	if !ok {
		return fail("tenant", "%q is not a configured tenant", o.Tenant)
	}

	if o.URL != "" {
		if o.ID != "" {
			return fail("id", "must not be set together with url")
		}
		for _, k := range graph.ParentKeys {
			if o.parent(k) != "" {
				return fail(k, "must not be set together with url")
			}
		}
		// Checked here too, because graph.ParseOperationURL's errors quote
		// the URL, and a URL with user information may hold a password.
		u, err := url.Parse(strings.TrimSpace(o.URL))
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fail("url", "is not a URL: %v", err)
		}
		if u.User != nil {
			return fail("url", "must not carry user information")
		}
		ref, err := graph.ParseOperationURL(t.GraphEndpoint, o.URL)
		if err != nil {
			return fail("url", "%s", err)
		}
		if o.Scope != "" && o.Scope != ref.Scope {
			return fail("scope", "%q does not match the url, which is %s", o.Scope, ref.Scope)
		}
		o.Ref = ref
	} else {
		switch {
		case o.Scope == "":
			return fail("scope", "is required without url")
		case !graph.KnownScope(o.Scope):
			return fail("scope", "%q is not one of %s", o.Scope, strings.Join(graph.Scopes, ", "))
		case o.Scope == graph.ScopeCustom:
			return fail("scope", "%s requires url", graph.ScopeCustom)
		}
		if o.ID == "" {
			return fail("id", "is required without url")
		}
		if err := graph.CheckSegment(o.ID); err != nil {
			return fail("id", "%s", err)
		}
		k := graph.LookupKind(o.Scope)
		given := map[string]string{}
		for _, p := range graph.ParentKeys {
			given[p] = o.parent(p)
		}
		if err := parents(k, given, fail); err != nil {
			return err
		}
		o.Ref = graph.OperationRef{Scope: o.Scope, ID: o.ID}
		for _, p := range k.Parents {
			o.Ref.SetParent(p, given[p])
		}
	}

	if err := v.credential(o, t, f, where); err != nil {
		return err
	}
	return v.labels(o.Labels, f, o.Line, where)
}

// parents checks the parent keys given (key → value, "" for absent)
// against the ones the kind needs: each of its own is required, any other
// refused.
func parents(k *graph.Kind, given map[string]string, fail func(key, format string, args ...any) error) error {
	for _, p := range graph.ParentKeys {
		v, ok := given[p]
		if !ok {
			continue
		}
		switch {
		case k.HasParent(p) && v == "":
			return fail(p, "is required with scope %s", k.Scope)
		case !k.HasParent(p) && v != "":
			return fail(p, "is only valid with scope %s", strings.Join(graph.ScopesWith(p), " or "))
		case v != "":
			if err := graph.CheckSegment(v); err != nil {
				return fail(p, "%s", err)
			}
		}
	}
	return nil
}

// parent is the operation's value for a parent key.
func (o *Operation) parent(key string) string {
	switch key {
	case graph.KeyUser:
		return o.User
	case graph.KeySite:
		return o.Site
	case graph.KeyList:
		return o.List
	case graph.KeyTeam:
		return o.Team
	case graph.KeyConnection:
		return o.Connection
	case graph.KeyCase:
		return o.Case
	}
	return ""
}

// credential checks that the tenant has the credential Graph accepts for
// the operation: a delegated sign-in for password resets (and custom
// operations that say so), the application's own for the rest.
func (v *validator) credential(o *Operation, t *Tenant, f fields, where string) error {
	key := "scope"
	if o.URL != "" {
		key = "url"
	}
	switch o.Credential {
	case "", CredentialApp:
		if o.Credential == CredentialApp && graph.DelegatedOnly(o.Ref.Scope) {
			return v.errorf(f.line("credential", o.Line), where, "credential", "app cannot read %s operations: Graph allows no application permission for them", o.Ref.Scope)
		}
	case CredentialDelegated:
		if o.Ref.Scope != graph.ScopeCustom && !graph.DelegatedOnly(o.Ref.Scope) {
			return v.errorf(f.line("credential", o.Line), where, "credential", "delegated is only for custom operations; %s operations are read with the application's own credential", o.Ref.Scope)
		}
		o.Ref.Delegated = o.Ref.Scope == graph.ScopeCustom
	default:
		return v.errorf(f.line("credential", o.Line), where, "credential", "%q is not one of %s, %s", o.Credential, CredentialApp, CredentialDelegated)
	}
	switch {
	case o.Ref.NeedsDelegated() && t.Delegated == nil:
		return v.errorf(f.line(key, o.Line), where, key, "%s", graph.ErrNeedsDelegated(o.Ref.Scope, t.Name))
	case !o.Ref.NeedsDelegated() && t.Credential == "":
		return v.errorf(f.line(key, o.Line), where, key, "tenant %q has only a delegated credential; %s operations need the application's own (one of %s)", t.Name, o.Ref.Scope, strings.Join(credentialKeys, ", "))
	}
	return nil
}

// labels checks static label names.
func (v *validator) labels(labels map[string]string, f fields, line0 int, where string) error {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		line := f.line("labels."+k, f.line("labels", line0))
		switch {
		case !labelNameRE.MatchString(k):
			return v.errorf(line, where, "labels", "%q is not a valid label name (%s)", k, labelNameRE)
		case strings.HasPrefix(k, "__"):
			return v.errorf(line, where, "labels", "%q starts with __, which Prometheus reserves", k)
		case reservedLabels[k]:
			return v.errorf(line, where, "labels", "%q is a label the exporter sets itself", k)
		}
	}
	return nil
}
