package graph_test

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ ns, slept atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func longestWait() float64               { return 1 }
func secretSource(t *testing.T, tn *graphtest.Tenant, m *graph.Metrics, secret string) graph.TokenSource {
	t.Helper()
	o := credOptions(tn, m)
	o.Kind, o.Secret = graph.CredentialClientSecret, secret
	ts, err := graph.NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// scrapes asks ts for a token n times a second for secs seconds of the
// fake clock, all n at once, as n operations of one scrape do; it returns
// the last error.
func scrapes(ts graph.TokenSource, clock *fakeClock, secs, n int) error {
	var last atomic.Value
	for s := 0; s < secs; s++ {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := ts.Token(context.Background()); err != nil {
					last.Store(err)
				}
			}()
		}
		wg.Wait()
		clock.add(time.Second)
	}
	if err, ok := last.Load().(error); ok {
		return err
	}
	return nil
}

// A token outage of 60 one-second scrapes of 41 operations costs one
// identity-platform request per back-off period: the platform's
// Retry-After where it gives one, else 1 s doubling (with the longest
// jitter here: 1, 2, 4, 8, 16, 32 s, so requests at 0, 1, 3, 7, 15 and
// 31 s; the next at 63 s). Every caller in between gets the remembered
// failure.
func TestTokenOutageCostsOneRequestPerBackoff(t *testing.T) {
	for name, tc := range map[string]struct {
		fault    graphtest.TokenFault
		requests int
		result   string
		want     string // in the error
	}{
		"expired secret, 401": {graphtest.TokenFault{Status: http.StatusUnauthorized}, 6, "error", "AADSTS7000222: The provided client secret keys"},
		"500":                 {graphtest.TokenFault{Status: http.StatusInternalServerError}, 6, "error", "AADSTS90033"},
		"429 Retry-After 30":  {graphtest.TokenFault{Status: http.StatusTooManyRequests, RetryAfter: "30"}, 2, "error", "AADSTS90055"},
		"503 Retry-After 45":  {graphtest.TokenFault{Status: http.StatusServiceUnavailable, RetryAfter: "45"}, 2, "error", "AADSTS90033"},
		"not JSON":            {graphtest.TokenFault{NotJSON: true}, 6, "error", "token: "},
		// MSAL refuses an answer without expires_in.
		"no expires_in": {graphtest.TokenFault{NoExpiresIn: true}, 6, "error", "token: json decode error: expires_in and expires_on are both missing or invalid"},
	} {
		t.Run(name, func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			tn.FailTokensWith(-1, tc.fault)
			m := graph.NewMetrics()
			ts := secretSource(t, tn, m, tn.ClientSecret)
			clock := newFakeClock()
			graph.SetTokenClock(ts, clock.now, longestWait)
			err := scrapes(ts, clock, 60, 41)
			if got := tn.TokenRequests(); got != tc.requests {
				t.Errorf("identity platform got %d token requests in 60 scrapes, want %d", got, tc.requests)
			}
			if got := tokenCount(m, tc.result); got != float64(tc.requests) {
				t.Errorf("token_requests_total{result=%q} = %v, want %d", tc.result, got, tc.requests)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one with %q", err, tc.want)
			case err != nil && !graph.Logged(err):
				t.Errorf("the error is not marked as logged by the token source, so each operation would log it: %v", err)
			}
			// Once the platform works again, the next request after the
			// back-off gets a token.
			tn.FailTokens(0, 0)
			clock.add(10 * time.Minute)
			if _, err := ts.Token(context.Background()); err != nil {
				t.Errorf("after the outage: %v", err)
			}
		})
	}
}

// A token that lives under 5 minutes, which MSAL never caches, is reused
// for a minute (and no later than 30 s before it expires), not fetched for
// each Graph request.
func TestShortLivedTokenIsReused(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.SetTokenLifetime(2 * time.Minute)
	m := graph.NewMetrics()
	ts := secretSource(t, tn, m, tn.ClientSecret)
	clock := newFakeClock()
	graph.SetTokenClock(ts, clock.now, longestWait)
	if err := scrapes(ts, clock, 60, 41); err != nil {
		t.Fatal(err)
	}
	if got := tn.TokenRequests(); got != 1 {
		t.Errorf("identity platform got %d token requests in 60 scrapes, want 1", got)
	}
	clock.add(time.Second)
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := tn.TokenRequests(); got != 2 {
		t.Errorf("after a minute: %d token requests, want 2", got)
	}
}

// The back-off doubles from 1 s to at most 5 minutes, drawn between half
// and all of it.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		streak int
		jitter float64
		want   time.Duration
	}{
		{1, 1, time.Second}, {1, 0, 500 * time.Millisecond}, {2, 1, 2 * time.Second},
		{6, 1, 32 * time.Second}, {9, 1, 256 * time.Second}, {10, 1, 5 * time.Minute}, {100, 0, 150 * time.Second},
	} {
		if got := graph.Backoff(tc.streak, func() float64 { return tc.jitter }); got != tc.want {
			t.Errorf("backoff(%d, jitter %v) = %v, want %v", tc.streak, tc.jitter, got, tc.want)
		}
	}
}

// A token request that never reached the identity platform counts as
// unreachable, not error, and its error keeps the network's cause.
func TestUnreachableIdentityPlatform(t *testing.T) {
	tn := graphtest.NewTenant(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	m := graph.NewMetrics()
	o := credOptions(tn, m)
	o.Kind, o.Secret, o.AuthorityHost = graph.CredentialClientSecret, tn.ClientSecret, "https://"+closed
	ts, err := graph.NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connect: connection refused") || !strings.Contains(err.Error(), closed) {
		t.Errorf("error %v, want one naming %s and connection refused", err, closed)
	}
	if got := tokenCount(m, graph.ResultUnreachable); got != 1 {
		t.Errorf("token_requests_total{result=unreachable} = %v, want 1", got)
	}
	if got := tokenCount(m, "error"); got != 0 {
		t.Errorf("token_requests_total{result=error} = %v, want 0", got)
	}
}

// A 50 MB answer from the token endpoint is read no further than 1 MiB:
// the whole request allocates well under 64 MiB, and the error says why.
func TestHugeTokenAnswerIsCapped(t *testing.T) {
	tn := graphtest.NewTenant(t)
	tn.FailTokensWith(1, graphtest.TokenFault{Status: http.StatusInternalServerError, BodyBytes: 50 << 20})
	m := graph.NewMetrics()
	ts := secretSource(t, tn, m, tn.ClientSecret)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ts.Token(context.Background())
	runtime.ReadMemStats(&after)
	if err == nil || err.Error() != "token: the identity platform's answer is larger than 1 MiB" {
		t.Errorf("error %v, want the answer's size", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("a 50 MB token answer allocated %d MiB, want under 64", alloc>>20)
	}
	if after.HeapAlloc > 64<<20 {
		t.Errorf("heap %d MiB after a 50 MB token answer, want under 64", after.HeapAlloc>>20)
	}
}

// The client secret never reaches an error, however the answer quotes it:
// raw, form-encoded or JSON-escaped.
func TestEchoedSecretIsScrubbed(t *testing.T) {
	secret := `Qx8~a"b<c>&d\e+f/g=h`
	tn := graphtest.NewTenant(t)
	tn.FailTokensWith(1, graphtest.TokenFault{Status: http.StatusUnauthorized, EchoSecret: true})
	m := graph.NewMetrics()
	ts := secretSource(t, tn, m, secret)
	_, err := ts.Token(context.Background())
	if err == nil {
		t.Fatal("got a token")
	}
	msg := err.Error()
	if !strings.Contains(msg, "Invalid client secret provided: '<secret>'") {
		t.Errorf("error %q, want the echoed secret replaced by <secret>", msg)
	}
	for _, f := range graph.SecretForms(secret) {
		if strings.Contains(msg, f) {
			t.Errorf("error holds the secret as %q: %s", f, msg)
		}
	}
	for _, part := range []string{"Qx8~a", "d\\\\e", "f/g=h"} {
		if strings.Contains(msg, part) {
			t.Errorf("error holds part of the secret %q: %s", part, msg)
		}
	}
}

// A text cut in the middle of a secret loses the cut-off start too.
func TestCutBeforeScrub(t *testing.T) {
	secret := "S3cr3t-value-0123456789"
	long := strings.Repeat("x", 8<<10-5) + secret + strings.Repeat("y", 1<<20)
	got := graph.CutAndScrub(long, graph.SecretForms(secret))
	if strings.Contains(got, "S3cr3") || !strings.HasSuffix(got, "<secret>") || len(got) > 8<<10+len("<secret>") {
		t.Errorf("cut text ends %q (%d bytes), want the secret's start replaced and the text cut", got[len(got)-20:], len(got))
	}
}

// sleep is a retry policy's wait that passes on the clock at once; slept
// is the sum of those waits.
func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.add(d)
	c.slept.Add(int64(d))
	return ctx.Err()
}
