package collector

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

var update = flag.Bool("update", false, "rewrite collector/testdata/*.prom from what the tests collect")

// fakeGraph is an in-memory Fetcher and Lister: the collector's unit tests
// say what Graph answers without TLS, MSAL or YAML. It counts what it is
// asked, so tests count events instead of sleeping.
type fakeGraph struct {
	mu      sync.Mutex
	ops     map[string]*graph.Operation // by OperationRef.Key
	errs    map[string]error            // by OperationRef.Key
	list    []graph.Discovered
	skip    map[string]bool          // refs whose answer the fetcher never gives
	gate    map[string]chan struct{} // refs whose answer waits for their channel to close
	gets    map[string]int           // GetOperations asked for each ref
	lists   int
	hold    chan struct{} // if not nil, GetOperations waits for it to close
	started chan struct{} // if not nil, receives one value per GetOperations call
	listed  chan struct{} // if not nil, receives one value per Discover call
}

func newFake() *fakeGraph {
	return &fakeGraph{ops: map[string]*graph.Operation{}, errs: map[string]error{}, skip: map[string]bool{}, gets: map[string]int{}}
}

func (f *fakeGraph) set(ref graph.OperationRef, op *graph.Operation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops[ref.Key()] = op
}

func (f *fakeGraph) GetOperations(ctx context.Context, refs []graph.OperationRef, each func(int, *graph.Operation, error)) {
	f.mu.Lock()
	hold, started := f.hold, f.started
	for _, r := range refs {
		f.gets[r.Key()]++
	}
	f.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	for i, r := range refs {
		f.mu.Lock()
		op, err, skip, gate := f.ops[r.Key()], f.errs[r.Key()], f.skip[r.Key()], f.gate[r.Key()]
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		switch {
		case skip:
		case err != nil:
			each(i, nil, err)
		case op == nil:
			each(i, nil, &graph.Error{StatusCode: 404, Code: "NotFound", Message: "no such operation"})
		default:
			c := *op
			each(i, &c, nil)
		}
	}
}

func (f *fakeGraph) Readable(graph.OperationRef) error { return nil }

func (f *fakeGraph) Discover(ctx context.Context, of graph.OperationRef) ([]graph.Discovered, error) {
	f.mu.Lock()
	f.lists++
	out := append([]graph.Discovered(nil), f.list...)
	listed := f.listed
	f.mu.Unlock()
	if listed != nil {
		listed <- struct{}{}
	}
	return out, nil
}

func (f *fakeGraph) getsOf(ref graph.OperationRef) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets[ref.Key()]
}

// fakeNow is the unit tests' clock.
var fakeNow = time.Date(2023, 6, 10, 0, 0, 0, 0, time.UTC)

func importRef(id string) graph.OperationRef {
	return graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}
}

func running(id string) *graph.Operation {
	return &graph.Operation{ID: id, Status: graph.StatusRunning, RawStatus: "running",
		CreatedDateTime: fakeNow.Add(-time.Hour), LastActionDateTime: fakeNow.Add(-time.Minute)}
}

// compareGolden collects c's named metrics and compares them with
// testdata/<name>.prom; -update rewrites the file.
func compareGolden(t *testing.T, e *Watcher, timeout time.Duration, name string, metrics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	path := filepath.Join("testdata", name+".prom")
	if *update {
		out, err := testutil.CollectAndFormat(e.Collector(ctx), expfmt.TypeTextPlain, metrics...)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update ./collector writes it)", err, t.Name())
	}
	if err := testutil.CollectAndCompare(e.Collector(ctx), strings.NewReader(string(want)), metrics...); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

// waitFor waits until cond holds, for at most 5 s of events.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
