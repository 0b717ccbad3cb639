package collector

import (
	"sort"
	"sync"
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

// labelSet is one target's label pairs, and the same labels rendered once
// as exposition text for the streaming writer.
type labelSet struct {
	base       []*dto.LabelPair
	status     [][]*dto.LabelPair // in graph.Statuses order; see statusPairsOf
	statusOnce sync.Once
	info       atomic.Pointer[infoPairs]
	text       string   // name="value" of every base pair, comma-separated, escaped
	offs       []uint32 // where base pair k starts in text; offs[len(base)] = len(text)+1
}

type infoPairs struct {
	values [5]string // resource_location, status_detail, type, error_code, raw_status
	text   [5]string // name="value" of each, in infoSorted order, escaped
	once   sync.Once
	pairs  []*dto.LabelPair // see pairsWith
}

// pairsWith returns the info pairs with the operation's base pairs: built
// at the first scrape that goes through client_golang, since the streaming
// text writer needs none.
func (p *infoPairs) pairsWith(base []*dto.LabelPair) []*dto.LabelPair {
	p.once.Do(func() {
		var extra [5]*dto.LabelPair
		for i, n := range infoNames {
			if extra[i] = emptyPairs[i]; p.values[i] != "" {
				extra[i] = labelPair(n, p.values[i])
			}
		}
		p.pairs = withPairs(base, extra[:]...)
	})
	return p.pairs
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
	var b []byte
	ls.offs = make([]uint32, len(ls.base)+1)
	for k, lp := range ls.base {
		if k > 0 {
			b = append(b, ',')
		}
		ls.offs[k] = uint32(len(b))
		b = appendPair(b, lp.GetName(), lp.GetValue())
	}
	ls.offs[len(ls.base)] = uint32(len(b) + 1)
	ls.text = string(b)
	return ls
}

// statusPairsOf returns the msgraph_lro_status pairs, in graph.Statuses
// order: built at the first scrape that goes through client_golang, since
// the streaming text writer needs none.
func (ls *labelSet) statusPairsOf() [][]*dto.LabelPair {
	ls.statusOnce.Do(func() {
		for _, s := range graph.Statuses {
			ls.status = append(ls.status, withPairs(ls.base, statusPairs[s]))
		}
	})
	return ls.status
}

// appendPair appends name="value", the value escaped as expfmt's text
// format escapes it.
func appendPair(b []byte, name, value string) []byte {
	b = append(append(b, name...), '=', '"')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
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

// infoSorted is infoNames in name order, as indices into infoNames: the
// order the text writer inserts them in among the base labels.
var infoSorted = func() (o [5]int) {
	for i := range o {
		o[i] = i
	}
	sort.Slice(o[:], func(i, j int) bool { return infoNames[o[i]] < infoNames[o[j]] })
	return o
}()

// emptyText is the text of the info pairs with empty values, in
// infoSorted order.
var emptyText = func() (t [5]string) {
	for j, i := range infoSorted {
		t[j] = string(appendPair(nil, infoNames[i], ""))
	}
	return t
}()

// infoPairsFor returns the msgraph_lro_info pairs for these values, and
// their text, rebuilt only when they change: the same values give the same
// *infoPairs.
func (ls *labelSet) infoPairsFor(resourceLocation, statusDetail, typ, errorCode, rawStatus string) *infoPairs {
	v := [5]string{resourceLocation, statusDetail, typ, errorCode, rawStatus}
	if p := ls.info.Load(); p != nil && p.values == v {
		return p
	}
	p := &infoPairs{values: v}
	for j, i := range infoSorted {
		if p.text[j] = emptyText[j]; v[i] != "" {
			p.text[j] = string(appendPair(nil, infoNames[i], v[i]))
		}
	}
	ls.info.Store(p)
	return p
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
