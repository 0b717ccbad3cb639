package collector_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/msgraph-lro/msgraph_lro_exporter/clients"
	"github.com/msgraph-lro/msgraph_lro_exporter/collector"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// soakScrapes is how many scrapes the soak makes: 120 in go test ./...
// and make test (a few seconds: every fault of the soak comes round in
// them), and 10000 with MSGRAPH_LRO_SOAK=long (make soak: about 7 minutes
// with -race on two cores, where a scrape of 30 operations costs some
// 20 ms of CPU and a fault that holds a shared fetch past the deadline
// holds every worker).
func soakScrapes() (int, string) {
	if os.Getenv("MSGRAPH_LRO_SOAK") == "long" {
		return 10000, "long"
	}
	return 120, "short"
}

// soakOp is one watched operation and what Graph says of it now.
type soakOp struct {
	tenant string
	ref    graph.OperationRef
	cfg    string // its entry under operations:
	status string
	// createdDateTime and lastActionDateTime as Graph sends them, and as
	// the exporter must show them (zero: no series).
	created, lastAction         string
	wantCreated, wantLastAction time.Time
}

// soakClock is the exporter's clock, which the soak moves forward so that
// cached answers expire and Retry-After waits end without real waiting.
type soakClock struct{ ns atomic.Int64 }

func (c *soakClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *soakClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// secretScan is a log sink that keeps nothing but looks for the secret and
// for access tokens in every line.
type secretScan struct {
	secret string
	mu     sync.Mutex
	bytes  int
	leaks  []string
}

var soakToken = regexp.MustCompile(`gt\.[A-Za-z0-9_-]{64}`)

func (s *secretScan) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes += len(p)
	if strings.Contains(string(p), s.secret) || soakToken.Match(p) {
		s.leaks = append(s.leaks, string(p))
	}
	return len(p), nil
}

// faultKinds are what the soak injects, with their weights.
var faultKinds = []struct {
	name   string
	weight int
}{
	{"latency", 16}, {"latency-past-deadline", 1}, {"5xx", 6}, {"429-retry-after", 8}, {"429-no-retry-after", 4},
	{"malformed-json", 12}, {"truncated", 12}, {"reset", 12}, {"404", 6}, {"token-outage", 4}, {"reload", 7},
	{"status-change", 12},
	// Issue 11: the ways Graph and Entra really fail.
	{"429-tenant-scope", 3}, {"503-retry-after", 3}, {"batch-424-5xx", 3}, {"oversized", 2}, {"token-misbehaves", 2},
}

// The exporter under load and faults, the way it runs for months: workers
// scrape the HTTP handler continuously, with Prometheus' timeout header,
// while a driver injects, at random with a fixed seed, latency (some past
// the scrape deadline), 5xx, 429 with and without Retry-After, malformed
// and truncated bodies, connection resets, token endpoint outages, config
// reloads with rebuilt clients, and status changes, and moves the clock.
// It asserts that every scrape answers 200 before its timeout with a
// well-formed state set for every watched operation, that no log line or
// page holds the secret or a token, that nothing races (-race), that once
// the faults stop every operation is back to msgraph_lro_up 1 with the
// values Graph holds, and that goroutines and heap come back to their
// baseline.
func TestSoakWithFaults(t *testing.T) {
	scrapes, mode := soakScrapes()
	rng := rand.New(rand.NewPCG(6, 2026)) // the driver's alone
	tn := graphtest.NewTenant(t)

	// 26 operations of contoso ($batch: two beta batches and a v1.0 one)
	// and 4 of fabrikam (single GETs), with Graph's untidy data.
	var ops []*soakOp
	add := func(tenant string, ref graph.OperationRef, cfg, status, created, lastAction string) {
		o := &soakOp{tenant: tenant, ref: ref, cfg: cfg}
		ops = append(ops, o)
		o.set(tn, status, created, lastAction)
	}
	site := "contoso.sharepoint.com,2c712a2f-f0a6-4b1b-8b25-7a1f6b0f1c4e,8b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	statuses := []string{"notStarted", "running", "running", "succeeded", "failed", "inProgress"}
	for i := range 8 {
		id := fmt.Sprintf("refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d12%d_StaleSignInAlert", i)
		add("contoso", graph.OperationRef{Scope: graph.ScopeRoleManagementAlerts, ID: id},
			fmt.Sprintf("{tenant: contoso, scope: roleManagementAlerts, id: %q, labels: {team: identity}}", id),
			statuses[i%len(statuses)], "2023-06-09T22:50:41.5414467Z", fmt.Sprintf("2023-06-09T22:5%d:09.0296021Z", i))
	}
	for i := range 7 {
		user, id := fmt.Sprintf("user%d@contoso.com", i), fmt.Sprintf("2d497bb-57bd-47a6-8749-5ccd0869f2b%d", i)
		add("contoso", graph.OperationRef{Scope: graph.ScopeAuthenticationMethods, User: user, ID: id},
			fmt.Sprintf("{tenant: contoso, scope: authenticationMethods, user: %q, id: %q}", user, id),
			statuses[(i+1)%len(statuses)], "2020-03-19T12-01-03.45Z", "2020-03-19T12-01-04.23Z")
	}
	for i := range 7 {
		id := fmt.Sprintf("d194fa3e-18c9-47a1-0fb1-08dad8e7a87%d", i)
		la := "2022-12-14T05:54:43.8410226Z"
		if i%3 == 0 {
			la = "" // null
		}
		add("contoso", graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id},
			fmt.Sprintf("{tenant: contoso, scope: industryData, id: %q}", id),
			statuses[(i+2)%len(statuses)], "2022-12-14T05:54:35.400029Z", la)
	}
	for i := range 4 {
		id := fmt.Sprintf("contentTypeCopy,%d", i)
		add("contoso", graph.OperationRef{Scope: graph.ScopeSites, Site: site, ID: id},
			fmt.Sprintf("{tenant: contoso, scope: sites, site: %q, id: %q}", site, id),
			statuses[(i+3)%len(statuses)], "2024-01-02T03:04:05Z", "2024-01-02T03:04:06.5Z")
	}
	for i := range 4 {
		id := fmt.Sprintf("fab-%d", i)
		add("fabrikam", graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id},
			fmt.Sprintf("{tenant: fabrikam, scope: industryData, id: %q}", id),
			statuses[i%len(statuses)], "2022-12-14T05:54:35Z", "2022-12-14T05:54:36Z")
	}

	// Config: the whole list, or (at a reload) every other operation, with
	// or without a label; contoso batches, fabrikam does not.
	// contoso's password resets are read with a reader's sign-in.
	signIns := map[string]cache.ExportReplace{"contoso": collector.SignInReader(t, tn)}
	buildConfig := func(full bool, label string) *config.Config {
		var b strings.Builder
		fmt.Fprintf(&b, "global:\n  cache_ttl: 30s\n  terminal_cache_ttl: 1h\n  request_timeout: 3s\n  max_concurrency: 4\n  batch: true\n")
		b.WriteString("tenants:\n")
		for _, name := range []string{"contoso", "fabrikam"} {
			fmt.Fprintf(&b, "  - name: %s\n    tenant_id: %s\n    client_id: %s\n    client_secret: %q\n    authority_host: %s\n    disable_instance_discovery: true\n    graph_endpoint: %s\n",
				name, tn.TenantID, tn.ClientID, tn.ClientSecret, tn.AuthorityHost, tn.GraphEndpoint)
			if name == "contoso" {
				b.WriteString("    delegated: {}\n")
			}
		}
		b.WriteString("operations:\n")
		for i, o := range ops {
			if full || i%2 == 0 {
				c := o.cfg
				if label != "" && !strings.Contains(c, "labels:") {
					c = strings.TrimSuffix(c, "}") + ", labels: {soak: " + label + "}}"
				}
				b.WriteString("  - " + c + "\n")
			}
		}
		cfg, err := config.ParseWithSignIns("soak.yml", []byte(b.String()), signIns)
		if err != nil {
			t.Fatalf("soak config: %v\n%s", err, b.String())
		}
		return cfg
	}
	// fabrikam does not batch: it gets a config of its own settings through
	// its client, so build the clients per tenant.
	metrics := graph.NewMetrics()
	logs := &secretScan{secret: tn.ClientSecret}
	logger := log.NewLogfmtLogger(log.NewSyncWriter(logs))
	apply := func(e *collector.Watcher, cfg *config.Config) {
		cs, err := clients.New(cfg, tn.HTTPClient(), metrics, logger)
		if err != nil {
			t.Fatal(err)
		}
		unbatched := *cfg
		unbatched.Global.Batch = false
		single, err := clients.New(&unbatched, tn.HTTPClient(), metrics, logger)
		if err != nil {
			t.Fatal(err)
		}
		cs["fabrikam"] = single["fabrikam"]
		e.Swap(collector.SnapshotOf(cfg, cs))
	}

	clock := &soakClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	e := collector.New(logger, clock.Now)
	defer e.Close()
	full := buildConfig(true, "")
	apply(e, full)
	static := prometheus.NewRegistry()
	static.MustRegister(metrics)
	srv := httptest.NewServer(e.Handler(static, logger))
	defer srv.Close()
	const workers = 6
	// Uncompressed: gzip under the race detector would be most of the work.
	tr := &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}
	client := &http.Client{Transport: tr}
	graphTransport := tn.HTTPClient().Transport.(*http.Transport)
	sizes := map[int]bool{len(full.Operations): true, len(buildConfig(false, "").Operations): true}

	// X-Prometheus-Scrape-Timeout-Seconds: the exporter waits for Graph
	// 1.5 s of it and must have answered before 2 s.
	const timeout = 2 * time.Second
	type outcome struct {
		took time.Duration
		err  string
	}
	scrapeOnce := func() (outcome, map[string]*dto.MetricFamily) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprint(timeout.Seconds()))
		begun := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return outcome{time.Since(begun), err.Error()}, nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(begun)
		switch {
		case err != nil:
			return outcome{took, err.Error()}, nil
		case resp.StatusCode != 200:
			return outcome{took, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)}, nil
		case took >= timeout:
			return outcome{took, fmt.Sprintf("answered after %v, past the %v timeout", took, timeout)}, nil
		case strings.Contains(string(body), tn.ClientSecret) || soakToken.Match(body):
			return outcome{took, "the page holds the secret or a token"}, nil
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
		if err != nil {
			return outcome{took, "unparsable exposition: " + err.Error()}, nil
		}
		if msg := checkStateSets(mfs, sizes); msg != "" {
			return outcome{took, msg}, mfs
		}
		return outcome{took: took}, mfs
	}

	// Warm up, then take the baseline: every operation cached, idle
	// connections closed, garbage collected.
	for range 3 {
		if o, _ := scrapeOnce(); o.err != "" {
			t.Fatalf("warm-up scrape: %s", o.err)
		}
	}
	goroutines0, heap0 := settle(tr, graphTransport)

	// The run: a driver hands out scrape tickets, deciding before each
	// what happens to Graph, the identity platform, the config and the clock.
	var (
		mu         sync.Mutex
		worst      time.Duration
		failures   []string
		counts     = map[string]int{}
		tickets    = make(chan int)
		wg         sync.WaitGroup
		totalTook  time.Duration
		reloadSeq  int
		faultTotal int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range tickets {
				o, _ := scrapeOnce()
				mu.Lock()
				totalTook += o.took
				worst = max(worst, o.took)
				if o.err != "" && len(failures) < 20 {
					failures = append(failures, fmt.Sprintf("scrape %d: %s", n, o.err))
				}
				mu.Unlock()
			}
		}()
	}
	body := func(s string) *string { return &s }
	pickPath := func() string {
		switch r := rng.IntN(10); {
		case r == 0:
			return "" // every Graph request
		case r == 1:
			return "/beta/$batch"
		case r == 2:
			return "/v1.0/$batch"
		default:
			return ops[rng.IntN(len(ops))].ref.URLPath()
		}
	}
	weights := 0
	for _, k := range faultKinds {
		weights += k.weight
	}
	began := time.Now()
	for n := range scrapes {
		// The clock: mostly seconds, sometimes past the cache TTL, now and
		// then past the terminal TTL and any back-off.
		switch r := rng.IntN(100); {
		case r < 75:
			clock.Advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case r < 98:
			clock.Advance(31 * time.Second)
		default:
			clock.Advance(61 * time.Minute)
		}
		// Every kind of fault once at the start, whatever the seed; then
		// at random.
		var kind string
		if n%3 == 1 && n/3 < len(faultKinds) {
			kind = faultKinds[n/3].name
		} else if rng.IntN(100) < 35 {
			w := rng.IntN(weights)
			for _, k := range faultKinds {
				if w < k.weight {
					kind = k.name
					break
				}
				w -= k.weight
			}
		}
		if kind != "" {
			path, times := pickPath(), 1+rng.IntN(3)
			switch kind {
			case "latency":
				tn.Inject(path, graphtest.Fault{Latency: time.Duration(5+rng.IntN(120)) * time.Millisecond, Times: times})
			case "latency-past-deadline":
				tn.Inject(path, graphtest.Fault{Latency: collector.ScrapeDeadline(timeout) + time.Duration(100+rng.IntN(500))*time.Millisecond, Times: 1})
			case "5xx":
				tn.Inject(path, graphtest.Fault{Status: []int{500, 502, 503, 504}[rng.IntN(4)], Times: times})
			case "429-retry-after":
				tn.Inject(path, graphtest.Fault{Status: 429, RetryAfter: []string{"0", "0.05", "0.2", "30", "Mon, 01 Jan 2001 00:00:00 GMT"}[rng.IntN(5)], Times: times})
			case "429-no-retry-after":
				tn.Inject(path, graphtest.Fault{Status: 429, Times: times})
			case "malformed-json":
				tn.Inject(path, graphtest.Fault{Status: 200, Body: body([]string{`{"status": running}`, `<html>busy</html>`, `[]`, `{"responses":[{"id":"1","status":200,"body":"bm90IGpzb24="}]}`}[rng.IntN(4)]), Times: times})
			case "truncated":
				tn.Inject(path, graphtest.Fault{Status: 200, Body: body([]string{`{"status":"runn`, `{"responses":[{"id":"1","status":200,"body":{"status":"failed"`, ``}[rng.IntN(3)]), Times: times})
			case "reset":
				tn.Inject(path, graphtest.Fault{Reset: true, Times: times})
			case "404":
				tn.Inject(path, graphtest.Fault{Status: 404, Times: times})
			case "token-outage":
				// A new MSAL client has no token yet: reload, and make its
				// requests to the identity platform fail.
				tn.FailTokens(1+rng.IntN(4), []int{500, 503, 429, 400}[rng.IntN(4)])
				apply(e, buildConfig(true, ""))
			case "429-tenant-scope":
				tn.Inject(path, graphtest.Fault{Status: 429, RetryAfter: []string{"0", "0.05", "0.2", "1"}[rng.IntN(4)],
					ThrottleScope: []string{"Tenant_Application", "Tenant", "Application"}[rng.IntN(3)] + "/Read/" + tn.ClientID + "/" + tn.TenantID, Times: times})
			case "503-retry-after":
				tn.Inject(path, graphtest.Fault{Status: 503, RetryAfter: []string{"0.05", "0.5", "30"}[rng.IntN(3)], Times: times})
			case "batch-424-5xx":
				tn.Inject([]string{"/beta/$batch", "/v1.0/$batch"}[rng.IntN(2)], graphtest.Fault{Status: []int{424, 503, 504}[rng.IntN(3)], Times: times})
			case "oversized":
				tn.Inject(ops[rng.IntN(len(ops))].ref.URLPath(), graphtest.Fault{Status: 200, BodyBytes: graph.MaxBodyBytes + 1 + rng.IntN(256<<10), Times: 1})
			case "token-misbehaves":
				tn.FailTokensWith(1+rng.IntN(3), []graphtest.TokenFault{{NoExpiresIn: true}, {NotJSON: true}, {Status: 500, BodyBytes: 3 << 19},
					{Status: 429, RetryAfter: "1"}, {Status: 401}}[rng.IntN(5)])
				apply(e, buildConfig(true, ""))
			case "reload":
				reloadSeq++
				apply(e, buildConfig(rng.IntN(3) > 0, []string{"", "a", "b"}[rng.IntN(3)]))
			case "status-change":
				o := ops[rng.IntN(len(ops))]
				o.set(tn, []string{"notStarted", "running", "succeeded", "failed", "inProgress"}[rng.IntN(5)],
					o.created, clock.Now().Add(-time.Duration(rng.IntN(3600))*time.Second).UTC().Format("2006-01-02T15:04:05.0000000Z"))
			}
			mu.Lock()
			counts[kind]++
			if kind != "status-change" && kind != "reload" {
				faultTotal++
			}
			mu.Unlock()
		}
		if rng.IntN(200) == 0 {
			tn.SetLatency(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		tickets <- n
	}
	close(tickets)
	wg.Wait()
	elapsed := time.Since(began)
	for _, f := range failures {
		t.Error(f)
	}

	// The faults stop. The whole config again; the clock past every
	// back-off and Retry-After; every operation back to up 1 with what
	// Graph holds.
	tn.ClearFaults()
	tn.FailTokens(0, 0)
	// A tenant-wide hold-off runs on the real clock: past the longest the
	// soak asks for (1 s).
	time.Sleep(1100 * time.Millisecond)
	tn.SetLatency(0)
	apply(e, full)
	var last map[string]*dto.MetricFamily
	var o outcome
	for try := 0; try < 10; try++ {
		clock.Advance(2 * time.Hour)
		o, last = scrapeOnce()
		if o.err == "" && allUp(last) == len(full.Operations) {
			break
		}
		time.Sleep(300 * time.Millisecond) // a fetch from the faulty time may still be in flight
	}
	if o.err != "" {
		t.Fatalf("after the faults: %s", o.err)
	}
	if n := allUp(last); n != len(full.Operations) {
		t.Errorf("after the faults, %d of %d operations are up", n, len(full.Operations))
	}
	for _, op := range ops {
		op.check(t, last)
	}
	logs.mu.Lock()
	leaks := slices.Clone(logs.leaks)
	logs.mu.Unlock()
	for _, l := range leaks {
		t.Errorf("a log line holds the secret or a token: %s", l)
	}

	goroutines1, heap1 := settle(tr, graphTransport)
	for deadline := time.Now().Add(10 * time.Second); goroutines1 > goroutines0+3 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		goroutines1, heap1 = settle(tr, graphTransport)
	}
	if goroutines1 > goroutines0+3 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after\n%s", goroutines0, goroutines1, buf[:runtime.Stack(buf, true)])
	}
	if limit := heap0 + max(heap0/2, 8<<20); heap1 > limit {
		t.Errorf("heap: %d KiB before, %d KiB after (limit %d KiB)", heap0>>10, heap1>>10, limit>>10)
	}

	var kinds []string
	for _, k := range faultKinds {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k.name, counts[k.name]))
	}
	t.Logf("soak: mode=%s scrapes=%d workers=%d operations=%d elapsed=%s mean_scrape=%s worst_scrape=%s timeout=%s faults=%d reloads=%d graph_requests=%d token_requests=%d goroutines=%d->%d heap_kib=%d->%d log_kib=%d",
		mode, scrapes, workers, len(full.Operations), elapsed.Round(time.Millisecond), (totalTook / time.Duration(scrapes)).Round(time.Microsecond),
		worst.Round(time.Millisecond), timeout, faultTotal, counts["reload"]+counts["token-outage"]+counts["token-misbehaves"], tn.Requests(), tn.TokenRequests(),
		goroutines0, goroutines1, heap0>>10, heap1>>10, logs.bytes>>10)
	t.Logf("soak: injected %s", strings.Join(kinds, " "))
}

// set makes Graph hold the operation with these values, and records what
// the exporter must show for them.
func (o *soakOp) set(tn *graphtest.Tenant, status, created, lastAction string) {
	o.status, o.created, o.lastAction = status, created, lastAction
	fields := map[string]any{"id": o.ref.ID, "status": status, "createdDateTime": created, "statusDetail": nil, "resourceLocation": ""}
	if lastAction == "" {
		fields["lastActionDateTime"] = nil
	} else {
		fields["lastActionDateTime"] = lastAction
	}
	if o.ref.Kind().Progress != "" {
		fields["percentageComplete"] = 50
	}
	tn.SetOperation(o.ref.URLPath(), fields)
	o.wantCreated, _ = graph.ParseTimestamp(created)
	o.wantLastAction, _ = graph.ParseTimestamp(lastAction)
}

// matches reports whether m is one of this operation's series.
func (o *soakOp) matches(m *dto.Metric) bool {
	var tenant, id string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "tenant":
			tenant = l.GetValue()
		case "operation_id":
			id = l.GetValue()
		}
	}
	return tenant == o.tenant && id == o.ref.ID
}

// check compares the operation's series with what Graph holds.
func (o *soakOp) check(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	value := func(name string, extra ...string) (float64, bool) {
		for _, m := range mfs[name].GetMetric() {
			if !o.matches(m) {
				continue
			}
			if len(extra) == 2 && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == extra[0] && l.GetValue() == extra[1] }) {
				continue
			}
			return m.GetGauge().GetValue(), true
		}
		return 0, false
	}
	want := o.ref.Kind().Normalize(o.status)
	if v, ok := value("msgraph_lro_status", "status", want); !ok || v != 1 {
		t.Errorf("%s %s: status %s shows %v (present %v), Graph says %q", o.tenant, o.ref.ID, want, v, ok, o.status)
	}
	for _, ts := range []struct {
		name string
		want time.Time
	}{{"msgraph_lro_created_timestamp_seconds", o.wantCreated}, {"msgraph_lro_last_action_timestamp_seconds", o.wantLastAction}} {
		v, ok := value(ts.name)
		switch {
		case ts.want.IsZero() && ok:
			t.Errorf("%s %s: %s = %v, want no series", o.tenant, o.ref.ID, ts.name, v)
		case !ts.want.IsZero() && (!ok || v != float64(ts.want.Unix())+float64(ts.want.Nanosecond())/1e9):
			t.Errorf("%s %s: %s = %v (present %v), want %v", o.tenant, o.ref.ID, ts.name, v, ok, ts.want)
		}
	}
	if o.ref.Kind().Progress != "" {
		if v, ok := value("msgraph_lro_completion_ratio"); !ok || v != 0.5 {
			t.Errorf("%s %s: completion ratio %v (present %v), want 0.5", o.tenant, o.ref.ID, v, ok)
		}
	}
}

// checkStateSets says what is wrong with a scrape's operations: the number
// of operations must be that of a config in use, every operation has one
// up, and an operation with a status has exactly one of the five set.
func checkStateSets(mfs map[string]*dto.MetricFamily, sizes map[int]bool) string {
	ups := mfs["msgraph_lro_up"].GetMetric()
	if !sizes[len(ups)] {
		return fmt.Sprintf("%d operations shown, want one of %v", len(ups), sizes)
	}
	set := map[string][]float64{}
	for _, m := range mfs["msgraph_lro_status"].GetMetric() {
		var k string
		for _, l := range m.GetLabel() {
			if l.GetName() != "status" {
				k += l.GetName() + "=" + l.GetValue() + ","
			}
		}
		set[k] = append(set[k], m.GetGauge().GetValue())
	}
	for k, vs := range set {
		ones := 0
		for _, v := range vs {
			if v == 1 {
				ones++
			} else if v != 0 {
				return fmt.Sprintf("%s: status value %v", k, v)
			}
		}
		if len(vs) != len(graph.Statuses) || ones != 1 {
			return fmt.Sprintf("%s: %d status series, %d set", k, len(vs), ones)
		}
	}
	return ""
}

// allUp counts the operations with msgraph_lro_up 1.
func allUp(mfs map[string]*dto.MetricFamily) int {
	n := 0
	for _, m := range mfs["msgraph_lro_up"].GetMetric() {
		if m.GetGauge().GetValue() == 1 {
			n++
		}
	}
	return n
}

// settle closes idle connections, lets their goroutines end, collects
// garbage, and returns the goroutine count and live heap.
func settle(transports ...*http.Transport) (int, uint64) {
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}
