package graph_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// One retry policy for a single GET and for a $batch: for each fault of
// one operation among three, batch: false and batch: true send the same
// number of requests for it, wait as long, and end with the same error.
// Graph's guidance: wait the Retry-After (else back off), then try again;
// a wait longer than request_timeout (here 2 s) is for the next scrape.
func TestRetrySameBatchedOrNot(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault graphtest.Fault
		tries int           // requests for the faulty operation
		slept time.Duration // waited within the call
		check func(*graph.Error) bool
	}{
		{"503 with Retry-After 1", graphtest.Fault{Status: 503, RetryAfter: "1", Times: 1}, 2, time.Second, nil},
		{"500 without Retry-After", graphtest.Fault{Status: 500, Times: 1}, 2, graph.DefaultRetry.Wait, nil},
		{"424", graphtest.Fault{Status: 424, Times: 1}, 2, graph.DefaultRetry.Wait, nil},
		{"504 twice: one retry only", graphtest.Fault{Status: 504, Times: 2}, 2, graph.DefaultRetry.Wait,
			func(e *graph.Error) bool { return e.StatusCode == 504 && !e.HasRetryAfter }},
		{"429 with Retry-After 30: does not fit", graphtest.Fault{Status: 429, RetryAfter: "30", Times: 1}, 1, 0,
			func(e *graph.Error) bool { return e.Throttled() && e.HasRetryAfter && e.RetryAfter == 30*time.Second }},
		{"429 without Retry-After", graphtest.Fault{Status: 429, Times: 2}, 2, graph.DefaultRetry.Wait,
			func(e *graph.Error) bool { return e.Throttled() && !e.HasRetryAfter }},
		{"404", graphtest.Fault{Status: 404}, 1, 0, (*graph.Error).NotFound},
		{"403", graphtest.Fault{Status: 403}, 1, 0, func(e *graph.Error) bool { return e.StatusCode == 403 }},
		{"501: no wait mends it", graphtest.Fault{Status: 501}, 1, 0, func(e *graph.Error) bool { return e.StatusCode == 501 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := map[bool]string{}
			for _, batch := range []bool{false, true} {
				tn := graphtest.NewTenant(t)
				clock := newFakeClock()
				c, _ := throttleClient(t, tn, batch, clock, 2*time.Second)
				refs := twenty(tn)[:3]
				tn.Inject(refs[1].URLPath(), tc.fault)
				out := getAll(t, c, refs)
				for i, r := range refs {
					want := 1
					if i == 1 {
						want = tc.tries
					}
					if got := tn.RequestsFor(r.URLPath()); got != want {
						t.Errorf("batch=%v: refs[%d] asked for %d times, want %d", batch, i, got, want)
					}
				}
				if out[0].err != nil || out[2].err != nil {
					t.Errorf("batch=%v: the healthy ones: %v, %v", batch, out[0].err, out[2].err)
				}
				if got := time.Duration(clock.slept.Load()); got != tc.slept {
					t.Errorf("batch=%v: waited %v within the call, want %v", batch, got, tc.slept)
				}
				var gerr *graph.Error
				switch {
				case tc.check == nil && out[1].err != nil:
					t.Errorf("batch=%v: %v, want the retry's answer", batch, out[1].err)
				case tc.check != nil && (!errors.As(out[1].err, &gerr) || !tc.check(gerr)):
					t.Errorf("batch=%v: error %v", batch, out[1].err)
				}
				errs[batch] = fmt.Sprint(out[1].err)
				if batch {
					// The first try was inside a $batch, the retry a GET
					// of its own.
					want := 1
					if tc.tries == 2 {
						want = 2
					}
					if got := tn.Requests(); got != want {
						t.Errorf("batch=true: Graph got %d HTTP requests, want %d", got, want)
					}
				}
			}
			if errs[false] != errs[true] {
				t.Errorf("the operation's error differs: %q with batch: false, %q with batch: true", errs[false], errs[true])
			}
		})
	}
}

// The back-off for later scrapes, after throttled answers without
// Retry-After: 1 s doubling to 5 min, the same for an operation (the
// collector's cache) and for the tenant; a Retry-After is taken as it is
// and keeps the back-off; an answer that is not throttling holds nothing.
func TestHoldOffBacksOffToCap(t *testing.T) {
	throttled := &graph.Error{StatusCode: http.StatusTooManyRequests}
	var backoff time.Duration
	var got []time.Duration
	for range 11 {
		var wait time.Duration
		var ok bool
		wait, backoff, ok = graph.DefaultRetry.HoldOff(throttled, backoff)
		if !ok {
			t.Fatal("a 429 does not hold off")
		}
		got = append(got, wait)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("waits %v, want %v seconds", got, want)
		}
	}
	ra := &graph.Error{StatusCode: http.StatusServiceUnavailable, RetryAfter: 7 * time.Second, HasRetryAfter: true}
	if wait, next, ok := graph.DefaultRetry.HoldOff(ra, 4*time.Second); !ok || wait != 7*time.Second || next != 4*time.Second {
		t.Errorf("503 with Retry-After 7: %v, %v, %v; want 7s, the back-off kept", wait, next, ok)
	}
	if _, _, ok := graph.DefaultRetry.HoldOff(&graph.Error{StatusCode: 500}, 0); ok {
		t.Error("a 500 holds off")
	}
}

// A tenant-wide 429 without Retry-After holds the tenant off by the
// policy's back-off, 1 s doubling to 5 min. (The request_timeout of
// 500 ms leaves no room for the policy's second within the call: one
// request per call.)
func TestTenantHoldBacksOffByPolicy(t *testing.T) {
	tn := graphtest.NewTenant(t)
	clock := newFakeClock()
	c, m := throttleClient(t, tn, false, clock, 500*time.Millisecond)
	refs := twenty(tn)[:1]
	tn.Inject(refs[0].URLPath(), graphtest.Fault{Status: http.StatusTooManyRequests,
		ThrottleScope: "Tenant_Application/Read/" + tn.ClientID + "/" + tn.TenantID})
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for _, w := range want {
		getAll(t, c, refs)
		until := time.Unix(0, int64(testutil.ToFloat64(m.ThrottledUntil.WithLabelValues("contoso"))*1e9))
		if d := until.Sub(clock.now()).Round(time.Second); d != w*time.Second {
			t.Fatalf("the tenant is held off %v, want %v", d, w*time.Second)
		}
		clock.add(w * time.Second)
	}
	if got := tn.Requests(); got != len(want) {
		t.Errorf("Graph got %d requests, want %d: one per call, none while held", got, len(want))
	}
	if got := time.Duration(clock.slept.Load()); got != 0 {
		t.Errorf("waited %v within the calls, want 0", got)
	}
}
