package graph_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// twenty is a full $batch of operations, all running.
func twenty(tn *graphtest.Tenant) []graph.OperationRef {
	var refs []graph.OperationRef
	for i := 0; i < graph.MaxBatch; i++ {
		r := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: fmt.Sprintf("op-%02d", i)}
		refs = append(refs, r)
		tn.SetOperation(r.URLPath(), map[string]any{"id": r.ID, "status": "running"})
	}
	return refs
}

// An inner answer larger than 1 MiB fails its own operation only: the
// other 19 of its $batch are read, in one request; a 50 MB one is read past
// without being kept (the whole fetch allocates under 64 MiB).
func TestOversizedInnerAnswerFailsOneOperation(t *testing.T) {
	for _, size := range []int{graph.MaxBodyBytes + 1, 50 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			c, _ := batchClient(t, tn)
			refs := twenty(tn)
			tn.Inject(refs[7].URLPath(), graphtest.Fault{Status: http.StatusOK, BodyBytes: size})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out := getAll(t, c, refs)
			runtime.ReadMemStats(&after)
			for i, o := range out {
				switch {
				case i == 7:
					if o.err == nil || !strings.HasPrefix(o.err.Error(), "graph's answer for this operation inside a $batch is larger than 1048576 bytes (client-request-id ") {
						t.Errorf("the oversized one: %v", o.err)
					}
				case o.err != nil || o.op.Status != "running":
					t.Errorf("refs[%d] of the same batch: %+v", i, o)
				}
			}
			if got := tn.Requests(); got != 1 {
				t.Errorf("Graph got %d requests, want the one $batch", got)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("a $batch with a %d-byte inner answer allocated %d MiB, want under 64", size, alloc>>20)
			}
		})
	}
}

// A 50 MB answer to a single GET is read no further than 1 MiB.
func TestHugeGraphAnswerIsCapped(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, _ := newClientBatch(t, tn, 4, nil, false)
	refs := twenty(tn)[:1]
	tn.Inject(refs[0].URLPath(), graphtest.Fault{Status: http.StatusOK, BodyBytes: 50 << 20})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out := getAll(t, c, refs)
	runtime.ReadMemStats(&after)
	if out[0].err == nil || !strings.HasPrefix(out[0].err.Error(), "graph answer is larger than 1048576 bytes") {
		t.Errorf("error %v, want the answer's size", out[0].err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("a 50 MB Graph answer allocated %d MiB, want under 64", alloc>>20)
	}
}

// throttleClient is a client one request at a time (so the order is the
// refs' order), on a clock the test moves: the tenant hold's, and the one
// its retries wait on (at once). Each request takes at most timeout.
func throttleClient(t *testing.T, tn *graphtest.Tenant, batch bool, clock *fakeClock, timeout time.Duration) (*graph.Client, *graph.Metrics) {
	t.Helper()
	m := graph.NewMetrics()
	ts := secretSource(t, tn, m, tn.ClientSecret)
	c, err := graph.NewClient(graph.ClientOptions{
		Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint, Tokens: ts, HTTPClient: tn.HTTPClient(),
		MaxConcurrency: 1, RequestTimeout: timeout, Metrics: m, Batch: batch, Now: clock.now,
		Retry: graph.RetryPolicy{Sleep: clock.sleep},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

// A 429 whose x-ms-throttle-scope is the app in the tenant (Graph's
// throttling guidance: Tenant_Application, Tenant, Application) stops
// every request of the tenant until its Retry-After: the other 19
// operations are not sent, and fail as throttled with what is left of
// the wait; after it, all go. A 429 of another scope holds off only its
// own operation.
func TestTenantScoped429HoldsOffTheTenant(t *testing.T) {
	for _, tc := range []struct {
		scope string
		held  bool
	}{
		{"Tenant_Application/Read/%s/%s", true},
		{"Tenant/Read/%s/%s", true},
		{"Application/ReadWrite/%s/%s", true},
		{"", false},
		{"User/Read/%s/%s", false},
	} {
		t.Run(strings.SplitN(tc.scope, "/", 2)[0], func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			clock := newFakeClock()
			c, m := throttleClient(t, tn, false, clock, 2*time.Second)
			refs := twenty(tn)
			scope := tc.scope
			if strings.Contains(scope, "%s") {
				scope = fmt.Sprintf(scope, tn.ClientID, tn.TenantID)
			}
			tn.Inject(refs[0].URLPath(), graphtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30", ThrottleScope: scope, Times: 1})
			out := getAll(t, c, refs)
			want := 20
			if tc.held {
				want = 1
			}
			if got := tn.Requests(); got != want {
				t.Errorf("Graph got %d requests, want %d", got, want)
			}
			var gerr *graph.Error
			if !errors.As(out[0].err, &gerr) || !gerr.Throttled() || gerr.RetryAfter != 30*time.Second {
				t.Errorf("the throttled one: %v", out[0].err)
			}
			if tc.held {
				for i, o := range out[1:] {
					if !errors.As(o.err, &gerr) || !gerr.Throttled() || gerr.RetryAfter != 30*time.Second ||
						!strings.HasPrefix(o.err.Error(), "graph answered 429 Too Many Requests: NotSent: not sent: Graph throttles this tenant (x-ms-throttle-scope ") {
						t.Errorf("refs[%d], not sent: %v", i+1, o.err)
					}
				}
				until := testutil.ToFloat64(m.ThrottledUntil.WithLabelValues("contoso"))
				if want := float64(clock.now().Add(30*time.Second).UnixNano()) / 1e9; until < want-1 || until > want+1 {
					t.Errorf("throttled_until %v, want %v", until, want)
				}
				clock.add(29 * time.Second)
				getAll(t, c, refs)
				if got := tn.Requests(); got != 1 {
					t.Errorf("before Retry-After ran out: Graph got %d requests, want still 1", got)
				}
				clock.add(time.Second)
				for i, o := range getAll(t, c, refs) {
					if o.err != nil {
						t.Errorf("refs[%d] after the wait: %v", i, o.err)
					}
				}
				if got := tn.Requests(); got != 21 {
					t.Errorf("after Retry-After: Graph got %d requests, want 21", got)
				}
			}
			if got := testutil.ToFloat64(m.Throttled.WithLabelValues("contoso")); got != 1 {
				t.Errorf("throttled_total %v, want 1: requests not sent are not Graph's 429s", got)
			}
		})
	}
}

// A 429 for a whole $batch holds off the tenant, whatever its scope; a 503
// with Retry-After (SharePoint's throttling) counts as throttling, and its
// operation waits for it.
func TestBatch429HoldsOffAnd503IsThrottling(t *testing.T) {
	tn := graphtest.NewTenant(t)
	clock := newFakeClock()
	c, m := throttleClient(t, tn, true, clock, 2*time.Second)
	refs := twenty(tn)
	tn.Inject("/beta/$batch", graphtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "10", Times: 1})
	tn.Inject("/v1.0/$batch", graphtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "10", Times: 1})
	getAll(t, c, refs)
	getAll(t, c, refs)
	if got := tn.Requests(); got != 1 {
		t.Errorf("Graph got %d requests, want the one throttled $batch", got)
	}
	clock.add(10 * time.Second)
	tn.Inject(refs[3].URLPath(), graphtest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "120", Times: 1})
	out := getAll(t, c, refs)
	var gerr *graph.Error
	if !errors.As(out[3].err, &gerr) || !gerr.Throttled() || gerr.RetryAfter != 120*time.Second {
		t.Errorf("503 with Retry-After: %v, want it throttled for 2 minutes", out[3].err)
	}
	if got := testutil.ToFloat64(m.Throttled.WithLabelValues("contoso")); got != 2 {
		t.Errorf("throttled_total %v, want 2 (the $batch's 429 and the 503)", got)
	}
}

// A $batch that fails as a whole (424, 503, 504) is not turned into 20
// GETs: it is sent again once, after its Retry-After (else a second), if
// that fits in the deadline; else each operation keeps the error.
func TestFailedBatchIsRetriedNotFannedOut(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		requests   int
		ok         bool
	}{
		{http.StatusFailedDependency, "", 2, true},
		{http.StatusServiceUnavailable, "0.1", 2, true},
		{http.StatusGatewayTimeout, "", 2, true},
		{http.StatusServiceUnavailable, "60", 1, false}, // too long to wait for in this scrape
	} {
		t.Run(fmt.Sprint(tc.status, tc.retryAfter), func(t *testing.T) {
			t.Parallel()
			tn := graphtest.NewTenant(t)
			c, _ := batchClient(t, tn)
			refs := twenty(tn)
			tn.Inject("/beta/$batch", graphtest.Fault{Status: tc.status, RetryAfter: tc.retryAfter, Times: 1})
			tn.Inject("/v1.0/$batch", graphtest.Fault{Status: tc.status, RetryAfter: tc.retryAfter, Times: 1})
			out := getAll(t, c, refs)
			if got := tn.Requests(); got != tc.requests {
				t.Errorf("Graph got %d requests, want %d", got, tc.requests)
			}
			for i, o := range out {
				if (o.err == nil) != tc.ok {
					t.Errorf("refs[%d]: %v", i, o.err)
				}
			}
		})
	}
}

// Graph requests carry the User-Agent SharePoint's throttling guidance
// asks for: NONISV|<company>|<app>/<version>.
func TestUserAgentDecorated(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, _ := newClientBatch(t, tn, 1, nil, false)
	getAll(t, c, twenty(tn)[:1])
	if got, want := tn.LastUserAgent(), graph.UserAgent(); got != want || !strings.HasPrefix(got, "NONISV|msgraph-lro|msgraph_lro_exporter/") {
		t.Errorf("User-Agent %q, want %q", got, want)
	}
}

// A $batch whose 20 inner answers fail logs one warn line, with their
// statuses, not one per operation.
func TestBatchErrorsLoggedOnce(t *testing.T) {
	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			m := graph.NewMetrics()
			var logs syncBuf
			ts := secretSource(t, tn, m, tn.ClientSecret)
			var clock atomic.Int64 // seconds past now0
			now0 := time.Now()
			c, err := graph.NewClient(graph.ClientOptions{
				Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint, Tokens: ts, HTTPClient: tn.HTTPClient(),
				MaxConcurrency: 1, RequestTimeout: 2 * time.Second, Metrics: m, Batch: batch, Logger: log.NewLogfmtLogger(&logs),
				Now: func() time.Time { return now0.Add(time.Duration(clock.Load()) * time.Second) },
			})
			if err != nil {
				t.Fatal(err)
			}
			refs := twenty(tn)
			for _, r := range refs {
				tn.Inject(r.URLPath(), graphtest.Fault{Status: http.StatusForbidden})
			}
			getAll(t, c, refs)
			var warn []string
			debug := 0
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=warn") {
					warn = append(warn, l)
				}
				if strings.Contains(l, "level=debug") && strings.Contains(l, `msg="graph answered with an error"`) && strings.Contains(l, "status=403") {
					debug++
				}
			}
			// One fetch, one warn line: 20 inner answers of a $batch, or
			// 20 single GETs (batch: false), alike; each operation at debug.
			if len(warn) != 1 || !strings.Contains(warn[0], `errors=20×403`) || !strings.Contains(warn[0], "operations=20") {
				t.Errorf("want one warn line for the fetch with errors=20×403, got %d:\n%s", len(warn), strings.Join(warn, "\n"))
			}
			if debug != 20 {
				t.Errorf("%d operations' errors at debug, want 20", debug)
			}

			// The same failure at the next scrapes is held back for 5
			// minutes; then one line says how many were.
			for range 3 {
				clock.Add(60)
				getAll(t, c, refs)
			}
			clock.Add(120) // 5 minutes after the first line
			getAll(t, c, refs)
			warn = warn[:0]
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=warn") {
					warn = append(warn, l)
				}
			}
			if len(warn) != 2 || !strings.Contains(warn[1], "errors=20×403") || !strings.Contains(warn[1], "repeated_since_last_log=3") {
				t.Errorf("want a second warn line after 5 minutes with repeated_since_last_log=3, got %d:\n%s", len(warn), strings.Join(warn, "\n"))
			}
		})
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A Graph host that answers nothing (here a closed port; in production
// DNS, egress or a firewall) costs one warn line per interval for the
// tenant, not one per operation and scrape, batched or not; each
// operation's error says the client logged it, so the collector logs it
// at debug.
func TestUnreachableGraphLoggedOnce(t *testing.T) {
	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			m := graph.NewMetrics()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closed := "https://" + ln.Addr().String()
			ln.Close()
			var logs syncBuf
			c, err := graph.NewClient(graph.ClientOptions{
				Tenant: "contoso", GraphEndpoint: closed, Tokens: secretSource(t, tn, m, tn.ClientSecret), HTTPClient: tn.HTTPClient(),
				MaxConcurrency: 4, RequestTimeout: 2 * time.Second, Metrics: m, Batch: batch, Logger: log.NewLogfmtLogger(&logs),
			})
			if err != nil {
				t.Fatal(err)
			}
			refs := twenty(tn)
			for range 3 {
				for i, o := range getAll(t, c, refs) {
					if o.err == nil || !graph.Logged(o.err) || !strings.Contains(o.err.Error(), "graph request failed (client-request-id ") {
						t.Fatalf("operation %d: %v (logged %v)", i, o.err, graph.Logged(o.err))
					}
				}
			}
			var warn []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=warn") {
					warn = append(warn, l)
				}
			}
			if len(warn) != 1 || !strings.Contains(warn[0], `msg="graph request failed; no answer came"`) || !strings.Contains(warn[0], "connection refused") {
				t.Errorf("want one warn line for 3 fetches of 20 operations, got %d:\n%s", len(warn), strings.Join(warn, "\n"))
			}
		})
	}
}

// Answers of 200 that hold no operation (not JSON) for every operation of
// a fetch: one warn line per interval for the tenant and scope, batched or
// not; each operation's error says it was logged.
func TestUnreadableAnswersLoggedOnce(t *testing.T) {
	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			m := graph.NewMetrics()
			var logs syncBuf
			c, err := graph.NewClient(graph.ClientOptions{
				Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint, Tokens: secretSource(t, tn, m, tn.ClientSecret), HTTPClient: tn.HTTPClient(),
				MaxConcurrency: 4, RequestTimeout: 2 * time.Second, Metrics: m, Batch: batch, Logger: log.NewLogfmtLogger(&logs),
			})
			if err != nil {
				t.Fatal(err)
			}
			refs := twenty(tn)
			notJSON := "<html>Service Unavailable</html>"
			for _, r := range refs {
				tn.Inject(r.URLPath(), graphtest.Fault{Status: http.StatusOK, Body: &notJSON})
			}
			for range 3 {
				for i, o := range getAll(t, c, refs) {
					if o.err == nil || !graph.Logged(o.err) {
						t.Fatalf("operation %d: %v (logged %v)", i, o.err, graph.Logged(o.err))
					}
				}
			}
			var warn []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=warn") {
					warn = append(warn, l)
				}
			}
			if len(warn) != 1 || !strings.Contains(warn[0], "cannot be read") || !strings.Contains(warn[0], "scope=industryData") {
				t.Errorf("want one warn line for 3 fetches of 20 unreadable answers, got %d:\n%s", len(warn), strings.Join(warn, "\n"))
			}
		})
	}
}

// A Graph that does not answer within request_timeout is Graph's failure,
// not the caller giving up: it is warned about (once), not logged at
// debug as an abandoned request.
func TestGraphTimeoutIsWarned(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, logs := loggingClient(t, tn, 300*time.Millisecond)
	refs := twenty(tn)
	getAll(t, c, refs) // the token, before Graph goes silent
	tn.SetLatency(time.Second)
	defer tn.SetLatency(0)
	for i, o := range getAll(t, c, refs) {
		if o.err == nil || !strings.Contains(o.err.Error(), "graph request failed (client-request-id ") {
			t.Fatalf("operation %d: %v, want the request timed out", i, o.err)
		}
	}
	got := logs.String()
	if !regexp.MustCompile(`level=warn .*msg="graph request failed; no answer came"`).MatchString(got) || strings.Contains(got, "graph request abandoned") {
		t.Errorf("want the timeout warned about, not abandoned:\n%s", got)
	}
}

// loggingClient is a batching client of tn, 4 requests at a time, whose
// log lines are kept.
func loggingClient(t *testing.T, tn *graphtest.Tenant, timeout time.Duration) (*graph.Client, *syncBuf) {
	t.Helper()
	m := graph.NewMetrics()
	logs := &syncBuf{}
	c, err := graph.NewClient(graph.ClientOptions{
		Tenant: "contoso", GraphEndpoint: tn.GraphEndpoint, Tokens: secretSource(t, tn, m, tn.ClientSecret), HTTPClient: tn.HTTPClient(),
		MaxConcurrency: 4, RequestTimeout: timeout, Metrics: m, Batch: true, Logger: log.NewLogfmtLogger(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

// Twenty GETs answered with the same error (here those that replace a
// refused $batch, each answered 403) are one log line per interval, not
// one per operation: the line is keyed by status and code, not path.
func TestSameErrorOfManyGETsLoggedOnce(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, logs := loggingClient(t, tn, 2*time.Second)
	refs := twenty(tn)
	tn.Inject("/beta/$batch", graphtest.Fault{Status: 400, Times: 1})
	for _, r := range refs {
		tn.Inject(r.URLPath(), graphtest.Fault{Status: 403, Times: 1})
	}
	for i, o := range getAll(t, c, refs) {
		var gerr *graph.Error
		if !errors.As(o.err, &gerr) || gerr.StatusCode != 403 {
			t.Fatalf("operation %d: %v, want its 403", i, o.err)
		}
	}
	if n := len(regexp.MustCompile(`msg="graph answered with an error" .*status=403`).FindAllString(logs.String(), -1)); n != 1 {
		t.Errorf("%d lines for twenty 403s, want 1:\n%s", n, logs.String())
	}
}

// A request waiting for the tenant's only slot while another's answer is a
// tenant-wide 429 does not go out: the slot is freed only once that answer
// has held the tenant off.
func TestHoldSetBeforeTheSlotIsFree(t *testing.T) {
	for round := 0; round < 10; round++ {
		tn := graphtest.NewTenant(t)
		c, _ := throttleClient(t, tn, false, newFakeClock(), 2*time.Second)
		refs := twenty(tn)
		a := refs[0]
		tn.Inject(a.URLPath(), graphtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30", Latency: 50 * time.Millisecond,
			ThrottleScope: tenantScope(tn), Times: 1})
		waiterNotSent(t, round, tn, c, refs[1], func() { _, _ = c.GetOperation(context.Background(), a) })
	}
}

// The same inside a $batch: an inner answer that holds the tenant off
// keeps the batch's slot until it has been read.
func TestHoldInsideABatchSetBeforeTheSlotIsFree(t *testing.T) {
	for round := 0; round < 10; round++ {
		tn := graphtest.NewTenant(t)
		c, _ := throttleClient(t, tn, true, newFakeClock(), 2*time.Second)
		refs := twenty(tn)
		other := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "waiting"}
		tn.SetOperation(other.URLPath(), map[string]any{"id": other.ID, "status": "running"})
		tn.Inject(refs[19].URLPath(), graphtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30", ThrottleScope: tenantScope(tn), Times: 1})
		tn.Inject("", graphtest.Fault{Latency: 50 * time.Millisecond, Times: 1}) // the $batch itself
		waiterNotSent(t, round, tn, c, other, func() {
			c.GetOperations(context.Background(), refs, func(int, *graph.Operation, error) {})
		})
	}
}

func tenantScope(tn *graphtest.Tenant) string {
	return fmt.Sprintf("Tenant_Application/Read/%s/%s", tn.ClientID, tn.TenantID)
}

// waiterNotSent runs busy, which must end in a tenant-wide 429 of the only
// request slot, and once its request reached Graph asks for waiter, which
// waits for the slot: waiter must not be sent.
func waiterNotSent(t *testing.T, round int, tn *graphtest.Tenant, c *graph.Client, waiter graph.OperationRef, busy func()) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); busy() }()
	for tn.Requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	var err error
	go func() { defer wg.Done(); _, err = c.GetOperation(context.Background(), waiter) }()
	wg.Wait()
	if n := tn.RequestsFor(waiter.URLPath()); n != 0 {
		t.Fatalf("round %d: the request waiting for the slot went out (%d) after a tenant-wide 429: %v", round, n, err)
	}
	if !strings.Contains(fmt.Sprint(err), "NotSent") {
		t.Fatalf("round %d: the request waiting for the slot: %v, want not sent", round, err)
	}
}
