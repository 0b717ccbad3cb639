package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/common/version"

	"github.com/msgraph-lro/msgraph_lro_exporter/collector"
)

var update = flag.Bool("update", false, "rewrite testdata/demo.metrics from what --demo serves")

// demoClock is the golden file's fixed clock.
var demoClock = time.Date(2026, time.June, 1, 12, 0, 0, 0, time.UTC)

// The golden file's filter: what a run cannot repeat byte for byte, and
// nothing else.
var goldenFilter = []struct {
	re   *regexp.Regexp
	with string
}{
	// The Go runtime's and the process's metrics: not the exporter's.
	{regexp.MustCompile(`(?m)^(# (HELP|TYPE) )?(go|process)_.*\n`), ""},
	// How long Graph took (the simulated tenant, in this process): the
	// histogram's count stays, its buckets and sum go.
	{regexp.MustCompile(`(?m)^msgraph_lro_graph_request_duration_seconds_(bucket|sum)\{.*\n`), ""},
	// How long the collection took.
	{regexp.MustCompile(`(?m)^(msgraph_lro_scrape_duration_seconds) .*$`), "$1 <duration>"},
	// The build tags of the test binary (go test -race, -tags e2e).
	{regexp.MustCompile(`tags="[^"]*"`), `tags="<tags>"`},
	// The simulated tenant listens on a port of its own each run.
	{regexp.MustCompile(`https://127\.0\.0\.1:\d+`), "https://127.0.0.1:<port>"},
}

// The whole /metrics of --demo at a fixed clock, compared byte for byte
// with testdata/demo.metrics (node_exporter's e2e-output): any change to a
// name, a HELP text, a label or a value shows as one diff. go test -run
// TestDemoGolden -update . rewrites it.
func TestDemoGolden(t *testing.T) {
	saved := [...]string{version.Version, version.Revision, version.Branch, version.GoVersion, version.GoOS, version.GoArch}
	version.Version, version.Revision, version.Branch = "0.0.0-golden", "0123456789abcdef0123456789abcdef01234567", "main"
	version.GoVersion, version.GoOS, version.GoArch = "go1.26", "linux", "amd64"
	t.Cleanup(func() {
		version.Version, version.Revision, version.Branch, version.GoVersion, version.GoOS, version.GoArch = saved[0], saved[1], saved[2], saved[3], saved[4], saved[5]
	})
	sv, err := newServer(serverOptions{telemetryPath: "/metrics", demo: true, shard: collector.Shard{Index: 0, Total: 1},
		logger: log.NewNopLogger(), now: func() time.Time { return demoClock }})
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Close()
	if err := sv.reloader.reload(); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	sv.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	got := rec.Body.Bytes()
	for _, f := range goldenFilter {
		got = f.re.ReplaceAll(got, []byte(f.with))
	}
	path := filepath.Join("testdata", "demo.metrics")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestDemoGolden -update . writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("/metrics of --demo differs from %s (go test -run TestDemoGolden -update . rewrites it):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines only want has (-) and only got has (+), in order.
func lineDiff(want, got string) string {
	w, g := strings.SplitAfter(want, "\n"), strings.SplitAfter(got, "\n")
	inW, inG := map[string]int{}, map[string]int{}
	for _, l := range w {
		inW[l]++
	}
	for _, l := range g {
		inG[l]++
	}
	var b strings.Builder
	for _, l := range w {
		if inG[l] == 0 {
			b.WriteString("- " + l)
		}
	}
	for _, l := range g {
		if inW[l] == 0 {
			b.WriteString("+ " + l)
		}
	}
	return b.String()
}
