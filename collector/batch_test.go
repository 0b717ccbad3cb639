package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// importOps seeds n running industryData imports and returns their config
// entries and paths.
func importOps(tn *graphtest.Tenant, n int) (ops, paths []string) {
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("0000%04d-18c9-47a1-0fb1-08dad8e7a876", i)
		p := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}.URLPath()
		tn.SetOperation(p, map[string]any{"id": id, "status": "running",
			"createdDateTime": "2023-06-09T22:00:00Z", "lastActionDateTime": "2023-06-09T23:00:00Z"})
		ops = append(ops, `{scope: industryData, id: `+id+`}`)
		paths = append(paths, p)
	}
	return ops, paths
}

func countUp(t *testing.T, e *env) int {
	t.Helper()
	out, err := testutil.CollectAndFormat(e.exp.Collector(t.Context()), expfmt.TypeTextPlain, "msgraph_lro_up")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), "} 1\n")
}

// 45 operations of one API version: three $batch requests (20, 20, 5).
func TestFortyFiveOperationsThreeBatches(t *testing.T) {
	tn := graphtest.NewTenant(t)
	ops, _ := importOps(tn, 45)
	e := newEnvFor(t, tn, "", ops...)
	if n := countUp(t, e); n != 45 {
		t.Errorf("%d operations up, want 45", n)
	}
	if got := tn.Requests(); got != 3 {
		t.Errorf("Graph got %d HTTP requests, want 3 batches", got)
	}
	if got := testutil.ToFloat64(e.metrics.Fetched.WithLabelValues("contoso")); got != 45 {
		t.Errorf("operations fetched = %v, want 45", got)
	}
}

// An inner 429 is retried alone, after its own Retry-After.
func TestInnerThrottleRetriesOnlyThatRequest(t *testing.T) {
	tn := graphtest.NewTenant(t)
	ops, paths := importOps(tn, 5)
	e := newEnvFor(t, tn, "", ops...)
	tn.Inject(paths[2], graphtest.Fault{Status: 429, RetryAfter: "0.4", Times: 1})
	start := e.clock.Now()
	if n := countUp(t, e); n != 5 {
		t.Errorf("%d operations up, want 5", n)
	}
	// The retry's wait passes on the exporter's clock (newEnvFor's
	// policy), so it is measured exactly.
	if d := e.clock.Now().Sub(start); d != 400*time.Millisecond {
		t.Errorf("the retry came after %v, want Retry-After 0.4s", d)
	}
	for i, p := range paths {
		want := 1
		if i == 2 {
			want = 2
		}
		if got := tn.RequestsFor(p); got != want {
			t.Errorf("operation %d asked for %d times, want %d", i, got, want)
		}
	}
	if got := tn.Requests(); got != 2 { // the batch, then one GET for the throttled operation
		t.Errorf("Graph got %d HTTP requests, want 2", got)
	}
	if got := testutil.ToFloat64(e.metrics.Throttled.WithLabelValues("contoso")); got != 1 {
		t.Errorf("throttled_total = %v, want 1 (the inner 429)", got)
	}
}

// A batch Graph refuses as malformed (400) is replaced by single GETs; one
// that failed as a whole (424, 5xx) is sent again after a second, as a
// batch: Graph's throttling guidance, and no fan-out of 20 GETs onto a
// Graph already failing.
func TestRefusedBatchFallsBackToSingleGets(t *testing.T) {
	for _, tc := range []struct {
		status, requests int
		log              string
	}{
		{400, 6, "Graph refused a $batch"}, // the refused batch and 5 GETs
		{503, 2, "path=/beta/$batch status=503"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			tn := graphtest.NewTenant(t)
			ops, paths := importOps(tn, 5)
			e := newEnvFor(t, tn, "", ops...)
			tn.Inject("/beta/$batch", graphtest.Fault{Status: tc.status, Times: 1})
			if n := countUp(t, e); n != 5 {
				t.Errorf("%d operations up, want 5", n)
			}
			if got := tn.Requests(); got != tc.requests {
				t.Errorf("Graph got %d HTTP requests, want %d", got, tc.requests)
			}
			for i, p := range paths {
				if got := tn.RequestsFor(p); got != 1 {
					t.Errorf("operation %d asked for %d times, want 1", i, got)
				}
			}
			if !strings.Contains(e.logs.String(), tc.log) {
				t.Errorf("the log does not say %q:\n%s", tc.log, e.logs.String())
			}
		})
	}
}

// Batching changes how Graph is asked, never what the exporter says.
func TestSameExpositionWithAndWithoutBatch(t *testing.T) {
	var outs [2]string
	for i, batch := range []string{"true", "false"} {
		tn := graphtest.NewTenant(t)
		seedTenant(tn)
		e := newEnvFor(t, tn, "  batch: "+batch, seedOps...)
		out, err := testutil.CollectAndFormat(e.exp.Collector(t.Context()), expfmt.TypeTextPlain, operationMetrics...)
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = string(out)
		// Batched: the beta operations read with the application's token in
		// one $batch, the password reset with the reader's token apart (a
		// $batch carries one token), and the v1.0 one alone.
		if want := map[string]int{"true": 3, "false": 6}[batch]; tn.Requests() != want {
			t.Errorf("batch: %s sent %d HTTP requests, want %d", batch, tn.Requests(), want)
		}
	}
	if outs[0] != outs[1] {
		t.Errorf("batch: true\n%s\nbatch: false\n%s", outs[0], outs[1])
	}
	if !strings.Contains(outs[0], "msgraph_lro_status{") {
		t.Error("nothing was compared")
	}
}

// operationMetrics are every metric an operation can have, and the count.
var operationMetrics = []string{"msgraph_lro_status", "msgraph_lro_created_timestamp_seconds", "msgraph_lro_last_action_timestamp_seconds",
	"msgraph_lro_age_seconds", "msgraph_lro_last_action_age_seconds", "msgraph_lro_completion_ratio", "msgraph_lro_info",
	"msgraph_lro_up", "msgraph_lro_last_success_timestamp_seconds", "msgraph_lro_operations"}
