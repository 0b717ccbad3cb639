// Package collector turns watched Graph operations into Prometheus metrics:
// a cache with a TTL per status, one shared fetch per operation however many
// scrapes ask, and a per-scrape deadline.
package collector

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// Fetcher reads operations of one tenant; *graph.Client is one. It calls
// each(i, …) once for every refs[i], as answers arrive. Readable says why
// it cannot read an operation at all (the tenant lacks the credential Graph
// wants for it), or returns nil.
type Fetcher interface {
	GetOperations(ctx context.Context, refs []graph.OperationRef, each func(i int, op *graph.Operation, err error))
	Readable(ref graph.OperationRef) error
}

// Sources of a watched operation: the `source` label of msgraph_lro_operations.
const (
	SourceConfig    = "config"
	SourceDiscovery = "discovery"
	SourceProbe     = "probe" // not watched: asked for by one /probe request
)

// Target is one watched operation and its labels.
type Target struct {
	Tenant string
	Ref    graph.OperationRef
	Name   string
	Labels map[string]string // static labels
	Source string
	// OmitNotFound leaves the operation out of the metrics while Graph
	// answers 404 for it: a role management alert that was never refreshed
	// has no refresh operation, and that is nothing to alert on.
	OmitNotFound bool
}

// Settings are the cache and fetch limits of DESIGN's `global` section.
type Settings struct {
	CacheTTL         time.Duration // reuse a live status this long
	TerminalCacheTTL time.Duration // reuse succeeded/failed this long
	// FetchTimeout bounds one shared fetch, per $batch worth of operations
	// in it; a fetch may outlive the scrape that started it, so that the
	// next scrape finds the answer cached.
	FetchTimeout time.Duration
	// MaxOperations caps the operations watched: configured ones first,
	// then discovered ones. 0 means no cap.
	MaxOperations int
}

// MaxLabelValueLength caps the resource_location, status_detail, type,
// error_code and raw_status labels of msgraph_lro_info: Graph puts free text there, and a
// label is no place for a stack trace.
const MaxLabelValueLength = 256

// target is a Target made ready for the scrape path.
type target struct {
	*Target        // shared with the snapshot or the discovery job: never changed
	key     string // cache and flight key
	labels  *labelSet
}

// Tenant is one tenant of a Snapshot.
type Tenant struct {
	Fetcher Fetcher
	// Identity is what makes the tenant the one it is: its directory, app,
	// credential and endpoints (never a secret). It is part of every cache
	// and flight key, so that a reload that makes a tenant another
	// directory simply misses the cache.
	Identity string
}

// Snapshot is everything one config says the exporter watches, and how.
// Swap takes it whole; nothing in it changes afterwards.
type Snapshot struct {
	Targets  []Target // configured operations
	Tenants  map[string]Tenant
	Settings Settings
	Jobs     []Job // discovery jobs
}

// state is a Snapshot made ready for scrapes, together with what the
// discovery jobs found: built once, swapped whole.
type state struct {
	targets   []target
	tenants   map[string]Tenant
	settings  Settings
	d         descs
	counts    []opCount
	overLimit int // operations not watched because of MaxOperations
	jobs      []*job
	knownKeys map[string]bool
	shard     string // the shard label of msgraph_lro_operations
	text      *textOrder
}

type opCount struct {
	tenant, source string
	n              int
}

// Watcher watches operations: it is the one owner of the watched state, the
// cache and the shared fetches; Collector gives one scrape's
// prometheus.Collector.
// It is safe for concurrent scrapes; Swap may run at any time (a config
// reload).
type Watcher struct {
	st     atomic.Pointer[state]
	cache  *cache
	flying flights
	now    func() time.Time
	logger log.Logger

	mu    sync.Mutex // serialises rebuilds and guards the fields below
	snap  Snapshot   // the one swapped in last, defaults applied
	jobs  []*job     // discovery jobs running
	shard Shard      // the part of the operations this replica watches

	jobsMu   sync.Mutex // serialises starting and stopping the jobs
	stopJobs func()     // stops the jobs running; guarded by jobsMu

	lastSweep atomic.Int64 // of probed operations' cache entries, Unix ns
}

// New returns a Watcher with nothing to watch yet. now is the clock
// (time.Now in production).
func New(logger log.Logger, now func() time.Time) *Watcher {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	if now == nil {
		now = time.Now
	}
	e := &Watcher{cache: newCache(), now: now, logger: logger, stopJobs: func() {}}
	e.Swap(Snapshot{})
	return e
}

// SetShard makes the exporter watch only the configured and discovered
// operations of shard s (see Shard); call it before the first Swap.
func (e *Watcher) SetShard(s Shard) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shard = s
	e.rebuild()
}

// Swap makes the exporter watch what snap says, in one step, and runs its
// discovery jobs in the background. Cached answers of operations still
// watched (same tenant identity) are kept; the others are dropped. A
// discovery job that stays (same tenant, scope and parents) keeps what it
// found until its next listing, so a reload does not make discovered
// operations blink out; its labels, retention and the rest are the new
// job's at once.
func (e *Watcher) Swap(snap Snapshot) {
	// Stand-ins for a Snapshot that sets no limits (the unit tests'): main
	// always passes the config's, whose defaults config sets.
	s := &snap.Settings
	if s.CacheTTL <= 0 {
		s.CacheTTL = 30 * time.Second
	}
	if s.TerminalCacheTTL <= 0 {
		s.TerminalCacheTTL = time.Hour
	}
	if s.FetchTimeout <= 0 {
		s.FetchTimeout = 30 * time.Second
	}
	e.jobsMu.Lock()
	defer e.jobsMu.Unlock()
	// Stopped without e.mu held: a job finishing its listing takes e.mu.
	e.stopJobs()
	e.mu.Lock()
	e.snap = snap
	e.jobs = keepFindings(e.jobs, snap.Jobs)
	e.rebuild()
	running := e.jobs
	e.mu.Unlock()
	e.startJobs(running)
}

// rebuild makes the state from the snapshot and what the discovery jobs
// found, and swaps it in. Called with e.mu held.
func (e *Watcher) rebuild() {
	now := e.now()
	// Pointers into the snapshot's targets and the jobs' findings, which
	// nothing changes: a watched operation's Target exists once.
	targets := make([]*Target, 0, len(e.snap.Targets))
	for i := range e.snap.Targets {
		targets = append(targets, &e.snap.Targets[i])
	}
	for _, j := range e.jobs {
		found := j.targets(e.cache, e.snap.Tenants[j.Tenant].Identity, now)
		for i := range found {
			targets = append(targets, &found[i])
		}
	}
	names := map[string]bool{}
	for _, t := range targets {
		for k := range t.Labels {
			names[k] = true
		}
	}
	static := make([]string, 0, len(names))
	for k := range names {
		static = append(static, k)
	}
	sort.Strings(static)

	s := e.snap.Settings
	st := &state{tenants: e.snap.Tenants, settings: s, d: newDescs(static), jobs: e.jobs, shard: strconv.Itoa(e.shard.Index)}
	keep := make(map[string]bool, len(targets))
	pool := pairPool{}
	counts := map[[2]string]int{}
	series := make(map[string]bool, len(targets))
	for _, t := range targets {
		if !e.shard.Owns(t.Tenant, t.Ref) {
			continue // another replica's
		}
		tt := target{Target: t, key: targetKey(e.snap.Tenants[t.Tenant].Identity, t.Tenant, t.Ref)}
		if keep[tt.key] {
			continue // a configured operation wins over a discovered duplicate
		}
		values := append([]string{t.Tenant, t.Ref.Scope, t.Ref.ID, t.Name}, make([]string, len(static))...)
		for i, k := range static {
			values[4+i] = t.Labels[k]
		}
		// Two requests for what would be one series (a pasted URL with a
		// query string and the same operation found by discovery, say):
		// the first wins, or the scrape would fail on a duplicate series.
		id := strings.Join(values, "\x00")
		if series[id] {
			continue
		}
		if s.MaxOperations > 0 && len(st.targets) >= s.MaxOperations {
			st.overLimit++
			continue
		}
		keep[tt.key], series[id] = true, true
		tt.labels = newLabelSet(pool, st.d.labelNames, values)
		st.targets = append(st.targets, tt)
		counts[[2]string{t.Tenant, t.Source}]++
	}
	if st.overLimit > 0 {
		level.Warn(e.logger).Log("msg", "more operations than global.max_operations; the rest are not watched",
			"max_operations", s.MaxOperations, "not_watched", st.overLimit)
	}
	for k, n := range counts {
		st.counts = append(st.counts, opCount{k[0], k[1], n})
	}
	sort.Slice(st.counts, func(i, j int) bool {
		a, b := st.counts[i], st.counts[j]
		return a.tenant < b.tenant || (a.tenant == b.tenant && a.source < b.source)
	})
	st.knownKeys = keep
	st.text = newTextOrder(st.targets)
	e.st.Store(st)
	e.prune(st)
}

// prune drops the cache entries of operations not watched in st and not
// asked for (by /probe) for twice the terminal TTL.
func (e *Watcher) prune(st *state) {
	e.cache.retain(st.knownKeys, e.now().Add(-2*st.settings.TerminalCacheTTL))
}

// targetKey identifies an operation of a tenant, as the tenant's identity
// says it is, across configs, discovery and /probe: the cache and flight
// key.
func targetKey(identity, tenant string, ref graph.OperationRef) string {
	return identity + "\x00" + tenant + "\x00" + ref.Key()
}

// result is what one scrape shows of one operation.
type result struct {
	view
	up bool
}

// fetch returns what to show for each target: cached answers where fresh,
// new ones where Graph answered before ctx ended. Operations another scrape
// is already fetching are waited for, not fetched again; the rest are
// fetched per tenant in one call, which batches them.
func (e *Watcher) fetch(ctx context.Context, st *state, targets []target, res []result) []result {
	now := e.now()
	ttl, terminalTTL := st.settings.CacheTTL, st.settings.TerminalCacheTTL
	if cap(res) < len(targets) {
		res = make([]result, len(targets))
	}
	res = res[:len(targets)]
	var due []int // neither fresh nor held off: to fetch, or to wait for
	for i := range targets {
		t := &targets[i]
		v := e.cache.get(t.key, now).view()
		res[i] = result{view: v} // res may be a previous scrape's
		switch {
		case v.fresh(now, ttl, terminalTTL):
			res[i].up = true
		case now.Before(v.notBefore):
			// Graph asked us to wait: show the last answer, marked not up.
		default:
			due = append(due, i)
		}
	}
	flights := e.flying.join(targets, due)
	mine := map[string][]int{} // tenant → targets this scrape fetches
	for _, f := range flights {
		if !f.owner {
			continue
		}
		// Another scrape's fetch may have finished since the view above
		// was taken: then there is nothing to ask Graph.
		t := &targets[f.i]
		if en := e.cache.get(t.key, now); en.view().fresh(now, ttl, terminalTTL) {
			e.flying.finish(t.key, en)
			continue
		}
		mine[t.Tenant] = append(mine[t.Tenant], f.i)
	}
	for tenant, idx := range mine {
		go e.fetchTenant(st, st.tenants[tenant].Fetcher, targets, idx)
	}
	for _, f := range flights {
		if !f.wait(ctx.Done()) {
			continue // missed the deadline: last answer, not up
		}
		v := f.c.en.view()
		r := &res[f.i]
		r.view, r.up = v, v.err == nil
	}
	return res
}

var errNoTenant = errors.New("tenant has no Graph client")

// fetchTenant asks Graph for some operations of one tenant and records each
// answer. It runs on its own deadline, not the scrape's: other scrapes may
// be waiting for the same answers, and a late answer is cached for the next.
func (e *Watcher) fetchTenant(st *state, f Fetcher, targets []target, idx []int) {
	// A safety net, not a budget: each step inside has its own timeout, and
	// a large cold start (thousands of operations) must be able to finish,
	// so the bound grows with the batches to send.
	batches := (len(idx) + graph.MaxBatch - 1) / graph.MaxBatch
	ctx, cancel := context.WithTimeout(context.Background(), st.settings.FetchTimeout*time.Duration(max(1, batches)))
	defer cancel()
	// The cache holds an operation off as the fetcher's own policy says
	// (a graph.Client's), so that the two never disagree.
	policy := graph.DefaultRetry
	if r, ok := f.(interface{ RetryPolicy() graph.RetryPolicy }); ok {
		policy = r.RetryPolicy()
	}
	done := func(i int, op *graph.Operation, err error) {
		t := &targets[i]
		now := e.now()
		e.logFetch(t, op, err)
		// Kept under the key of the tenant's identity the fetch was made
		// for: if a reload has made the tenant another directory since,
		// the new state's keys differ, and nobody shows this answer.
		en := e.cache.get(t.key, now)
		en.record(op, err, now, policy)
		if t.OmitNotFound && isNotFound(err) {
			// A role alert never refreshed stays so for a while: ask
			// again after cache_ttl, not at every scrape.
			en.holdOff(now.Add(st.settings.CacheTTL))
		}
		e.flying.finish(t.key, en)
	}
	if f == nil {
		for _, i := range idx {
			done(i, nil, errNoTenant)
		}
		return
	}
	refs := make([]graph.OperationRef, len(idx))
	for k, i := range idx {
		refs[k] = targets[i].Ref
	}
	// Every flight ends: an answer the fetcher gave twice counts once, one
	// it gave after returning is dropped, and one it never gave ends with
	// errNoAnswer, so that no later scrape waits for it.
	var mu sync.Mutex
	answered := make([]bool, len(idx))
	open := true
	defer func() {
		mu.Lock()
		open = false
		mu.Unlock()
		for k, i := range idx {
			if !answered[k] {
				done(i, nil, errNoAnswer)
			}
		}
	}()
	f.GetOperations(ctx, refs, func(k int, op *graph.Operation, err error) {
		mu.Lock()
		first := open && k >= 0 && k < len(idx) && !answered[k]
		if first {
			answered[k] = true
		}
		mu.Unlock()
		if first {
			done(idx[k], op, err)
		}
	})
}

// errNoAnswer ends the fetch of an operation its fetcher gave no answer for.
var errNoAnswer = errors.New("the Graph client gave no answer for this operation")

func (e *Watcher) logFetch(t *target, op *graph.Operation, err error) {
	if err != nil {
		lvl := level.Warn
		if graph.Logged(err) {
			lvl = level.Debug // the graph package logged it, with its ids or its remedy
		}
		lvl(e.logger).Log("msg", "cannot fetch operation", "tenant", t.Tenant, "scope", t.Ref.Scope, "operation_id", t.Ref.ID, "err", err)
		return
	}
	if op.Status == graph.StatusUnknownFutureValue && !strings.EqualFold(op.RawStatus, graph.StatusUnknownFutureValue) {
		level.Debug(e.logger).Log("msg", "unrecognised status counted as unknownFutureValue", "tenant", t.Tenant, "operation_id", t.Ref.ID, "status", op.RawStatus)
	}
	if op.ProgressError != "" {
		level.Debug(e.logger).Log("msg", "progress left out", "tenant", t.Tenant, "operation_id", t.Ref.ID, "err", op.ProgressError)
	}
	for _, te := range op.TimestampErrors {
		level.Debug(e.logger).Log("msg", "timestamp left out", "tenant", t.Tenant, "operation_id", t.Ref.ID, "err", te)
	}
}

// Collector returns a prometheus.Collector for one scrape: whatever Graph
// has not answered when ctx ends is reported with msgraph_lro_up 0.
func (e *Watcher) Collector(ctx context.Context) prometheus.Collector {
	return &scrape{e: e, ctx: ctx}
}

type scrape struct {
	e   *Watcher
	ctx context.Context
}

// Describe sends nothing: the label set follows the config, so the
// collector is unchecked.
func (s *scrape) Describe(chan<- *prometheus.Desc) {}

func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	st := s.e.st.Load()
	res := s.e.fetch(s.ctx, st, st.targets, nil)
	now := s.e.now()
	for i := range st.targets {
		s.e.emit(ch, &st.d, &st.targets[i], &res[i], now)
	}
	collectSelf(ch, st, start)
}

// collectSelf sends the exporter's own series of a scrape that started at
// start: what it watches, its discovery jobs, how long the collection took.
func collectSelf(ch chan<- prometheus.Metric, st *state, start time.Time) {
	for _, c := range st.counts {
		ch <- prometheus.MustNewConstMetric(st.d.operations, prometheus.GaugeValue, float64(c.n), c.tenant, c.source, st.shard)
	}
	ch <- prometheus.MustNewConstMetric(st.d.overLimit, prometheus.GaugeValue, float64(st.overLimit))
	for _, j := range st.jobs {
		j.collect(ch, &st.d)
	}
	ch <- prometheus.MustNewConstMetric(st.d.scrapeDuration, prometheus.GaugeValue, time.Since(start).Seconds())
}

// emit sends one operation's series.
func (e *Watcher) emit(ch chan<- prometheus.Metric, d *descs, t *target, r *result, now time.Time) {
	s := samplesOf(t, r, now)
	s.metrics(ch, d, t.labels)
}

func isNotFound(err error) bool {
	var gerr *graph.Error
	return errors.As(err, &gerr) && gerr.NotFound()
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds keeps whole seconds and fraction apart, so that 12:01:03.45
// shows as ….45 and not ….4499998.
func unixSeconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

// ageSeconds is now - t in seconds, from Unix seconds: time.Sub saturates
// beyond ±292 years, where Graph's timestamps (0001-01-01, 9999-12-31) are
// still right.
func ageSeconds(now, t time.Time) float64 {
	return float64(now.Unix()-t.Unix()) + float64(now.Nanosecond()-t.Nanosecond())/1e9
}

func clip(s string) string { return graph.Truncate(s, MaxLabelValueLength) }
