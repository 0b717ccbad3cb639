package collector

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// Lister lists the operations of a collection; *graph.Client is one.
type Lister interface {
	// Discover lists the operations of of.Scope under the parents of
	// names (of.Site, of.List, …).
	Discover(ctx context.Context, of graph.OperationRef) ([]graph.Discovered, error)
}

// Job is a discovery job: list a collection every Interval and watch what
// it holds.
type Job struct {
	Tenant, Scope, Site string
	List                string // siteLists: the list under Site
	Case                string // ediscovery: the case
	Interval            time.Duration
	// Retention: a succeeded or failed operation whose last action is
	// older is no longer watched, so that series stay bounded.
	Retention time.Duration
	Labels    map[string]string
}

func (j Job) id() [5]string { return [5]string{j.Tenant, j.Scope, j.Site, j.List, j.Case} }

// of is what the job lists.
func (j Job) of() graph.OperationRef {
	return graph.OperationRef{Scope: j.Scope, Site: j.Site, List: j.List, Case: j.Case}
}

// job is a running discovery job and what its latest listing found, as
// refs: labels, retention and the not-found rule are read from the job
// (the current config's) whenever the watched set is built.
type job struct {
	Job
	mu          sync.Mutex
	found       []graph.OperationRef
	watched     int // of found, kept after retention when last built
	lastSuccess time.Time
	errors      float64
}

// targets are the operations the job watches now: what it found, less the
// final ones whose last action (as the cache of identity's tenant knows
// it) is older than the retention.
func (j *job) targets(c *cache, identity string, now time.Time) []Target {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Target, 0, len(j.found))
	for _, ref := range j.found {
		op := c.peek(targetKey(identity, j.Tenant, ref)).op
		if op != nil && graph.Terminal(op.Status) && !op.LastActionDateTime.IsZero() && now.Sub(op.LastActionDateTime) > j.Retention {
			continue
		}
		out = append(out, Target{Tenant: j.Tenant, Ref: ref, Labels: j.Labels, Source: SourceDiscovery,
			OmitNotFound: j.Scope == graph.ScopeRoleManagementAlerts})
	}
	j.watched = len(out)
	return out
}

func (j *job) collect(ch chan<- prometheus.Metric, d *descs) {
	j.mu.Lock()
	defer j.mu.Unlock()
	lv := []string{j.Tenant, j.Scope, j.Site, j.List, j.Case}
	ch <- prometheus.MustNewConstMetric(d.discoveryErrors, prometheus.CounterValue, j.errors, lv...)
	ch <- prometheus.MustNewConstMetric(d.discovered, prometheus.GaugeValue, float64(j.watched), lv...)
	if !j.lastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(d.discoverySuccess, prometheus.GaugeValue, unixSeconds(j.lastSuccess), lv...)
	}
}

// keepFindings makes the jobs to run, each carrying over what the job of
// the same tenant, scope and parents found before: the refs, not the old
// job's labels or retention.
func keepFindings(old []*job, jobs []Job) []*job {
	prev := make(map[[5]string]*job, len(old))
	for _, j := range old {
		prev[j.id()] = j
	}
	out := make([]*job, 0, len(jobs))
	for _, jb := range jobs {
		j := &job{Job: jb}
		if o := prev[jb.id()]; o != nil {
			o.mu.Lock()
			j.found, j.lastSuccess, j.errors = o.found, o.lastSuccess, o.errors
			o.mu.Unlock()
		}
		out = append(out, j)
	}
	return out
}

// startJobs runs the jobs until the next stopJobs. Called with jobsMu held.
func (e *Watcher) startJobs(running []*job) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, j := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.runJob(ctx, j)
		}()
	}
	e.stopJobs = func() { cancel(); wg.Wait() }
}

// Close stops the discovery jobs.
func (e *Watcher) Close() {
	e.jobsMu.Lock()
	defer e.jobsMu.Unlock()
	e.stopJobs()
	e.stopJobs = func() {}
}

// runJob lists every Interval until ctx ends: at once for a new job, and
// for a job that a reload kept, when its interval since the last listing
// is up, so that a reload costs Graph no listing.
func (e *Watcher) runJob(ctx context.Context, j *job) {
	if wait := j.firstWait(e.now()); wait > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	t := time.NewTicker(j.Interval)
	defer t.Stop()
	for {
		e.discoverOnce(ctx, j)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// firstWait is how long the job waits before its first listing: nothing
// for a new job, the rest of its interval for one a reload kept.
func (j *job) firstWait(now time.Time) time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lastSuccess.IsZero() {
		return 0
	}
	return max(0, j.Interval-now.Sub(j.lastSuccess))
}

var errNoLister = errors.New("tenant has no Graph client that can list")

// discoverOnce lists the job's collection once and, if that worked, makes
// what it found the watched set of the job.
func (e *Watcher) discoverOnce(ctx context.Context, j *job) {
	timeout := min(j.Interval, 2*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	e.mu.Lock()
	tenant := e.snap.Tenants[j.Tenant]
	shard := e.shard
	e.mu.Unlock()
	l, _ := tenant.Fetcher.(Lister)
	var (
		found []graph.Discovered
		err   = errNoLister
	)
	if l != nil {
		found, err = l.Discover(ctx, j.of())
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // stopped: a reload or shutdown, not a failure
	}
	now := e.now()
	if err != nil {
		// Logged before it is counted: whoever sees the count sees the line.
		level.Warn(e.logger).Log("msg", "discovery failed; keeping what it found before", "tenant", j.Tenant, "scope", j.Scope, "site", j.Site, "list", j.List, "case", j.Case, "err", err)
		j.mu.Lock()
		j.errors++
		j.mu.Unlock()
		return
	}
	refs := make([]graph.OperationRef, 0, len(found))
	for _, d := range found {
		if !shard.Owns(j.Tenant, d.Ref) {
			continue // every replica lists; each keeps its own share
		}
		if d.Op != nil {
			// The list carried the operation: as good as a GET, so the
			// next scrape need not ask again.
			e.cache.get(targetKey(tenant.Identity, j.Tenant, d.Ref), now).record(d.Op, nil, now, graph.DefaultRetry)
		}
		refs = append(refs, d.Ref)
	}
	j.mu.Lock()
	j.found = refs
	j.mu.Unlock()
	e.mu.Lock()
	e.rebuild()
	e.mu.Unlock()
	j.mu.Lock()
	watchedN := j.watched
	// Success once what it found is watched.
	j.lastSuccess = now
	j.mu.Unlock()
	level.Debug(e.logger).Log("msg", "discovery listed its collection", "tenant", j.Tenant, "scope", j.Scope, "site", j.Site, "list", j.List, "case", j.Case, "found", len(found), "watched", watchedN)
}
