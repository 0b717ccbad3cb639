package collector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// untidyWatcher watches operations whose labels and answers are what real
// Graph data can be: quotes, backslashes, newlines and UTF-8 in label
// values, the same id in two tenants, static labels that sort before and
// after the fixed ones, answers with and without the optional series, a 404
// left out, an error.
func untidyWatcher(t *testing.T) *Watcher {
	t.Helper()
	a, b := newFake(), newFake()
	withAll := func(id string) *graph.Operation {
		op := running(id)
		op.HasPercentage, op.PercentageComplete = true, 42.5
		op.HasValidation, op.ValidationErrors, op.ValidationWarnings = true, 3, 0
		op.ResourceLocation = `https://graph.microsoft.com/v1.0/sites/x?q="1"`
		op.StatusDetail = "line one\nline \\two\\ \"quoted\" — Zürich 東京"
		op.Type, op.ErrorCode = "copy", "tooMany\"Quotes"
		return op
	}
	future := running("future")
	future.CreatedDateTime = fakeNow.Add(100 * time.Hour) // a negative age
	future.LastActionDateTime = time.Time{}               // no last action series
	failed := running("failed")
	failed.Status, failed.RawStatus = graph.StatusFailed, "Failed "
	odd := running("odd")
	odd.Status, odd.RawStatus = graph.StatusUnknownFutureValue, "weird\\status"
	for _, f := range []*fakeGraph{a, b} {
		f.set(importRef(`same"id`), withAll(`same"id`))
		f.set(importRef("future"), future)
		f.set(importRef("failed"), failed)
		f.set(importRef("odd"), odd)
	}
	a.errs[importRef("broken").Key()] = &graph.Error{StatusCode: 500, Code: "InternalServerError"}
	var targets []Target
	for _, tn := range []string{"zeta", "alpha"} {
		for i, id := range []string{`same"id`, "future", "failed", "odd", "missing", "gone"} {
			tg := Target{Tenant: tn, Ref: importRef(id), Name: []string{"", "n\\1", "ü", `"q"`, "m", "g"}[i], Source: SourceConfig,
				Labels: map[string]string{"app": []string{"b", "a\nb", "", "a", "c", "a"}[i], "zone": "eu"}}
			if id == "gone" {
				tg.OmitNotFound = true
			}
			targets = append(targets, tg)
		}
	}
	targets = append(targets, Target{Tenant: "zeta", Ref: importRef("broken"), Source: SourceConfig})
	e := New(nil, func() time.Time { return fakeNow })
	e.Swap(Snapshot{Targets: targets, Tenants: map[string]Tenant{"zeta": {Fetcher: a}, "alpha": {Fetcher: b}}})
	return e
}

// bothEncoders writes vals of st with the streaming writer and with
// client_golang's text encoder, the operation families only.
func bothEncoders(t *testing.T, st *state, vals []samples) (streamed, golang string) {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	tw := textWriter{w: bw}
	for f := fam(0); f < numFams; f++ {
		tw.family(f, st, vals)
	}
	bw.Flush()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) {
		for i := range st.targets {
			vals[i].metrics(ch, &st.d, st.targets[i].labels)
		}
	}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := expfmt.NewEncoder(&out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String(), out.String()
}

type collectFunc func(chan<- prometheus.Metric)

func (collectFunc) Describe(chan<- *prometheus.Desc)      {}
func (f collectFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// The two encoders of the operation series write the same bytes for the
// same samples, whatever the labels and values.
func TestEncodersAgree(t *testing.T) {
	e := untidyWatcher(t)
	st := e.st.Load()
	res := e.fetch(context.Background(), st, st.targets, nil)
	vals := make([]samples, len(st.targets))
	for i := range st.targets {
		vals[i] = samplesOf(&st.targets[i], &res[i], fakeNow)
	}
	streamed, golang := bothEncoders(t, st, vals)
	if streamed != golang {
		t.Fatalf("streamed text differs from client_golang's:\n--- streamed\n%s\n--- client_golang\n%s", streamed, golang)
	}
	for _, want := range []string{
		`msgraph_lro_age_seconds{app="a\nb",name="n\\1",operation_id="future",scope="industryData",tenant="alpha",zone="eu"} -360000`,
		`status_detail="line one\nline \\two\\ \"quoted\" — Zürich 東京"`,
		`msgraph_lro_up{app="",name="",operation_id="broken",scope="industryData",tenant="zeta",zone=""} 0`,
	} {
		if !strings.Contains(streamed, want) {
			t.Errorf("missing %s in\n%s", want, streamed)
		}
	}
	if strings.Contains(streamed, `operation_id="gone"`) {
		t.Errorf("an operation left out while Graph answers 404 shows:\n%s", streamed)
	}

	// Values no answer gives, and every series present or absent in turn.
	odd := []float64{math.NaN(), math.Inf(+1), math.Inf(-1), -1, 1, 0, math.Copysign(0, -1), -2.5e-9, 1e21, 123456789.125}
	for i := range vals {
		for f := fam(0); f < numFams; f++ {
			vals[i].v[f] = odd[(i+int(f))%len(odd)]
		}
		vals[i].has &^= 1 << fam(i%int(numFams))
	}
	vals[0].has, vals[1].has = 0, 1<<famUp
	streamed, golang = bothEncoders(t, st, vals)
	if streamed != golang {
		t.Fatalf("streamed text differs from client_golang's:\n--- streamed\n%s\n--- client_golang\n%s", streamed, golang)
	}
	for _, want := range []string{" NaN\n", " +Inf\n", " -Inf\n", " -1\n", " 1e+21\n", " -2.5e-09\n", " 1.23456789125e+08\n"} {
		if !strings.Contains(streamed, want) {
			t.Errorf("no value %q in\n%s", want, streamed)
		}
	}

	// An answer that changes the info labels changes their order too.
	before := st.text.infoOrderFor(st.targets, vals)
	for i := range vals {
		if vals[i].info != nil {
			vals[i].info = st.targets[i].labels.infoPairsFor("", "", "", strconv.Itoa(100-i), "r")
		}
	}
	streamed, golang = bothEncoders(t, st, vals)
	if streamed != golang {
		t.Fatalf("after a change of info labels, streamed text differs from client_golang's:\n--- streamed\n%s\n--- client_golang\n%s", streamed, golang)
	}
	// Sorted again, not the cached order of the old labels; and, with
	// nothing changed, cached.
	after := st.text.infoOrderFor(st.targets, vals)
	if len(after) != len(before) || &after[0] == &before[0] {
		t.Errorf("info order %v (before %v) was not sorted again", after, before)
	}
	if again := st.text.infoOrderFor(st.targets, vals); &again[0] != &after[0] {
		t.Errorf("info order sorted again with no label changed")
	}
}

var durationLine = regexp.MustCompile(`(?m)^msgraph_lro_scrape_duration_seconds .*$`)

// The whole /metrics, streamed in text, holds the same bytes as the
// protobuf answer of client_golang written as text, static metrics
// included; gzip is gzip; promtool finds nothing wrong with either.
func TestHandlerTextMatchesProtobuf(t *testing.T) {
	e := untidyWatcher(t)
	static := prometheus.NewRegistry()
	static.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "msgraph_lro_exporter_build_info", Help: "Build."}, func() float64 { return 1 }),
		prometheus.NewCounter(prometheus.CounterOpts{Name: "msgraph_lro_graph_requests_total", Help: "Requests."}),
		prometheus.NewCounter(prometheus.CounterOpts{Name: "a_first_total", Help: "Sorts first."}),
		prometheus.NewCounter(prometheus.CounterOpts{Name: "zz_last_total", Help: "Sorts last."}))
	h := e.Handler(static, log.NewNopLogger())
	get := func(accept, encoding string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if encoding != "" {
			r.Header.Set("Accept-Encoding", encoding)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /metrics (Accept %q): %d %s", accept, rec.Code, rec.Body)
		}
		return rec
	}
	get("", "") // the cold scrape: answers cached
	text := get("", "")
	if ct := text.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	pb := get(`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3`, "")
	if ct := pb.Header().Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		t.Fatalf("Content-Type %q, want protobuf", ct)
	}
	dec := expfmt.NewDecoder(pb.Body, expfmt.ResponseFormat(pb.Header()))
	var fromPB bytes.Buffer
	for {
		mf := new(dto.MetricFamily)
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if _, err := expfmt.MetricFamilyToText(&fromPB, mf); err != nil {
			t.Fatal(err)
		}
	}
	got, want := durationLine.ReplaceAllString(text.Body.String(), "d"), durationLine.ReplaceAllString(fromPB.String(), "d")
	if got != want {
		t.Fatalf("streamed /metrics differs from the protobuf one:\n--- streamed\n%s\n--- protobuf\n%s", got, want)
	}
	if !strings.HasPrefix(got, "# HELP a_first_total") || !strings.HasSuffix(got, "zz_last_total 0\n") {
		t.Errorf("static families not merged in name order:\n%s", got)
	}

	gz := get("", "gzip")
	if ce := gz.Header().Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", ce)
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if durationLine.ReplaceAllString(string(unzipped), "d") != got {
		t.Errorf("gzipped /metrics differs from the plain one:\n%s", unzipped)
	}
	if ce := get("", "gzip;q=0, identity").Header().Get("Content-Encoding"); ce != "" {
		t.Errorf("gzip;q=0: Content-Encoding %q, want none", ce)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MSGRAPH_LRO_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool is not installed: apt-get install prometheus")
		}
		t.Skip("promtool not installed (apt-get install prometheus); set MSGRAPH_LRO_REQUIRE_PROMTOOL=1 to make this a failure")
	}
	for name, body := range map[string]string{"streamed": text.Body.String(), "protobuf as text": fromPB.String()} {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics, %s: %v\n%s", name, err, out)
		}
	}
}

// Concurrent streamed scrapes share the state, the info order and the
// scratch pool: each gets the whole page, the same as the others.
func TestConcurrentTextScrapes(t *testing.T) {
	e := untidyWatcher(t)
	h := e.Handler(nil, log.NewNopLogger())
	scrape := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return durationLine.ReplaceAllString(rec.Body.String(), "d")
	}
	want := scrape()
	if !strings.Contains(want, `msgraph_lro_up{app="b",name="",operation_id="same\"id",scope="industryData",tenant="zeta",zone="eu"} 1`) {
		t.Fatalf("first scrape lacks an operation:\n%s", want)
	}
	got := make(chan string, 20)
	for range 4 {
		go func() {
			for range 5 {
				got <- scrape()
			}
		}()
	}
	for range 20 {
		if g := <-got; g != want {
			t.Fatalf("a concurrent scrape differs:\n%s", lineDiffText(want, g))
		}
	}
}

// A label value that is not UTF-8 is client_golang's to refuse, as it
// always has: such a state is served through promhttp, which leaves that
// operation's series out and the others in.
func TestNotUTF8GoesThroughClientGolang(t *testing.T) {
	f := newFake()
	f.set(importRef("good"), running("good"))
	f.set(importRef("bad"), running("bad"))
	e := New(nil, func() time.Time { return fakeNow })
	e.Swap(Snapshot{Targets: []Target{
		{Tenant: "contoso", Ref: importRef("good"), Name: "fine", Source: SourceConfig},
		{Tenant: "contoso", Ref: importRef("bad"), Name: "bad\xff", Source: SourceConfig},
	}, Tenants: map[string]Tenant{"contoso": {Fetcher: f}}})
	if e.st.Load().text.ok {
		t.Fatal("a state with a label value that is not UTF-8 would be streamed")
	}
	rec := httptest.NewRecorder()
	e.Handler(nil, log.NewNopLogger()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `msgraph_lro_up{name="fine",operation_id="good",scope="industryData",tenant="contoso"} 1`) ||
		strings.Contains(body, `operation_id="bad"`) {
		t.Errorf("GET /metrics: %d\n%s", rec.Code, body)
	}
}

func lineDiffText(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

// The streaming writer merges the operation families with the gathered
// ones by name: famMeta must be in name order, and each desc its family's.
func TestFamiliesInNameOrder(t *testing.T) {
	d := newDescs(nil)
	for f := fam(0); f < numFams; f++ {
		if f > 0 && famMeta[f-1].name >= famMeta[f].name {
			t.Errorf("famMeta[%d] %s sorts before famMeta[%d] %s", f, famMeta[f].name, f-1, famMeta[f-1].name)
		}
		if desc := d.desc(f).String(); !strings.Contains(desc, `fqName: "`+famMeta[f].name+`"`) {
			t.Errorf("desc(%d) is %s, want %s", f, desc, famMeta[f].name)
		}
	}
}

// infoTestState is a state of n running operations, fetched, and their
// samples.
func infoTestState(t testing.TB, n int) (*state, []samples) {
	f := newFake()
	var targets []Target
	for i := range n {
		id := fmt.Sprintf("op-%05d", (i*37)%n)
		f.set(importRef(id), running(id))
		targets = append(targets, Target{Tenant: []string{"a", "b"}[i%2], Ref: importRef(id), Name: fmt.Sprintf("n%d", i%7), Source: SourceConfig})
	}
	e := New(nil, func() time.Time { return fakeNow })
	e.Swap(Snapshot{Targets: targets, Tenants: map[string]Tenant{"a": {Fetcher: f}, "b": {Fetcher: f}}})
	st := e.st.Load()
	res := e.fetch(context.Background(), st, st.targets, nil)
	vals := make([]samples, len(st.targets))
	for i := range st.targets {
		vals[i] = samplesOf(&st.targets[i], &res[i], fakeNow)
	}
	return st, vals
}

// BenchmarkInfoOrder10000: the order of 10,000 info series when 10
// operations' status_detail changed since the last scrape, placed again
// (what a warm scrape does) or sorted whole (what it did before).
func BenchmarkInfoOrder10000(b *testing.B) {
	for _, whole := range []bool{false, true} {
		b.Run(map[bool]string{false: "placed", true: "sorted"}[whole], func(b *testing.B) {
			st, vals := infoTestState(b, 10000)
			o := st.text
			o.infoOrderFor(st.targets, vals)
			n := 0
			for b.Loop() {
				for k := range 10 {
					i := (n*7919 + k*104729) % len(vals)
					vals[i].info = st.targets[i].labels.infoPairsFor("", strconv.Itoa(n), "", "", "running")
				}
				n++
				if whole {
					o.info.Store(nil)
				}
				o.infoOrderFor(st.targets, vals)
			}
		})
	}
}

// When a few operations' info labels change, infoOrderFor places only
// them again in the last order; the order is the one a full sort gives,
// whatever changed: one operation or many, an info series gained or lost.
func TestInfoOrderPlacesWhatChanged(t *testing.T) {
	st, vals := infoTestState(t, 400)
	o := st.text
	o.infoOrderFor(st.targets, vals)
	rng := rand.New(rand.NewPCG(1, 2))
	at := o.infoAt[:]
	for round, k := range []int{1, 2, 3, 25, 1, 400, 5, 24, 26, 1} {
		prev := o.info.Load()
		for _, i := range rng.Perm(len(vals))[:k] {
			switch rng.IntN(4) {
			case 0:
				vals[i].has &^= 1 << famInfo // no info series now
			default:
				vals[i].has |= 1 << famInfo
				vals[i].info = st.targets[i].labels.infoPairsFor("", strconv.Itoa(rng.IntN(50)), "", "", []string{"running", "failed"}[rng.IntN(2)])
			}
		}
		o.info.Store(nil)
		want := slices.Clone(o.infoOrderFor(st.targets, vals))
		o.info.Store(prev)
		got := o.infoOrderFor(st.targets, vals)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d, %d changed: infoOrderFor %v\nsorted %v", round, k, got, want)
		}
		// And reinsert itself, whichever way infoOrderFor went for k.
		var changed []int32
		pairs := make([]*infoPairs, len(vals))
		for i := range vals {
			if pairs[i] = vals[i].infoSeries(); pairs[i] != prev.pairs[i] {
				changed = append(changed, int32(i))
			}
		}
		placed := reinsert(prev, changed, pairs, func(a, b int32) int {
			ka, kb := pairs[a].sortedValues(), pairs[b].sortedValues()
			return cmpLabels(st.targets[a].labels.base, st.targets[b].labels.base, at, ka[:], kb[:])
		})
		if !slices.Equal(placed, want) {
			t.Fatalf("round %d, %d changed: reinsert %v\nsorted %v", round, k, placed, want)
		}
	}
	streamed, golang := bothEncoders(t, st, vals)
	if streamed != golang {
		t.Fatalf("streamed text differs from client_golang's:\n--- streamed\n%s\n--- client_golang\n%s", streamed, golang)
	}
}
