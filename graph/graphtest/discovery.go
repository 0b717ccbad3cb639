package graphtest

import (
	"bufio"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// WorldwideHost is Entra's worldwide login host. MSAL asks its instance
// discovery endpoint (/common/discovery/instance) about any authority host
// outside MSAL's own list of Microsoft login hosts before it sends that
// host a secret or an assertion; the exporter leaves that check on unless
// a tenant sets disable_instance_discovery.
//
// The tenant plays this host too, for instance discovery only: its TLS
// certificate names it, HTTPClient dials the identity platform for it, and
// WorldwideProxy lets a subprocess reach it through HTTPS_PROXY. Like
// Entra, discovery answers 400 invalid_instance (AADSTS50049) for a host
// that is not a Microsoft cloud's, which AuthorityHost (127.0.0.1) is not,
// unless KnowInstance says otherwise.
const WorldwideHost = "login.microsoftonline.com"

// worldwideAliases are the hosts Entra's discovery reports as one cloud
// with the worldwide host.
var worldwideAliases = []string{WorldwideHost, "login.windows.net", "login.microsoft.com", "sts.windows.net"}

// KnowInstance makes instance discovery accept the tenant's own
// AuthorityHost, as Entra accepts a Microsoft cloud's login host, so that
// MSAL's validated path (discovery, then the tenant discovery endpoint it
// names) can be exercised against the simulator.
func (t *Tenant) KnowInstance(known bool) {
	t.mu.Lock()
	t.knownInstance = known
	t.mu.Unlock()
}

// InstanceDiscoveryRequests counts the instance discovery requests the
// worldwide host received.
func (t *Tenant) InstanceDiscoveryRequests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.discoveryRequests
}

// serveWorldwide answers a request that came for WorldwideHost: instance
// discovery, and nothing else (the simulator is no one's real tenant
// there).
func (t *Tenant) serveWorldwide(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/common/discovery/instance" {
		t.aadError(w, r, http.StatusNotFound, "invalid_request", 90010,
			"The simulated worldwide login host serves only instance discovery: "+r.Method+" "+r.URL.Path+".")
		return
	}
	t.mu.Lock()
	t.discoveryRequests++
	known := t.knownInstance
	t.mu.Unlock()
	if r.Method != http.MethodGet {
		t.aadError(w, r, http.StatusMethodNotAllowed, "invalid_request", 90056, "The request must be a GET.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != "1.1" && v != "1.0" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 90014,
			"The required field 'api-version' is missing or not a supported version.")
		return
	}
	ae, err := url.Parse(q.Get("authorization_endpoint"))
	if err != nil || ae.Scheme != "https" || ae.Host == "" {
		t.aadError(w, r, http.StatusBadRequest, "invalid_request", 90014,
			"The required field 'authorization_endpoint' is missing or malformed.")
		return
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(ae.Path, "/"), "/")
	host := strings.ToLower(ae.Host)
	aliases := worldwideAliases
	switch {
	case slices.Contains(worldwideAliases, host):
	case known && "https://"+host == t.authorityHost:
		aliases = []string{host}
	default:
		t.aadError(w, r, http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": aliases[0],
			"preferred_cache":   aliases[0],
			"aliases":           aliases,
		}},
	})
}

// WorldwideProxy returns the URL of an HTTP proxy, for HTTPS_PROXY in a
// subprocess, that tunnels CONNECT requests for WorldwideHost:443 to the
// tenant's identity platform and refuses every other host with 403.
// Requests to 127.0.0.1 (the tenant itself) do not go through a proxy:
// Go's ProxyFromEnvironment never sends loopback traffic to one. The proxy
// starts on the first call and stops with the tenant.
func (t *Tenant) WorldwideProxy() string {
	t.proxyOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic("graphtest: starting the proxy: " + err.Error())
		}
		t.proxyLn = ln
		t.proxyURL = "http://" + ln.Addr().String()
		go t.serveProxy(ln)
	})
	return t.proxyURL
}

// ProxyConnects counts the CONNECT requests WorldwideProxy received, by
// target ("host:port"), refused ones included.
func (t *Tenant) ProxyConnects() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.proxyConnects)
}

func (t *Tenant) serveProxy(ln net.Listener) {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			t.tunnel(c)
		}()
	}
}

// tunnel serves one proxy connection: one CONNECT, then bytes both ways
// until either side closes or the tenant does.
func (t *Tenant) tunnel(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	target := req.Host
	t.mu.Lock()
	if t.proxyConnects == nil {
		t.proxyConnects = map[string]int{}
	}
	t.proxyConnects[target]++
	t.mu.Unlock()
	if req.Method != http.MethodConnect || !strings.EqualFold(target, WorldwideHost+":443") {
		_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", t.idpAddr)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	defer up.Close()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	select {
	case <-done:
	case <-t.closed:
	}
}
