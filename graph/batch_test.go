package graph_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

func batchClient(t *testing.T, tn *graphtest.Tenant) (*graph.Client, *graph.Metrics) {
	t.Helper()
	return newClientBatch(t, tn, 4, nil, true)
}

type outcome struct {
	op  *graph.Operation
	err error
	n   int
}

func getAll(t *testing.T, c *graph.Client, refs []graph.OperationRef) []outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := make([]outcome, len(refs))
	var mu sync.Mutex
	c.GetOperations(ctx, refs, func(i int, op *graph.Operation, err error) {
		mu.Lock()
		defer mu.Unlock()
		out[i].op, out[i].err = op, err
		out[i].n++
	})
	for i, o := range out {
		if o.n != 1 {
			t.Errorf("refs[%d] answered %d times, want once", i, o.n)
		}
	}
	return out
}

// runningOps gives the tenant n industry-data operations op-0 … op-n-1,
// running, and returns their refs.
func runningOps(tn *graphtest.Tenant, n int) []graph.OperationRef {
	refs := make([]graph.OperationRef, n)
	for i := range refs {
		refs[i] = graph.OperationRef{Scope: graph.ScopeIndustryData, ID: fmt.Sprintf("op-%d", i)}
		tn.SetOperation(refs[i].URLPath(), map[string]any{"id": refs[i].ID, "status": "running"})
	}
	return refs
}

// Every inner answer is read on its own.
func TestBatchInnerAnswers(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, m := batchClient(t, tn)
	refs := runningOps(tn, 6)
	tn.RemoveOperation(refs[1].URLPath()) // a 404
	notJSON := "<html>oops</html>"
	tn.Inject(refs[2].URLPath(), graphtest.Fault{Status: 500, Times: 1})         // retried, then fine
	tn.Inject(refs[3].URLPath(), graphtest.Fault{Status: 200, Body: &notJSON})   // unreadable
	tn.Inject(refs[4].URLPath(), graphtest.Fault{Status: 429, RetryAfter: "60"}) // too long to wait for
	tn.Inject(refs[5].URLPath(), graphtest.Fault{Status: 403, Times: 1})         // final
	out := getAll(t, c, refs)

	if out[0].err != nil || out[0].op.Status != "running" {
		t.Errorf("200: %+v", out[0])
	}
	var gerr *graph.Error
	if !errors.As(out[1].err, &gerr) || !gerr.NotFound() {
		t.Errorf("404: %v", out[1].err)
	}
	if out[2].err != nil || tn.RequestsFor(refs[2].URLPath()) != 2 {
		t.Errorf("inner 500 then 200: %v after %d requests", out[2].err, tn.RequestsFor(refs[2].URLPath()))
	}
	if out[3].err == nil {
		t.Error("a body that is not JSON was accepted")
	}
	if !errors.As(out[4].err, &gerr) || !gerr.Throttled() || gerr.RetryAfter != time.Minute {
		t.Errorf("inner 429 with Retry-After 60: %v", out[4].err)
	}
	if tn.RequestsFor(refs[4].URLPath()) != 1 {
		t.Error("a 429 was retried before its Retry-After")
	}
	if !errors.As(out[5].err, &gerr) || gerr.StatusCode != 403 || tn.RequestsFor(refs[5].URLPath()) != 1 {
		t.Errorf("inner 403: %v", out[5].err)
	}
	// The batch, then a GET for the 500 (the 429's wait does not fit the deadline).
	if got := tn.Requests(); got != 2 {
		t.Errorf("%d HTTP requests, want 2", got)
	}
	if got := testutil.ToFloat64(m.Fetched.WithLabelValues("contoso")); got != 7 {
		t.Errorf("operations fetched = %v, want 7", got)
	}
}

// A 429 for the whole batch: every operation in it is throttled, and no
// fallback doubles the load.
func TestWholeBatchThrottled(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, _ := batchClient(t, tn)
	refs := []graph.OperationRef{{Scope: graph.ScopeIndustryData, ID: "a"}, {Scope: graph.ScopeIndustryData, ID: "b"}}
	tn.Inject("/beta/$batch", graphtest.Fault{Status: 429, RetryAfter: "7", Times: 1})
	for i, o := range getAll(t, c, refs) {
		var gerr *graph.Error
		if !errors.As(o.err, &gerr) || !gerr.Throttled() || gerr.RetryAfter != 7*time.Second {
			t.Errorf("refs[%d]: %v", i, o.err)
		}
	}
	if got := tn.Requests(); got != 1 {
		t.Errorf("%d HTTP requests, want 1", got)
	}
}

// Versions never share a batch; a lone operation is a plain GET.
func TestBatchesPerVersion(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, _ := batchClient(t, tn)
	var refs []graph.OperationRef
	for i := 0; i < 3; i++ {
		refs = append(refs, graph.OperationRef{Scope: graph.ScopeIndustryData, ID: fmt.Sprint("b", i)})
		refs = append(refs, graph.OperationRef{Scope: graph.ScopeSites, Site: "contoso.sharepoint.com,1,2", ID: fmt.Sprint("v", i)})
	}
	refs = append(refs, graph.OperationRef{Path: "/v1.0/solutions/backupRestore/operations/x", Scope: graph.ScopeCustom, ID: "x", RawQuery: "a=b"})
	for _, r := range refs {
		tn.SetOperation(r.URLPath(), map[string]any{"id": r.ID, "status": "succeeded"})
	}
	for i, o := range getAll(t, c, refs) {
		if o.err != nil {
			t.Errorf("refs[%d]: %v", i, o.err)
		}
	}
	if got := tn.Requests(); got != 2 {
		t.Errorf("%d HTTP requests, want 2 (a beta and a v1.0 batch)", got)
	}
	if q := tn.LastQuery(refs[6].URLPath()); q.Get("a") != "b" || q.Get("$select") != "" {
		t.Errorf("custom path in a batch: query %v, want a=b and no $select", q)
	}
}

// An answer whose id is spelt otherwise than we sent it ("01" for "1") is
// not ours: no operation is answered twice.
func TestBatchAnswerOnlyOurIDs(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, _ := batchClient(t, tn)
	refs := []graph.OperationRef{{Scope: graph.ScopeIndustryData, ID: "a"}, {Scope: graph.ScopeIndustryData, ID: "b"}}
	body := `{"responses":[{"id":"1","status":200,"body":{"status":"running"}},{"id":"01","status":200,"body":{"status":"failed"}},` +
		`{"id":"2","status":200,"body":{"status":"succeeded"}},{"id":"2","status":200,"body":{"status":"failed"}}]}`
	tn.Inject("/beta/$batch", graphtest.Fault{Status: 200, Body: &body})
	out := getAll(t, c, refs) // fails if any operation is answered twice
	if out[0].op == nil || out[0].op.Status != "running" || out[1].op == nil || out[1].op.Status != "succeeded" {
		t.Errorf("answers %+v, %+v: want running and succeeded", out[0].op, out[1].op)
	}
}

// $batch answers of 200s throughout are decoded apart from their workers,
// at most MaxConcurrency at once; GetOperations still returns only when
// every operation has had its answer, however slowly each is taken.
func TestBatchAnswersDecodedApartAllArrive(t *testing.T) {
	tn := graphtest.NewTenant(t)
	c, _ := newClientBatch(t, tn, 2, nil, true)
	refs := runningOps(tn, 10*graph.MaxBatch)
	var mu sync.Mutex
	answered, inFlight, most := 0, 0, 0
	c.GetOperations(context.Background(), refs, func(i int, op *graph.Operation, err error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(time.Millisecond) // a slow reader of answers
		mu.Lock()
		defer mu.Unlock()
		inFlight--
		if err != nil || op.Status != graph.StatusRunning {
			t.Errorf("refs[%d]: %v, %v", i, op, err)
		}
		answered++
	})
	mu.Lock()
	defer mu.Unlock()
	if answered != len(refs) {
		t.Fatalf("GetOperations returned with %d of %d operations answered", answered, len(refs))
	}
	// Two workers, each decoding its own answer or one apart: at most
	// four answers are read at once.
	if most > 4 {
		t.Errorf("%d answers read at once, want at most 4 (2 workers, 2 apart)", most)
	}
	if got := tn.Requests(); got != 10 {
		t.Errorf("Graph got %d requests, want 10 $batch", got)
	}
}

// A $batch's operations are counted in msgraph_lro_graph_operations_fetched_total
// before the first of them is answered: a scrape waiting for its
// operations renders once the last one is, and found a batch uncounted
// (TestDemoGolden, 13 fetched for 17, under -race in CI). Both ways an
// answer is read: all 200s, decoded apart from the worker, and with an
// inner error, by the worker.
func TestBatchCountedBeforeAnswered(t *testing.T) {
	for _, innerError := range []bool{false, true} {
		t.Run(fmt.Sprintf("inner_error=%v", innerError), func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			c, m := batchClient(t, tn)
			refs := runningOps(tn, 5)
			if innerError {
				tn.Inject(refs[4].URLPath(), graphtest.Fault{Status: 403}) // not retried, counted
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var mu sync.Mutex
			var seen []float64
			c.GetOperations(ctx, refs, func(i int, op *graph.Operation, err error) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, testutil.ToFloat64(m.Fetched.WithLabelValues("contoso")))
			})
			if fmt.Sprint(seen) != "[5 5 5 5 5]" {
				t.Errorf("operations fetched, as each operation was answered: %v, want [5 5 5 5 5]", seen)
			}
			if got := tn.Requests(); got != 1 {
				t.Errorf("%d HTTP requests, want one $batch", got)
			}
		})
	}
}
