package graph_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"

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
