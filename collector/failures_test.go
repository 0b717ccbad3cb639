package collector

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

const importLabels = `tenant="contoso",scope="industryData",operation_id="` + importID + `",name=""`

func importOnly(t *testing.T, global string) *env {
	e := newEnv(t, global, `{scope: industryData, id: `+importID+`}`)
	seedTenant(e.tenant)
	return e
}

const importGood = `
# HELP msgraph_lro_up x
# TYPE msgraph_lro_up gauge
msgraph_lro_up{` + importLabels + `} %d
# HELP msgraph_lro_last_success_timestamp_seconds x
# TYPE msgraph_lro_last_success_timestamp_seconds gauge
msgraph_lro_last_success_timestamp_seconds{` + importLabels + `} 1.6863552e+09
# HELP msgraph_lro_status x
# TYPE msgraph_lro_status gauge
msgraph_lro_status{` + importLabels + `,status="notStarted"} 0
msgraph_lro_status{` + importLabels + `,status="running"} 0
msgraph_lro_status{` + importLabels + `,status="succeeded"} 1
msgraph_lro_status{` + importLabels + `,status="failed"} 0
msgraph_lro_status{` + importLabels + `,status="unknownFutureValue"} 0
`

func upOnly(v int) string {
	return `
# HELP msgraph_lro_up x
# TYPE msgraph_lro_up gauge
msgraph_lro_up{` + importLabels + `} ` + map[int]string{0: "0", 1: "1"}[v] + `
`
}

var opMetrics = []string{"msgraph_lro_up", "msgraph_lro_last_success_timestamp_seconds", "msgraph_lro_status"}

func good(up int) string {
	return strings.Replace(importGood, "%d", map[int]string{0: "0", 1: "1"}[up], 1)
}

// A bad answer from Graph, before any good one: only up 0, nothing invented.
func TestBadAnswersBeforeAnyGoodOne(t *testing.T) {
	empty, notJSON, noStatus := "", "<html>Service Unavailable</html>", `{"id":"x"}`
	for name, f := range map[string]graphtest.Fault{
		"404":           {Status: 404},
		"500":           {Status: 500},
		"503 not JSON":  {Status: 503, Body: &notJSON},
		"429":           {Status: 429, RetryAfter: "5"},
		"200 empty":     {Status: 200, Body: &empty},
		"200 not JSON":  {Status: 200, Body: &notJSON},
		"200 no status": {Status: 200, Body: &noStatus},
		"reset":         {Reset: true},
	} {
		t.Run(name, func(t *testing.T) {
			e := importOnly(t, "")
			e.tenant.Inject(importPath, f)
			e.expectHelpless(5*time.Second, upOnly(0), opMetrics...)
		})
	}
}

// After a good answer, a failure keeps the last good values with up 0 and
// the old last_success timestamp; errors are not cached: the next scrape
// asks again and recovers. A 500 is worth one more try within the fetch,
// after a second (graph.RetryPolicy, the same with batch: false as inside
// a $batch), so each failed scrape costs two requests and a second of the
// exporter's clock.
func TestFailureKeepsLastGoodValues(t *testing.T) {
	e := importOnly(t, "  terminal_cache_ttl: 1m")
	e.expectHelpless(5*time.Second, good(1), opMetrics...)
	e.tenant.Inject(importPath, graphtest.Fault{Status: 500, Times: 4})
	e.clock.Add(2 * time.Minute) // past the terminal TTL
	e.expectHelpless(5*time.Second, good(0), opMetrics...)
	if got := e.tenant.RequestsFor(importPath); got != 3 {
		t.Errorf("Graph got %d requests, want 3: the good one, a 500 and its retry", got)
	}
	e.expectHelpless(5*time.Second, good(0), opMetrics...)
	if got := e.tenant.RequestsFor(importPath); got != 5 {
		t.Errorf("Graph got %d requests, want 5: errors must not be cached", got)
	}
	// The fault is spent: the next scrape recovers, with a new fetch time
	// (2 min, the two retries' seconds, and this one).
	e.clock.Add(time.Second)
	e.expectHelpless(5*time.Second, strings.Replace(good(1), "1.6863552e+09", "1.686355323e+09", 1), opMetrics...)
}

// A 429 with Retry-After: no request for that operation before it runs out.
func TestThrottledHonoursRetryAfter(t *testing.T) {
	e := importOnly(t, "")
	e.tenant.Inject(importPath, graphtest.Fault{Status: 429, RetryAfter: "30", Times: 1})
	e.expectHelpless(5*time.Second, upOnly(0), opMetrics...)
	e.clock.Add(29 * time.Second)
	e.expectHelpless(5*time.Second, upOnly(0), opMetrics...)
	if got := e.tenant.RequestsFor(importPath); got != 1 {
		t.Fatalf("Graph got %d requests within Retry-After, want 1", got)
	}
	if got := testutil.ToFloat64(e.metrics.Throttled.WithLabelValues("contoso")); got != 1 {
		t.Errorf("msgraph_lro_graph_throttled_total = %v, want 1", got)
	}
	e.clock.Add(2 * time.Second)
	e.expectHelpless(5*time.Second, strings.Replace(good(1), "1.6863552e+09", "1.686355231e+09", 1), opMetrics...)
	if got := e.tenant.RequestsFor(importPath); got != 2 {
		t.Errorf("Graph got %d requests, want 2", got)
	}
}

// A 429 without Retry-After backs off exponentially: 1s, then 2s. Each
// scrape that gets one tries once more within its fetch, after the
// policy's second (graph.RetryPolicy; with batch: false as inside a
// $batch): two requests per throttled scrape, and the back-off starts
// when the second 429 came.
func TestThrottledWithoutRetryAfterBacksOff(t *testing.T) {
	e := importOnly(t, "")
	e.tenant.Inject(importPath, graphtest.Fault{Status: 429, Times: 4})
	e.collect() // 429, a second, 429: wait 1s from t=1s
	if got := e.tenant.RequestsFor(importPath); got != 2 {
		t.Fatalf("Graph got %d requests, want 2: a 429 and its retry", got)
	}
	e.clock.Add(500 * time.Millisecond)
	e.collect() // still waiting (t=1.5s)
	e.clock.Add(600 * time.Millisecond)
	e.collect() // t=2.1s: 429, a second, 429: wait 2s from t=3.1s
	e.clock.Add(1500 * time.Millisecond)
	e.collect() // still waiting (t=4.6s)
	if got := e.tenant.RequestsFor(importPath); got != 4 {
		t.Fatalf("Graph got %d requests, want 4", got)
	}
	e.clock.Add(600 * time.Millisecond)
	e.collect() // t=5.2s: the fault is spent
	if got := e.tenant.RequestsFor(importPath); got != 5 {
		t.Fatalf("Graph got %d requests, want 5", got)
	}
}

// A slow Graph: the scrape answers by its deadline with up 0; the fetch it
// started finishes on its own and the next scrape finds the answer cached.
func TestSlowGraphMissesDeadline(t *testing.T) {
	e := importOnly(t, "")
	e.tenant.Inject(importPath, graphtest.Fault{Latency: 1500 * time.Millisecond, Times: 1})
	start := time.Now()
	e.expectHelpless(300*time.Millisecond, upOnly(0), opMetrics...)
	if d := time.Since(start); d > 1200*time.Millisecond {
		t.Errorf("scrape took %v, past its deadline", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for upValue(t, e, 100*time.Millisecond) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the shared fetch never completed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := e.tenant.RequestsFor(importPath); got != 1 {
		t.Errorf("Graph got %d requests, want 1: the late answer should have been cached", got)
	}
}

// opRequests is how many times Graph was asked for a seeded operation,
// alone or inside a $batch.
func (e *env) opRequests() int {
	n := 0
	for _, p := range []string{alertPath, alert2Path, resetPath, importPath, sitePath, unknownPath} {
		n += e.tenant.RequestsFor(p)
	}
	return n
}

// upValue scrapes once and returns the one operation's msgraph_lro_up.
func upValue(t *testing.T, e *env, timeout time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.exp.Collector(ctx))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "msgraph_lro_up" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no single msgraph_lro_up series")
	return 0
}

// A token the identity platform refuses: up 0, counted as a token error.
func TestTokenFailure(t *testing.T) {
	e := importOnly(t, "")
	e.tenant.FailTokens(-1, 400)
	e.expectHelpless(5*time.Second, upOnly(0), opMetrics...)
	if got := testutil.ToFloat64(e.metrics.TokenRequests.WithLabelValues("contoso", "error")); got < 1 {
		t.Errorf("token errors = %v, want at least 1", got)
	}
	if got := e.tenant.Requests(); got != 0 {
		t.Errorf("Graph got %d requests without a token, want 0", got)
	}
	if !strings.Contains(e.logs.String(), "AADSTS") {
		t.Errorf("the log does not say what the identity platform said:\n%s", e.logs.String())
	}
	if strings.Contains(e.logs.String(), e.tenant.ClientSecret) {
		t.Error("the client secret is in the log")
	}
	if got := tokenErrors(e.metrics); got != 1 {
		t.Errorf("token errors = %v after one scrape of a refused token, want 1: the failure is remembered", got)
	}
	e.tenant.FailTokens(0, 0)
	e.expectHelpless(5*time.Second, upOnly(0), opMetrics...) // still remembered: the back-off is at least half a second
	time.Sleep(time.Second)                                  // and at most a second, the first time
	e.expectHelpless(5*time.Second, good(1), opMetrics...)
	if got := e.tenant.TokenRequests(); got != 2 {
		t.Errorf("identity platform got %d token requests, want 2: the failed one, and one after its back-off", got)
	}
}

func tokenErrors(m *graph.Metrics) float64 {
	return testutil.ToFloat64(m.TokenRequests.WithLabelValues("contoso", "error"))
}

// Many scrapes: one token per lifetime; within cache_ttl nothing goes to
// Graph; terminal operations keep their answer for terminal_cache_ttl.
func TestCachingAndTokenReuse(t *testing.T) {
	e := newEnv(t, "  cache_ttl: 30s\n  terminal_cache_ttl: 1h", seedOps...)
	seedTenant(e.tenant)
	e.collect()
	if got := e.opRequests(); got != len(seedOps) {
		t.Fatalf("first scrape asked for %d operations, want %d", got, len(seedOps))
	}
	e.clock.Add(10 * time.Second)
	e.collect()
	if got := e.opRequests(); got != len(seedOps) {
		t.Fatalf("second scrape inside cache_ttl asked for %d operations, want none", got-len(seedOps))
	}
	// Past cache_ttl: only the live operations (running, and the unknown status) are asked again.
	const live = 4
	for i := 1; i <= 20; i++ {
		e.clock.Add(31 * time.Second)
		e.collect()
		if got, want := e.opRequests(), len(seedOps)+i*live; got != want {
			t.Fatalf("after %d scrapes past cache_ttl: %d operations asked for, want %d", i, got, want)
		}
	}
	// One application token, and the reader's token from the sign-in.
	if got := e.tenant.TokenRequestsByGrant(graphtest.GrantClientCredentials); got != 1 {
		t.Errorf("identity platform got %d client-credentials requests over 22 scrapes, want 1", got)
	}
	if got := e.tenant.TokenRequestsByGrant(graphtest.GrantRefreshToken); got != 0 {
		t.Errorf("identity platform got %d refresh requests over 22 scrapes, want 0: the sign-in's token is good for an hour", got)
	}
	if got := testutil.ToFloat64(e.metrics.TokenRequests.WithLabelValues("contoso", "success")); got != 1 {
		t.Errorf("msgraph_lro_token_requests_total{result=success} = %v, want 1", got)
	}
}

// Two scrapes at once send one request per operation.
func TestConcurrentScrapesShareFetches(t *testing.T) {
	e := newEnv(t, "", seedOps...)
	seedTenant(e.tenant)
	e.tenant.SetLatency(200 * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); e.collect() }()
	}
	wg.Wait()
	if got := e.opRequests(); got != len(seedOps) {
		t.Errorf("two concurrent scrapes asked for %d operations, want %d", got, len(seedOps))
	}
	// A $batch of the four beta operations read with the application's
	// token, one GET for the password reset (the reader's token), and one
	// for the v1.0 one.
	if got := e.tenant.Requests(); got != 3 {
		t.Errorf("two concurrent scrapes sent %d HTTP requests, want 3", got)
	}
}

// A token outage logs once, at warn, for the tenant: not once per
// operation per scrape. 41 operations, 5 scrapes: one identity-platform
// request (the rest answered from the remembered failure) and one line.
func TestTokenOutageLogsOnce(t *testing.T) {
	var ops []string
	for i := range 41 {
		ops = append(ops, fmt.Sprintf("{scope: industryData, id: %08d-0000-0000-0000-000000000000}", i))
	}
	e := newEnv(t, "", ops...)
	e.tenant.FailTokens(-1, http.StatusUnauthorized)
	for range 5 {
		e.collect()
	}
	if got := e.tenant.TokenRequests(); got != 1 {
		t.Errorf("identity platform got %d token requests, want 1", got)
	}
	var loud []string
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, "level=warn") || strings.Contains(l, "level=error") {
			loud = append(loud, l)
		}
	}
	if len(loud) != 1 || !strings.Contains(loud[0], "AADSTS7000222") || !strings.Contains(loud[0], "tenant=contoso") {
		t.Errorf("want one warn line for the tenant, got %d:\n%s", len(loud), strings.Join(loud, "\n"))
	}
}

// The same faults cost the same requests, and hold the operation off as
// long, with batch: false as with batching (where the two operations go
// in one $batch): graph.RetryPolicy is one rule for both. Each step is a
// move of the exporter's clock, a scrape, and the requests Graph has had
// for the faulty operation by then.
func TestRetrySameWithAndWithoutBatch(t *testing.T) {
	type step struct {
		after    time.Duration
		requests int
		up       bool
	}
	for _, tc := range []struct {
		name  string
		fault graphtest.Fault
		steps []step
	}{
		// Retried within the scrape after its Retry-After, then fine.
		{"503 Retry-After 1", graphtest.Fault{Status: 503, RetryAfter: "1", Times: 1}, []step{{0, 2, true}}},
		// Retried after the policy's second, then fine.
		{"500", graphtest.Fault{Status: 500, Times: 1}, []step{{0, 2, true}}},
		// Too long to wait within the scrape: held off for 30 s.
		{"429 Retry-After 30", graphtest.Fault{Status: 429, RetryAfter: "30", Times: 1},
			[]step{{0, 1, false}, {29 * time.Second, 1, false}, {2 * time.Second, 2, true}}},
		// Retried once within each scrape, then held off 1 s, then 2 s.
		{"429", graphtest.Fault{Status: 429, Times: 4},
			[]step{{0, 2, false}, {1100 * time.Millisecond, 4, false}, {1900 * time.Millisecond, 4, false}, {200 * time.Millisecond, 5, true}}},
		{"404", graphtest.Fault{Status: 404}, []step{{0, 1, false}, {time.Second, 2, false}}},
		{"403", graphtest.Fault{Status: 403}, []step{{0, 1, false}, {time.Second, 2, false}}},
	} {
		for _, batch := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/batch=%v", tc.name, batch), func(t *testing.T) {
				tn := graphtest.NewTenant(t)
				ops, paths := importOps(tn, 2)
				e := newEnvFor(t, tn, fmt.Sprintf("  batch: %v\n  cache_ttl: 1h", batch), ops...)
				tn.Inject(paths[0], tc.fault)
				for n, s := range tc.steps {
					e.clock.Add(s.after)
					want := 1
					if s.up {
						want = 2
					}
					if got := countUp(t, e); got != want {
						t.Errorf("step %d: %d operations up, want %d", n, got, want)
					}
					if got := tn.RequestsFor(paths[0]); got != s.requests {
						t.Errorf("step %d: Graph got %d requests for the faulty operation, want %d", n, got, s.requests)
					}
				}
				if got := tn.RequestsFor(paths[1]); got != 1 {
					t.Errorf("Graph got %d requests for the healthy one, want 1 (cached for cache_ttl)", got)
				}
			})
		}
	}
}
