package collector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/msgraph-lro/msgraph_lro_exporter/clients"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// benchEnv is n live operations in a simulated tenant and the clients that
// read them, token already fetched.
type benchEnv struct {
	tenant  *graphtest.Tenant
	cfg     *config.Config
	clients map[string]*graph.Client
}

func newBenchEnv(b *testing.B, n int, global string) *benchEnv {
	b.Helper()
	tn := graphtest.NewTenant(b)
	var ops strings.Builder
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%08d-18c9-47a1-0fb1-08dad8e7a876", i)
		p := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}.URLPath()
		tn.SetOperation(p, map[string]any{"id": id, "status": "running", "statusDetail": "",
			"resourceLocation": "", "createdDateTime": "2023-06-09T22:50:41.5414467Z", "lastActionDateTime": "2023-06-09T22:52:09.0296021Z"})
		fmt.Fprintf(&ops, "  - {tenant: contoso, scope: industryData, id: %s, name: import-%d, labels: {team: t%d}}\n", id, i, i%10)
	}
	secret := filepath.Join(b.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(tn.ClientSecret), 0o600); err != nil {
		b.Fatal(err)
	}
	y := fmt.Sprintf("global:\n%s\ntenants:\n  - name: contoso\n    tenant_id: %s\n    client_id: %s\n    client_secret_file: %s\n    authority_host: %s\n    disable_instance_discovery: true\n    graph_endpoint: %s\noperations:\n%s",
		global, tn.TenantID, tn.ClientID, secret, tn.AuthorityHost, tn.GraphEndpoint, ops.String())
	cfg, err := config.Parse("bench.yml", []byte(y))
	if err != nil {
		b.Fatal(err)
	}
	cs, err := clients.New(cfg, tn.HTTPClient(), graph.NewMetrics(), log.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	// The token is not part of a scrape's cost: fetch it first.
	p := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "00000000-18c9-47a1-0fb1-08dad8e7a876"}
	if _, err := cs["contoso"].GetOperation(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{tenant: tn, cfg: cfg, clients: cs}
}

func (be *benchEnv) exporter() *Watcher {
	e := New(log.NewNopLogger(), nil)
	e.Swap(SnapshotOf(be.cfg, be.clients))
	return e
}

// benchScrape gathers and encodes everything, as /metrics does; it fails the
// benchmark if an operation is not up.
func benchScrape(b *testing.B, e *Watcher, wantUp int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector(ctx))
	encode(b, reg, wantUp)
}

func encode(b *testing.B, g prometheus.Gatherer, wantUp int) {
	mfs, err := g.Gather()
	if err != nil {
		b.Fatal(err)
	}
	enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
	up := 0
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
		if mf.GetName() == "msgraph_lro_up" {
			for _, m := range mf.GetMetric() {
				if m.GetGauge().GetValue() == 1 {
					up++
				}
			}
		}
	}
	if wantUp >= 0 && up != wantUp {
		b.Fatalf("%d operations up, want %d", up, wantUp)
	}
}

// BenchmarkColdScrape1000: 1,000 live operations, nothing cached, 50 ms per
// HTTP request, max_concurrency 4. The limit is 50 $batch requests, 4 at a
// time: 13 rounds of 50 ms, about 0.65 s.
func BenchmarkColdScrape1000(b *testing.B) {
	be := newBenchEnv(b, 1000, "  max_concurrency: 4\n  batch: true")
	be.tenant.SetLatency(50 * time.Millisecond)
	be.tenant.ResetCounters()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchScrape(b, be.exporter(), 1000)
	}
	b.ReportMetric(float64(be.tenant.Requests())/float64(b.N), "requests/scrape")
}

// BenchmarkColdScrape1000Concurrent: two cold scrapes at once cost the
// requests of one.
func BenchmarkColdScrape1000Concurrent(b *testing.B) {
	be := newBenchEnv(b, 1000, "  max_concurrency: 4\n  batch: true")
	be.tenant.SetLatency(50 * time.Millisecond)
	be.tenant.ResetCounters()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := be.exporter()
		var wg sync.WaitGroup
		for j := 0; j < 2; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); benchScrape(b, e, 1000) }()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(be.tenant.Requests())/float64(b.N), "requests/2-scrapes")
}

// BenchmarkWarmScrape10000: 10,000 operations, all cached. Compare with
// BenchmarkBaselineConstMetrics10000, the same series pre-built.
func BenchmarkWarmScrape10000(b *testing.B) {
	be := newBenchEnv(b, 10000, "  cache_ttl: 1h")
	e := be.exporter()
	benchScrape(b, e, 10000)
	before := be.tenant.Requests()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchScrape(b, e, 10000)
	}
	b.StopTimer()
	if got := be.tenant.Requests() - before; got != 0 {
		b.Fatalf("warm scrapes sent %d requests to Graph", got)
	}
}

// prebuilt sends metrics built once: the exposition's own cost, our floor.
type prebuilt []prometheus.Metric

func (p prebuilt) Describe(chan<- *prometheus.Desc) {}
func (p prebuilt) Collect(ch chan<- prometheus.Metric) {
	for _, m := range p {
		ch <- m
	}
}

// BenchmarkBaselineConstMetrics10000 exposes exactly what a warm scrape of
// 10,000 operations exposes, from constant metrics built beforehand.
func BenchmarkBaselineConstMetrics10000(b *testing.B) {
	be := newBenchEnv(b, 10000, "  cache_ttl: 1h")
	e := be.exporter()
	benchScrape(b, e, 10000)
	ch := make(chan prometheus.Metric, 1024)
	var p prebuilt
	done := make(chan struct{})
	go func() {
		for m := range ch {
			p = append(p, m)
		}
		close(done)
	}()
	e.Collector(context.Background()).Collect(ch)
	close(ch)
	<-done
	// Rebuild each series as client_golang's own constant metric.
	d := e.st.Load().d
	names := map[*prometheus.Desc][]string{
		d.status:     append(append([]string{}, d.labelNames...), "status"),
		d.info:       append(append([]string{}, d.labelNames...), "resource_location", "status_detail", "type", "error_code", "raw_status"),
		d.operations: {"tenant", "source", "shard"}, d.scrapeDuration: nil, d.overLimit: nil,
	}
	for i, m := range p {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			b.Fatal(err)
		}
		byName := map[string]string{}
		for _, lp := range out.GetLabel() {
			byName[lp.GetName()] = lp.GetValue()
		}
		ln, ok := names[m.Desc()]
		if !ok {
			ln = d.labelNames
		}
		values := make([]string, len(ln))
		for j, n := range ln {
			values[j] = byName[n]
		}
		p[i] = prometheus.MustNewConstMetric(m.Desc(), prometheus.GaugeValue, out.GetGauge().GetValue(), values...)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(p)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		encode(b, reg, 10000)
	}
}

// BenchmarkColdScrapePerReplica: how many operations one replica (one
// shard) can watch and still answer a cold scrape, nothing cached, within
// a 10 s scrape timeout: cold scrapes of n operations, 4 requests in
// flight, $batch on, BENCH_LATENCY per HTTP request (default 50ms; Graph's
// $batch of 20 often takes longer: try 250ms), for each n of
// BENCH_OPERATIONS (default 2000,4000,8000,12000,16000). README
// "Kubernetes" quotes it; run with
//
//	go test -run '^$' -bench ColdScrapePerReplica -benchtime=1x ./collector/
//	BENCH_LATENCY=250ms BENCH_OPERATIONS=2000,2500,3000 go test -run '^$' -bench ColdScrapePerReplica -benchtime=1x ./collector/
func BenchmarkColdScrapePerReplica(b *testing.B) {
	latency := 50 * time.Millisecond
	if v := os.Getenv("BENCH_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		latency = d
	}
	counts := []int{2000, 4000, 8000, 12000, 16000}
	if v := os.Getenv("BENCH_OPERATIONS"); v != "" {
		counts = nil
		for _, f := range strings.Split(v, ",") {
			var n int
			if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
				b.Fatalf("BENCH_OPERATIONS: %q is not a count", f)
			}
			counts = append(counts, n)
		}
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("operations=%d", n), func(b *testing.B) {
			be := newBenchEnv(b, n, "  max_concurrency: 4\n  batch: true")
			be.tenant.SetLatency(latency)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				benchScrape(b, be.exporter(), n)
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/scrape")
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing but the byte count.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkWarmScrapeText10000 is a warm scrape of 10,000 operations as
// Prometheus asks for it (text, no compression), through Handler and the
// streaming writer.
func BenchmarkWarmScrapeText10000(b *testing.B) {
	be := newBenchEnv(b, 10000, "  cache_ttl: 1h")
	e := be.exporter()
	h := e.Handler(nil, nil)
	get := func() int {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return w.n
	}
	get()
	before := be.tenant.Requests()
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		n = get()
	}
	b.StopTimer()
	b.ReportMetric(float64(n), "bytes/scrape")
	if got := be.tenant.Requests() - before; got != 0 {
		b.Fatalf("warm scrapes sent %d requests to Graph", got)
	}
}
