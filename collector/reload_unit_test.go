package collector

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/msgraph-lro/msgraph_lro_exporter/clients"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// A reload that changes a discovery job's labels shows the new labels at
// once, not after the job's next listing (an hour away here).
func TestReloadChangesDiscoveredLabels(t *testing.T) {
	f := newFake()
	ref := importRef("imp-1")
	f.set(ref, running("imp-1"))
	f.list = []graph.Discovered{{Ref: ref}}
	e := New(log.NewNopLogger(), func() time.Time { return fakeNow })
	defer e.Close()
	tenants := map[string]Tenant{"contoso": {Fetcher: f}}
	job := Job{Tenant: "contoso", Scope: graph.ScopeIndustryData, Interval: time.Hour, Retention: 24 * time.Hour, Labels: map[string]string{"team": "old"}}
	e.Swap(Snapshot{Tenants: tenants, Jobs: []Job{job}})
	waitFor(t, "the first listing", func() bool { return len(e.st.Load().targets) == 1 })
	job.Labels = map[string]string{"team": "new"}
	e.Swap(Snapshot{Tenants: tenants, Jobs: []Job{job}}) // what a reload that changes the job's labels does
	compareGolden(t, e, 5*time.Second, "reload-changes-discovered-labels", "msgraph_lro_up")
	if f.lists != 1 {
		t.Errorf("listed %d times, want 1: a kept job waits for its interval", f.lists)
	}
}

// hookLogger calls on for each log line before it is written nowhere.
type hookLogger struct{ on func(keyvals ...any) }

func (h hookLogger) Log(keyvals ...any) error { h.on(keyvals...); return nil }

// A reload that makes a tenant another directory never shows the old
// directory's answer for it, even when that answer lands while the reload
// runs: here, the moment the reload builds its new state (it warns about
// max_operations then), until the old answer is in.
func TestReloadToAnotherDirectoryMissesTheCache(t *testing.T) {
	tnA, tnB := graphtest.NewTenant(t), graphtest.NewTenant(t)
	for _, tn := range []*graphtest.Tenant{tnA, tnB} {
		tn.SetOperation(importPath, map[string]any{"id": importID, "status": "running"})
	}
	tnB.SetStatus(importPath, "succeeded")
	cfgFor := func(tn *graphtest.Tenant, global string) *config.Config {
		t.Helper()
		text := fmt.Sprintf("global:\n  max_operations: %s\ntenants:\n  - name: contoso\n    tenant_id: %s\n    client_id: %s\n    client_secret: %q\n    authority_host: %s\n    disable_instance_discovery: true\n    graph_endpoint: %s\noperations:\n  - {tenant: contoso, scope: industryData, id: %s}\n  - {tenant: contoso, scope: industryData, id: other}\n",
			global, tn.TenantID, tn.ClientID, tn.ClientSecret, tn.AuthorityHost, tn.GraphEndpoint, importID)
		cfg, err := config.Parse("test.yml", []byte(text))
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		return cfg
	}
	var (
		e        *Watcher
		oldKey   string
		reloaded = make(chan struct{})
	)
	logger := hookLogger{on: func(kv ...any) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == "msg" && kv[i+1] == "more operations than global.max_operations; the rest are not watched" {
				select {
				case <-reloaded:
				default:
					close(reloaded)
					// The old directory's answer comes in now.
					deadline := time.Now().Add(5 * time.Second)
					for e.cache.get(oldKey, fakeNow).view().op == nil && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
				}
			}
		}
	}}
	e = New(logger, func() time.Time { return fakeNow })
	cfgA := cfgFor(tnA, "2")
	clientsA, err := clients.New(cfgA, tnA.HTTPClient(), graph.NewMetrics(), log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	e.Swap(SnapshotOf(cfgA, clientsA))
	oldKey = e.st.Load().targets[0].key
	// The scrape gives up at once; the fetch goes on and answers late.
	tnA.Inject(importPath, graphtest.Fault{Latency: 300 * time.Millisecond, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	testutil.CollectAndCount(e.Collector(ctx))
	cancel()
	cfgB := cfgFor(tnB, "1")
	clientsB, err := clients.New(cfgB, tnB.HTTPClient(), graph.NewMetrics(), log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	e.Swap(SnapshotOf(cfgB, clientsB))
	compareGolden(t, e, 5*time.Second, "reload-to-another-directory", "msgraph_lro_status")
	if got := tnB.RequestsFor(importPath); got != 1 {
		t.Errorf("the new directory was asked %d times, want 1", got)
	}
}

// The cache is keyed by the tenant's identity: a reload that keeps it
// keeps the cached answers, whatever client it brings; one that changes it
// misses the cache.
func TestCacheKeyedByTenantIdentity(t *testing.T) {
	ref := importRef("imp-1")
	targets := []Target{{Tenant: "contoso", Ref: ref, Source: SourceConfig}}
	swap := func(e *Watcher, identity string) *fakeGraph {
		f := newFake()
		f.set(ref, running("imp-1"))
		e.Swap(Snapshot{Targets: targets, Tenants: map[string]Tenant{"contoso": {Fetcher: f, Identity: identity}}})
		return f
	}
	e := New(log.NewNopLogger(), func() time.Time { return fakeNow })
	defer e.Close()
	first := swap(e, "directory-a")
	compareGolden(t, e, 5*time.Second, "one-up", "msgraph_lro_up")
	same := swap(e, "directory-a") // a new client for the same directory
	compareGolden(t, e, 5*time.Second, "one-up", "msgraph_lro_up")
	other := swap(e, "directory-b")
	compareGolden(t, e, 5*time.Second, "one-up", "msgraph_lro_up")
	if a, s, o := first.getsOf(ref), same.getsOf(ref), other.getsOf(ref); a != 1 || s != 0 || o != 1 {
		t.Errorf("asked directory a %d times, its new client %d, directory b %d; want 1, 0, 1", a, s, o)
	}
}
