package graph_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"net/http"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

func newClient(t *testing.T, tn *graphtest.Tenant, maxConc int, hc *http.Client) (*graph.Client, *graph.Metrics) {
	return newClientBatch(t, tn, maxConc, hc, false)
}

// newClientBatch is a client of the simulated tenant with a client secret.
func newClientBatch(t *testing.T, tn *graphtest.Tenant, maxConc int, hc *http.Client, batch bool) (*graph.Client, *graph.Metrics) {
	t.Helper()
	m := graph.NewMetrics()
	o := credOptions(tn, m)
	o.Kind, o.Secret = graph.CredentialClientSecret, tn.ClientSecret
	ts, err := graph.NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	if hc == nil {
		hc = tn.HTTPClient()
	}
	c, err := graph.NewClient(graph.ClientOptions{
		Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint, Tokens: ts, HTTPClient: hc,
		MaxConcurrency: maxConc, RequestTimeout: 2 * time.Second, Metrics: m, Batch: batch,
		Retry: graph.RetryPolicy{Sleep: noWait},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

// noWait is a retry policy's wait that takes no time: the tests count the
// requests a retry makes, not the seconds it waits.
func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

var industry = graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"}

func TestGetOperationAndErrors(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, m := newClient(t, tn, 4, nil)
	tn.SetOperation(industry.URLPath(), map[string]any{"id": industry.ID, "status": "succeeded", "statusDetail": nil})
	op, err := c.GetOperation(context.Background(), industry)
	if err != nil || op.Status != "succeeded" || op.ID != industry.ID {
		t.Fatalf("GetOperation = %+v, %v", op, err)
	}
	if tn.LastClientRequestID() == "" {
		t.Error("no client-request-id was sent")
	}

	tn.Inject(industry.URLPath(), graphtest.Fault{Status: 429, RetryAfter: "1.5", Times: 1})
	_, err = c.GetOperation(context.Background(), industry)
	var gerr *graph.Error
	if !errors.As(err, &gerr) || !gerr.Throttled() || !gerr.HasRetryAfter || gerr.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("429: %#v", err)
	}
	if gerr.RequestID == "" || gerr.ClientRequestID != tn.LastClientRequestID() || gerr.Code != "TooManyRequests" {
		t.Errorf("429 error lacks its ids or code: %+v", gerr)
	}
	if got := testutil.ToFloat64(m.Throttled.WithLabelValues("contoso")); got != 1 {
		t.Errorf("throttled_total = %v, want 1", got)
	}

	big := `{"status":"running","statusDetail":"` + strings.Repeat("x", graph.MaxBodyBytes) + `"}`
	tn.Inject(industry.URLPath(), graphtest.Fault{Status: 200, Body: &big, Times: 1})
	_, err = c.GetOperation(context.Background(), industry)
	if err == nil || !strings.HasPrefix(err.Error(), "graph answer is larger than 1048576 bytes") {
		t.Errorf("oversized body: %v", err)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("contoso", "200")); got != 2 {
		t.Errorf("requests_total{code=200} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("contoso", "429")); got != 1 {
		t.Errorf("requests_total{code=429} = %v, want 1", got)
	}
}

// The token goes to the tenant's Graph host over https, nowhere else.
func TestMayCarryToken(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, _ := newClient(t, tn, 1, nil)
	ep, _ := url.Parse(tn.GraphEndpoint)
	for raw, want := range map[string]bool{
		tn.GraphEndpoint + "/beta/x":                  true,
		"http://" + ep.Host + "/beta/x":               false,
		"https://graph.microsoft.com/beta/x":          false,
		"https://" + ep.Hostname() + ":1/beta/x":      false,
		"https://user:pw@" + ep.Host + "/beta/x":      false,
		strings.ToUpper(tn.GraphEndpoint) + "/beta/x": true,
	} {
		u, _ := url.Parse(raw)
		if got := c.MayCarryToken(u); got != want {
			t.Errorf("MayCarryToken(%s) = %v, want %v", raw, got, want)
		}
	}
}

// concurrency counts requests in flight through a real transport.
type concurrency struct {
	rt        http.RoundTripper
	now, peak atomic.Int32
}

func (c *concurrency) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return c.rt.RoundTrip(r)
}

// At most MaxConcurrency requests are in flight per tenant.
func TestMaxConcurrency(t *testing.T) {
	tn := graphtest.NewTenant(t)
	hc := tn.HTTPClient()
	cc := &concurrency{rt: hc.Transport}
	hc.Transport = cc
	c, _ := newClient(t, tn, 2, hc)
	tn.SetOperation(industry.URLPath(), map[string]any{"id": industry.ID, "status": "running"})
	if _, err := c.GetOperation(context.Background(), industry); err != nil { // token first
		t.Fatal(err)
	}
	tn.SetLatency(50 * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.GetOperation(context.Background(), industry); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := cc.peak.Load(); p != 2 {
		t.Errorf("peak requests in flight = %d, want 2", p)
	}
}

// A token Graph refuses (401) while MSAL still holds it is dropped: the
// next request gets a new one. At most once a minute, so that a Graph that
// refuses everything does not cause a storm of token requests.
func TestRefusedTokenIsRenewed(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, m := newClient(t, tn, 1, nil)
	tn.SetOperation(industry.URLPath(), map[string]any{"id": industry.ID, "status": "running"})
	if _, err := c.GetOperation(context.Background(), industry); err != nil {
		t.Fatal(err)
	}
	// Graph's clock passes the token's expiry; MSAL's does not.
	now := time.Now()
	tn.SetClock(func() time.Time { return now.Add(2 * time.Hour) })
	var gerr *graph.Error
	if _, err := c.GetOperation(context.Background(), industry); !errors.As(err, &gerr) || gerr.StatusCode != 401 {
		t.Fatalf("with the token expired at Graph: %v, want a 401", err)
	}
	if _, err := c.GetOperation(context.Background(), industry); err != nil {
		t.Fatalf("after the 401 the token was not renewed: %v", err)
	}
	if got := tn.TokenRequests(); got != 2 {
		t.Errorf("identity platform got %d token requests, want 2", got)
	}
	// Refused again within the minute: not renewed again.
	tn.SetClock(func() time.Time { return now.Add(4 * time.Hour) })
	for i := 0; i < 3; i++ {
		if _, err := c.GetOperation(context.Background(), industry); !errors.As(err, &gerr) || gerr.StatusCode != 401 {
			t.Fatalf("refusal %d: %v, want a 401", i, err)
		}
	}
	if got := tn.TokenRequests(); got != 2 {
		t.Errorf("identity platform got %d token requests after refusals within a minute, want still 2", got)
	}
	if got := testutil.ToFloat64(m.TokenRequests.WithLabelValues("contoso", "success")); got != 2 {
		t.Errorf("token_requests_total{result=success} = %v, want 2", got)
	}
}

// An identity platform that never answers holds a request no longer than
// request_timeout: the tenant's request slot is not lost for ever.
func TestHungIdentityPlatformIsBounded(t *testing.T) {
	tn := graphtest.NewTenant(t)
	release := make(chan struct{})
	hung := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	pool := tn.RootCAs()
	pool.AddCert(hung.Certificate())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	m := graph.NewMetrics()
	o := credOptions(tn, m)
	o.Kind, o.Secret, o.AuthorityHost, o.HTTPClient = graph.CredentialClientSecret, tn.ClientSecret, hung.URL, hc
	ts, err := graph.NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.NewClient(graph.ClientOptions{Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint, Tokens: ts,
		HTTPClient: hc, MaxConcurrency: 1, RequestTimeout: 300 * time.Millisecond, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.GetOperation(context.Background(), industry)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("GetOperation succeeded without a token")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("GetOperation still waits for the hung identity platform after 5s")
	}
	if tn.Requests() != 0 {
		t.Error("a request went to Graph without a token")
	}
}
