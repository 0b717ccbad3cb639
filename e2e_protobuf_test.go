//go:build e2e

// The exporter scraped by two real Prometheus servers at once: one that
// asks for the text format, and one with native histograms on, which asks
// for protobuf (Prometheus 2.40 and later). Both must store the same
// series, so that the text and protobuf encoders cannot drift apart.
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// formatRecorder forwards scrapes to the exporter and records what each
// asked for (Accept) and got (Content-Type).
type formatRecorder struct {
	mu    sync.Mutex
	seen  []string // "Accept -> Content-Type"
	proxy *httputil.ReverseProxy
}

func newFormatRecorder(t *testing.T, target string) *formatRecorder {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &formatRecorder{proxy: httputil.NewSingleHostReverseProxy(u)}
	r.proxy.ModifyResponse = func(resp *http.Response) error {
		r.mu.Lock()
		r.seen = append(r.seen, resp.Request.Header.Get("Accept")+" -> "+resp.Header.Get("Content-Type"))
		r.mu.Unlock()
		return nil
	}
	return r
}

func (r *formatRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.proxy.ServeHTTP(w, req)
}

func (r *formatRecorder) contentTypes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.seen {
		_, ct, _ := strings.Cut(s, " -> ")
		if !slices.Contains(out, ct) {
			out = append(out, ct)
		}
	}
	return out
}

func TestE2EProtobufScrape(t *testing.T) {
	promBin := lookPath(t, "prometheus")
	x := start(t, nil, "--demo")

	type scraper struct {
		name     string
		features []string
		want     string // Content-Type prefix the exporter must answer with
		rec      *formatRecorder
		api      promAPI
	}
	scrapers := []*scraper{
		{name: "text", want: "text/plain; version=0.0.4"},
		{name: "protobuf", features: []string{"--enable-feature=native-histograms"}, want: "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"},
	}
	for _, s := range scrapers {
		s.rec = newFormatRecorder(t, x.url)
		srv := &http.Server{Handler: s.rec, ReadHeaderTimeout: 5 * time.Second}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
		dir := t.TempDir()
		cfg := writeFile(t, dir, "prometheus.yml", fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: msgraph_lro
    static_configs:
      - targets: ['%s']
`, ln.Addr().String()), 0o644)
		prom := startServer(t, "prometheus-"+s.name, promBin, func(port int) []string {
			return append([]string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
				fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)}, s.features...)
		})
		s.api = promAPI{base: "http://" + prom.addr}
	}

	// series is what one Prometheus stored of the exporter's own metrics:
	// each series' labels without job and instance, sorted, and the
	// created timestamps' values (which do not change).
	series := func(api promAPI) (string, error) {
		samples, err := api.query(`{__name__=~"msgraph_lro_.+"}`)
		if err != nil {
			return "", err
		}
		var lines []string
		for _, s := range samples {
			var ls []string
			for k, v := range s.Metric {
				if k == "le" {
					// Prometheus before 3.0 stores a protobuf bucket
					// bound as Go formats the float ("1.0"), a text
					// one as written ("1"): the same bound.
					if f, err := strconv.ParseFloat(v, 64); err == nil {
						v = strconv.FormatFloat(f, 'g', -1, 64)
					}
				}
				if k != "job" && k != "instance" {
					ls = append(ls, fmt.Sprintf("%s=%q", k, v))
				}
			}
			sort.Strings(ls)
			line := strings.Join(ls, ",")
			if s.Metric["__name__"] == "msgraph_lro_created_timestamp_seconds" {
				line += fmt.Sprintf(" %v", s.value())
			}
			lines = append(lines, line)
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n"), nil
	}
	var text, proto string
	eventually(t, "both Prometheus servers store the same series", 30*time.Second, func() (bool, string) {
		var err error
		if text, err = series(scrapers[0].api); err != nil {
			return false, err.Error()
		}
		if proto, err = series(scrapers[1].api); err != nil {
			return false, err.Error()
		}
		n := strings.Count(text, "\n")
		return n > 50 && text == proto, fmt.Sprintf("%d series by text, %d by protobuf; only by text:\n%s\nonly by protobuf:\n%s",
			n+1, strings.Count(proto, "\n")+1, onlyIn(text, proto), onlyIn(proto, text))
	})
	for _, name := range []string{"msgraph_lro_status", "msgraph_lro_up", "msgraph_lro_graph_request_duration_seconds_bucket", "msgraph_lro_exporter_build_info"} {
		if !strings.Contains(text, `__name__="`+name+`"`) {
			t.Errorf("no %s among the series", name)
		}
	}
	for _, s := range scrapers {
		got := s.rec.contentTypes()
		if len(got) != 1 || !strings.HasPrefix(got[0], s.want) {
			t.Errorf("%s scrapes were answered as %q, want %q", s.name, got, s.want)
		}
	}
}

// onlyIn lists the lines of a that b lacks.
func onlyIn(a, b string) string {
	have := map[string]bool{}
	for _, l := range strings.Split(b, "\n") {
		have[l] = true
	}
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !have[l] {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
