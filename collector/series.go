package collector

import (
	"sort"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// A scrape of ten thousand operations sends over a hundred thousand series.
// Their label pairs depend on the config alone (and, for msgraph_lro_info,
// on two fields of the answer), so they are built once per target and
// shared by every scrape; a scrape only fills in values. Label pairs are
// never changed once built, so sharing them between concurrent scrapes is
// safe, as it is for client_golang's own constant metrics.

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
}

// statusPairs are the `status` label pairs, one per status, shared by all.
var statusPairs = func() map[string]*dto.LabelPair {
	m := make(map[string]*dto.LabelPair, len(graph.Statuses))
	for _, s := range graph.Statuses {
		m[s] = labelPair("status", s)
	}
	return m
}()

// withPairs returns base (sorted by name) with extra inserted in order.
func withPairs(base []*dto.LabelPair, extra ...*dto.LabelPair) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(base)+len(extra))
	out = append(append(out, base...), extra...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// labelSet is one target's label pairs.
type labelSet struct {
	base   []*dto.LabelPair
	status [][]*dto.LabelPair // in graph.Statuses order
	info   atomic.Pointer[infoPairs]
}

type infoPairs struct {
	values [5]string // resource_location, status_detail, type, error_code, raw_status
	pairs  []*dto.LabelPair
}

// pairPool interns label pairs while a config is turned into targets: most
// of them (tenant, scope, an empty name, static labels) are the same for
// many operations and need to exist once.
type pairPool map[[2]string]*dto.LabelPair

func (p pairPool) get(name, value string) *dto.LabelPair {
	k := [2]string{name, value}
	lp, ok := p[k]
	if !ok {
		lp = labelPair(name, value)
		p[k] = lp
	}
	return lp
}

func newLabelSet(pool pairPool, names, values []string) *labelSet {
	ls := &labelSet{base: make([]*dto.LabelPair, len(names))}
	for i := range names {
		ls.base[i] = pool.get(names[i], values[i])
	}
	sort.Slice(ls.base, func(i, j int) bool { return ls.base[i].GetName() < ls.base[j].GetName() })
	for _, s := range graph.Statuses {
		ls.status = append(ls.status, withPairs(ls.base, statusPairs[s]))
	}
	return ls
}

// infoNames are msgraph_lro_info's own labels; most operations have them
// all empty, so the empty pairs are shared by all.
var (
	infoNames  = [5]string{"resource_location", "status_detail", "type", "error_code", "raw_status"}
	emptyPairs = func() (p [5]*dto.LabelPair) {
		for i, n := range infoNames {
			p[i] = labelPair(n, "")
		}
		return p
	}()
)

// infoFor returns the msgraph_lro_info pairs for these values, rebuilt
// only when they change.
func (ls *labelSet) infoFor(resourceLocation, statusDetail, typ, errorCode, rawStatus string) []*dto.LabelPair {
	v := [5]string{resourceLocation, statusDetail, typ, errorCode, rawStatus}
	if p := ls.info.Load(); p != nil && p.values == v {
		return p.pairs
	}
	var extra [5]*dto.LabelPair
	for i, n := range infoNames {
		if extra[i] = emptyPairs[i]; v[i] != "" {
			extra[i] = labelPair(n, v[i])
		}
	}
	p := &infoPairs{v, withPairs(ls.base, extra[:]...)}
	ls.info.Store(p)
	return p.pairs
}

// sample is one gauge series of one scrape. It carries its own dto.Gauge,
// so writing it allocates nothing; a scrape appends an operation's samples
// to one slice.
type sample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
	gauge  dto.Gauge
}

// Desc implements prometheus.Metric.
func (s *sample) Desc() *prometheus.Desc { return s.desc }

// Write implements prometheus.Metric.
func (s *sample) Write(out *dto.Metric) error {
	s.gauge.Value = &s.value
	out.Label = s.labels
	out.Gauge = &s.gauge
	return nil
}

// usualSamples is room for the series of one operation with every field
// (fifteen); more only cost another allocation.
const usualSamples = 15
