package collector

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// probeParams are the parameters /probe takes; any other is refused.
var probeParams = append([]string{"tenant", "scope", "id"}, graph.ParentKeys...)

var (
	// probeDescs are the descriptions of a probed operation's series: the
	// fixed labels only, whatever the config's static labels are.
	probeDescs = newDescs(nil)

	probeSuccess = prometheus.NewDesc("msgraph_lro_probe_success",
		"1 if Graph answered for the probed operation (or a cached answer is still fresh), else 0.", nil, nil)
	probeDuration = prometheus.NewDesc("msgraph_lro_probe_duration_seconds",
		"How long the probe took.", nil, nil)
)

// probeTarget reads and checks a /probe query. Only operation paths are
// accepted: no URL, no '/', no '.' or '..' segment can reach the request.
func probeTarget(q map[string][]string, tenants map[string]Tenant) (Target, error) {
	for k, v := range q {
		if !slices.Contains(probeParams, k) {
			return Target{}, fmt.Errorf("unknown parameter %q; /probe takes tenant, scope, id, and the scope's parents (%s)", k, strings.Join(graph.ParentKeys, ", "))
		}
		if len(v) != 1 {
			return Target{}, fmt.Errorf("parameter %q given %d times", k, len(v))
		}
	}
	get := func(k string) string {
		if v := q[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	tenant, scope, id := get("tenant"), get("scope"), get("id")
	switch {
	case tenant == "":
		return Target{}, fmt.Errorf("missing parameter tenant")
	case tenants[tenant].Fetcher == nil:
		return Target{}, fmt.Errorf("unknown tenant %q", tenant)
	case scope == "":
		return Target{}, fmt.Errorf("missing parameter scope")
	case scope == graph.ScopeCustom || !graph.KnownScope(scope):
		return Target{}, fmt.Errorf("unknown scope %q; one of %s", scope, strings.Join(probeScopes(), ", "))
	case id == "":
		return Target{}, fmt.Errorf("missing parameter id")
	}
	if err := graph.CheckSegment(id); err != nil {
		return Target{}, fmt.Errorf("parameter id %w", err)
	}
	k := graph.LookupKind(scope)
	ref := graph.OperationRef{Scope: scope, ID: id}
	for _, p := range graph.ParentKeys {
		v := get(p)
		switch {
		case v == "" && k.HasParent(p):
			return Target{}, fmt.Errorf("missing parameter %s, which scope %s needs", p, scope)
		case v != "" && !k.HasParent(p):
			return Target{}, fmt.Errorf("parameter %s is only for scope %s", p, strings.Join(graph.ScopesWith(p), " or "))
		case v != "":
			if err := graph.CheckSegment(v); err != nil {
				return Target{}, fmt.Errorf("parameter %s %w", p, err)
			}
			ref.SetParent(p, v)
		}
	}
	if err := tenants[tenant].Fetcher.Readable(ref); err != nil {
		return Target{}, err
	}
	return Target{Tenant: tenant, Ref: ref, Source: SourceProbe}, nil
}

// probeScopes are the scopes /probe takes: all but custom, which needs a
// path, and /probe takes no paths.
func probeScopes() []string {
	var s []string
	for _, sc := range graph.Scopes {
		if sc != graph.ScopeCustom {
			s = append(s, sc)
		}
	}
	return s
}

// ProbeHandler serves /probe: one operation, named by the query, as
// blackbox_exporter's multi-target pattern does. Each request gets a fresh
// registry; the cache and the shared fetches are the exporter's, so a probe
// of an operation /metrics also watches costs Graph nothing more.
func (e *Watcher) ProbeHandler(logger log.Logger) http.Handler {
	errLog := promhttpLogger{logger}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := e.st.Load()
		t, err := probeTarget(r.URL.Query(), st.tenants)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		serveScrape(w, r, errLog, func(ctx context.Context) prometheus.Collector {
			return &probe{e: e, st: st, t: t, ctx: ctx}
		}, nil)
	})
}

// probe collects one operation.
type probe struct {
	e   *Watcher
	st  *state
	t   Target
	ctx context.Context
}

func (p *probe) Describe(chan<- *prometheus.Desc) {}

func (p *probe) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	tt := target{Target: &p.t, key: targetKey(p.st.tenants[p.t.Tenant].Identity, p.t.Tenant, p.t.Ref)}
	tt.labels = newLabelSet(pairPool{}, probeDescs.labelNames, []string{p.t.Tenant, p.t.Ref.Scope, p.t.Ref.ID, ""})
	res := p.e.fetch(p.ctx, p.st, []target{tt}, nil)
	p.e.emit(ch, &probeDescs, &tt, &res[0], p.e.now())
	ch <- prometheus.MustNewConstMetric(probeSuccess, prometheus.GaugeValue, boolFloat(res[0].up))
	ch <- prometheus.MustNewConstMetric(probeDuration, prometheus.GaugeValue, time.Since(start).Seconds())
	p.e.cache.bound(p.st.knownKeys, MaxProbed)
	p.e.sweepProbes()
}

// MaxProbed caps the cache entries of operations only /probe asks for
// (not watched by the configuration or discovery); beyond it, the least
// recently probed are forgotten.
const MaxProbed = 1000

// sweepProbes drops, at most once a minute, the cache entries of probed
// operations nobody asked for since twice the terminal TTL: /probe must not
// grow the cache without bound.
func (e *Watcher) sweepProbes() {
	now := e.now()
	last := e.lastSweep.Load()
	if now.UnixNano()-last < int64(time.Minute) || !e.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	e.prune(e.st.Load())
}
