package collector

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// The streaming text writer: for a plain /metrics in the text format, the
// operation series are written straight to the response, in the order
// client_golang would write them (families by name, series by their label
// values in label-name order), each operation's labels rendered once per
// config (labelSet.text) and only the values per scrape. The exporter's own
// and the static metrics (build info, Graph counters, Go and process) are
// few: they are gathered by client_golang as before and merged in by name.

// textOrder is the order of a state's operation series in the text format,
// built with the state.
type textOrder struct {
	ok       bool    // every label name and value can be streamed
	base     []int32 // targets by their base label values
	status   []int32 // msgraph_lro_status series, as target<<3 | status index
	statusAt int     // base labels before `status`
	infoAt   [5]int  // base labels before each info label, in infoSorted order
	info     atomic.Pointer[infoOrder]
}

// infoOrder is the order of the msgraph_lro_info series for one set of
// info labels (by pointer: labelSet keeps one *infoPairs while they stay).
type infoOrder struct {
	pairs []*infoPairs // per target; nil where it has no info series
	order []int32
}

// statusPairsText are the `status` pairs as text, in graph.Statuses order,
// and statusSorted those indices in value order.
var (
	statusPairsText = func() (t []string) {
		for _, s := range graph.Statuses {
			t = append(t, string(appendPair(nil, "status", s)))
		}
		return t
	}()
	statusSorted = func() []int {
		o := make([]int, len(graph.Statuses))
		for i := range o {
			o[i] = i
		}
		sort.Slice(o, func(i, j int) bool { return graph.Statuses[o[i]] < graph.Statuses[o[j]] })
		return o
	}()
)

// The status index takes the low 3 bits of textOrder.status.
func init() {
	if len(graph.Statuses) > 8 {
		panic("collector: more than 8 statuses do not fit textOrder.status")
	}
}

func newTextOrder(targets []target) *textOrder {
	o := &textOrder{ok: true}
	if len(targets) == 0 {
		return o
	}
	names := targets[0].labels.base
	for _, lp := range names {
		o.ok = o.ok && model.LegacyValidation.IsValidLabelName(lp.GetName())
		if lp.GetName() < "status" {
			o.statusAt++
		}
	}
	for j, i := range infoSorted {
		for _, lp := range names {
			if lp.GetName() < infoNames[i] {
				o.infoAt[j]++
			}
		}
	}
	o.base = make([]int32, len(targets))
	for i := range targets {
		o.base[i] = int32(i)
		for _, lp := range targets[i].labels.base {
			// client_golang refuses a series whose label value is not
			// UTF-8: let it, as it always has.
			o.ok = o.ok && utf8.ValidString(lp.GetValue())
		}
	}
	slices.SortFunc(o.base, func(a, b int32) int {
		return cmpLabels(targets[a].labels.base, targets[b].labels.base, nil, nil, nil)
	})
	// Series of one status sort by the labels before `status`, then by
	// status, then by the rest: within a run of targets equal up to
	// `status`, every status in turn, the run in base order.
	o.status = make([]int32, 0, len(targets)*len(graph.Statuses))
	for lo := 0; lo < len(o.base); {
		hi := lo + 1
		for hi < len(o.base) && samePrefix(targets[o.base[lo]].labels.base, targets[o.base[hi]].labels.base, o.statusAt) {
			hi++
		}
		for _, s := range statusSorted {
			for _, t := range o.base[lo:hi] {
				o.status = append(o.status, t<<3|int32(s))
			}
		}
		lo = hi
	}
	return o
}

func samePrefix(a, b []*dto.LabelPair, n int) bool {
	for k := 0; k < n; k++ {
		if a[k].GetValue() != b[k].GetValue() {
			return false
		}
	}
	return true
}

// cmpLabels compares two series as client_golang sorts them: by label
// value, in label-name order. The base labels a and b have extra labels
// inserted, extra[j] before base label at[j] (at ascending).
func cmpLabels(a, b []*dto.LabelPair, at []int, ea, eb []string) int {
	j := 0
	for k := 0; k <= len(a); k++ {
		for ; j < len(at) && at[j] == k; j++ {
			if c := strings.Compare(ea[j], eb[j]); c != 0 {
				return c
			}
		}
		if k < len(a) {
			if c := strings.Compare(a[k].GetValue(), b[k].GetValue()); c != 0 {
				return c
			}
		}
	}
	return 0
}

// infoOrderFor is the order of the info series of this scrape: the last
// one's if no operation's info labels changed. When a few changed (a
// running operation's status_detail, say), only they are placed again in
// the last order; when many did, all are sorted.
func (o *textOrder) infoOrderFor(targets []target, vals []samples) []int32 {
	prev := o.info.Load()
	if prev != nil && len(prev.pairs) != len(vals) {
		prev = nil
	}
	var changed []int32
	if prev != nil {
		for i := range vals {
			if prev.pairs[i] != vals[i].infoSeries() {
				changed = append(changed, int32(i))
			}
		}
		if len(changed) == 0 {
			return prev.order
		}
	}
	io := &infoOrder{pairs: make([]*infoPairs, len(vals))}
	for i := range vals {
		io.pairs[i] = vals[i].infoSeries()
	}
	at := o.infoAt[:]
	cmp := func(a, b int32) int {
		ka, kb := io.pairs[a].sortedValues(), io.pairs[b].sortedValues()
		return cmpLabels(targets[a].labels.base, targets[b].labels.base, at, ka[:], kb[:])
	}
	if prev != nil && len(changed) <= max(len(vals)/infoResortShare, 1) {
		io.order = reinsert(prev, changed, io.pairs, cmp)
		o.info.Store(io)
		return io.order
	}
	for i, p := range io.pairs {
		if p != nil {
			io.order = append(io.order, int32(i))
		}
	}
	keys := make([][5]string, len(vals))
	for _, i := range io.order {
		keys[i] = io.pairs[i].sortedValues()
	}
	slices.SortFunc(io.order, func(a, b int32) int {
		return cmpLabels(targets[a].labels.base, targets[b].labels.base, at, keys[a][:], keys[b][:])
	})
	o.info.Store(io)
	return io.order
}

// infoResortShare: when more than one target in infoResortShare has new
// info labels, the info series are sorted again rather than placed again.
const infoResortShare = 16

// reinsert is prev's order without the changed targets (whose pairs are
// not prev's), with those that still have an info series put back where
// cmp places them: the order less the changed ones is still sorted, since
// only their labels moved.
func reinsert(prev *infoOrder, changed []int32, pairs []*infoPairs, cmp func(a, b int32) int) []int32 {
	var moved []int32
	for _, t := range changed {
		if pairs[t] != nil {
			moved = append(moved, t)
		}
	}
	kept := make([]int32, 0, len(prev.order))
	for _, t := range prev.order {
		if prev.pairs[t] == pairs[t] {
			kept = append(kept, t)
		}
	}
	slices.SortFunc(moved, cmp)
	out := make([]int32, 0, len(kept)+len(moved))
	for _, t := range moved {
		i, _ := slices.BinarySearchFunc(kept, t, cmp)
		out = append(out, kept[:i]...)
		out = append(out, t)
		kept = kept[i:]
	}
	return append(out, kept...)
}

// sortedValues are the info label values in infoSorted order.
func (p *infoPairs) sortedValues() (v [5]string) {
	for j, i := range infoSorted {
		v[j] = p.values[i]
	}
	return v
}

// infoSeries is the labels of the msgraph_lro_info series, nil if none.
func (s *samples) infoSeries() *infoPairs {
	if !s.hasFam(famInfo) {
		return nil
	}
	return s.info
}

// textWriter writes operation series as exposition text.
type textWriter struct {
	w   *bufio.Writer
	hdr bool // the current family's HELP and TYPE are written
}

func (tw *textWriter) header(f fam) {
	if tw.hdr {
		return
	}
	tw.hdr = true
	m := famMeta[f]
	tw.w.WriteString("# HELP ")
	tw.w.WriteString(m.name)
	tw.w.WriteByte(' ')
	helpEscaper.WriteString(tw.w, m.help)
	tw.w.WriteString("\n# TYPE ")
	tw.w.WriteString(m.name)
	tw.w.WriteString(" gauge\n")
}

var helpEscaper = strings.NewReplacer("\\", `\\`, "\n", `\n`)

// series writes one sample: the family's name, the target's labels with
// extra pairs (already text) inserted before base label at[j], the value.
func (tw *textWriter) series(f fam, ls *labelSet, at []int, extra []string, v float64) {
	tw.header(f)
	w := tw.w
	w.WriteString(famMeta[f].name)
	w.WriteByte('{')
	pos, first := 0, true
	for j, k := range at {
		if k > pos {
			if !first {
				w.WriteByte(',')
			}
			w.WriteString(ls.text[ls.offs[pos] : ls.offs[k]-1])
			first, pos = false, k
		}
		if !first {
			w.WriteByte(',')
		}
		w.WriteString(extra[j])
		first = false
	}
	if pos < len(ls.base) {
		if !first {
			w.WriteByte(',')
		}
		w.WriteString(ls.text[ls.offs[pos]:])
	}
	w.WriteString("} ")
	writeFloat(w, v)
	w.WriteByte('\n')
}

// writeFloat writes v as expfmt's text format does.
func writeFloat(w *bufio.Writer, v float64) {
	switch {
	case v == 1:
		w.WriteByte('1')
	case v == 0:
		w.WriteByte('0')
	case v == -1:
		w.WriteString("-1")
	case math.IsNaN(v):
		w.WriteString("NaN")
	case math.IsInf(v, +1):
		w.WriteString("+Inf")
	case math.IsInf(v, -1):
		w.WriteString("-Inf")
	default:
		if w.Available() < 32 {
			w.Flush()
		}
		w.Write(strconv.AppendFloat(w.AvailableBuffer(), v, 'g', -1, 64))
	}
}

// family writes every series of family f of this scrape.
func (tw *textWriter) family(f fam, st *state, vals []samples) {
	tw.hdr = false
	o := st.text
	switch f {
	case famStatus:
		var extra [1]string
		at := []int{o.statusAt}
		for _, x := range o.status {
			t, s := x>>3, int(x&7)
			if !vals[t].hasFam(famStatus) {
				continue
			}
			extra[0] = statusPairsText[s]
			tw.series(f, st.targets[t].labels, at, extra[:], boolFloat(int(vals[t].status) == s))
		}
	case famInfo:
		for _, t := range o.infoOrderFor(st.targets, vals) {
			tw.series(f, st.targets[t].labels, o.infoAt[:], vals[t].info.text[:], vals[t].v[f])
		}
	default:
		for _, t := range o.base {
			if vals[t].hasFam(f) {
				tw.series(f, st.targets[t].labels, nil, nil, vals[t].v[f])
			}
		}
	}
}

// scratch is what a streaming scrape reuses from the last one: nothing in
// it grows with the series but the arrays of answers and values.
type scratch struct {
	res  []result
	vals []samples
	bw   *bufio.Writer
	gz   *gzip.Writer
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{bw: bufio.NewWriterSize(nil, 64<<10)}
}}

// textFormat is the format a scrape gets if it is the text format and the
// streaming writer may serve it.
func textFormat(r *http.Request) (expfmt.Format, bool) {
	f := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
	if f.FormatType() != expfmt.TypeTextPlain {
		return f, false
	}
	if r.URL != nil && len(r.URL.Query()["name[]"]) > 0 {
		return f, false // promhttp's filter by name
	}
	return f, true
}

// serveText answers a scrape in the text format with the streaming writer;
// it answers false, having written nothing, if the state cannot be
// streamed.
func (e *Watcher) serveText(w http.ResponseWriter, r *http.Request, format expfmt.Format, errLog promhttp.Logger, static prometheus.Gatherer, deadline time.Duration) bool {
	st := e.st.Load()
	if !st.text.ok {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), deadline)
	defer cancel()
	start := time.Now()
	sc := scratchPool.Get().(*scratch)
	defer func() {
		clear(sc.res)
		clear(sc.vals)
		scratchPool.Put(sc)
	}()
	sc.res = e.fetch(ctx, st, st.targets, sc.res)
	now := e.now()
	if cap(sc.vals) < len(st.targets) {
		sc.vals = make([]samples, len(st.targets))
	}
	sc.vals = sc.vals[:len(st.targets)]
	for i := range st.targets {
		sc.vals[i] = samplesOf(&st.targets[i], &sc.res[i], now)
	}

	// The exporter's own series and the static ones: few, gathered and
	// merged by client_golang (after the fetch, which moves the Graph and
	// token counters).
	self := prometheus.NewRegistry()
	self.MustRegister(selfCollector{st, start})
	gatherers := prometheus.Gatherers{self}
	if static != nil {
		gatherers = append(gatherers, static)
	}
	mfs, err := gatherers.Gather()
	if err != nil && errLog != nil {
		errLog.Println("error gathering metrics:", err)
	}

	h := w.Header()
	h.Add("Vary", "Accept")
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Type", string(format))
	var out io.Writer = w
	if acceptsGzip(r.Header) {
		h.Set("Content-Encoding", "gzip")
		if sc.gz == nil {
			sc.gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		} else {
			sc.gz.Reset(w)
		}
		out = sc.gz
	}
	sc.bw.Reset(out)
	enc := expfmt.NewEncoder(sc.bw, format)
	tw := textWriter{w: sc.bw}
	f := fam(0)
	for _, mf := range mfs {
		for ; f < numFams && famMeta[f].name < mf.GetName(); f++ {
			tw.family(f, st, sc.vals)
		}
		if err := enc.Encode(mf); err != nil && errLog != nil {
			errLog.Println("error encoding and sending metric family:", err)
		}
	}
	for ; f < numFams; f++ {
		tw.family(f, st, sc.vals)
	}
	sc.bw.Flush()
	sc.bw.Reset(nil)
	if sc.gz != nil && out == io.Writer(sc.gz) {
		sc.gz.Close()
		sc.gz.Reset(io.Discard)
	}
	return true
}

// selfCollector sends a streaming scrape's own series (collectSelf).
type selfCollector struct {
	st    *state
	start time.Time
}

func (selfCollector) Describe(chan<- *prometheus.Desc) {}

func (s selfCollector) Collect(ch chan<- prometheus.Metric) { collectSelf(ch, s.st, s.start) }

// acceptsGzip says whether promhttp would answer gzip to this
// Accept-Encoding, offering identity and gzip: the highest q wins, identity
// on a tie.
func acceptsGzip(h http.Header) bool {
	best, bestQ := "identity", -1.0
	type spec struct {
		v string
		q float64
	}
	var specs []spec
	for _, line := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(line, ",") {
			v, params, _ := strings.Cut(part, ";")
			s := spec{strings.TrimSpace(v), 1}
			if s.v == "" {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				if k, qv, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
					if q, err := strconv.ParseFloat(strings.TrimSpace(qv), 64); err == nil {
						s.q = q
					}
				}
			}
			specs = append(specs, s)
		}
	}
	for _, offer := range []string{"identity", "gzip"} {
		for _, s := range specs {
			if s.q > bestQ && (s.v == "*" || s.v == offer) {
				best, bestQ = offer, s.q
			}
		}
	}
	return best == "gzip"
}
