package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// BenchmarkScrapeAtScale runs the exporter binary against the simulated
// tenant with N operations and a Graph latency, and reports, for README's
// Performance table:
//
//   - cold_s: the first scrape, every operation fetched ($batch of 20,
//     max_concurrency 4), beside limit_s = ⌈N/20⌉ / 4 × latency, the Graph
//     window no exporter can beat;
//   - warm_ms: the median of 5 scrapes answered from the cache, gzipped
//     (Go's client asks for gzip, as Prometheus does) and read line by
//     line as they arrive, as Prometheus parses them (the cold scrape is
//     read the same way), and
//     warm_identity_ms of 5 that ask for no compression and discard the
//     body, beside floor_ms, the median of 5 GETs of the same bytes served
//     uncompressed from a pre-built buffer over loopback HTTP, discarded
//     the same way;
//   - cold_cpu_s: the CPU time the exporter spent on the cold scrape, and
//     sim_cpu_s what this process spent meanwhile (the simulated Graph
//     answering, and the client reading the scrape): on one 2-core machine
//     the two share the cores, and at low latency the cold scrape is
//     bound by their sum rather than by the Graph window;
//   - sim_late_ms: how late, on average, the simulated Graph's answers left
//     after their answer time in the cold scrape (graphtest's
//     AnswerLateness): a figure measured against a late Graph is not the
//     exporter's; cold/kept_limit is the cold scrape against the limit at
//     the answer time the simulated Graph kept (latency + sim_late);
//   - peak_rss_MiB: the exporter's peak resident set (VmHWM), no GOMEMLIMIT.
//
// BENCH_SCALE picks the cases (operations/latency, comma-separated; default
// 10000/50ms,10000/5ms,50000/5ms). BENCH_BASELINE_BIN names another build
// of the exporter (make bench-scale BASELINE=<rev> builds one) measured in
// the same run, its figures prefixed base_.
func BenchmarkScrapeAtScale(b *testing.B) {
	cases := os.Getenv("BENCH_SCALE")
	if cases == "" {
		cases = "10000/50ms,10000/5ms,50000/5ms"
	}
	for _, c := range strings.Split(cases, ",") {
		ns, ls, _ := strings.Cut(strings.TrimSpace(c), "/")
		n, err := strconv.Atoi(ns)
		if err != nil {
			b.Fatalf("BENCH_SCALE %q: %v", c, err)
		}
		lat, err := time.ParseDuration(ls)
		if err != nil {
			b.Fatalf("BENCH_SCALE %q: %v", c, err)
		}
		b.Run(fmt.Sprintf("ops=%d/latency=%s", n, lat), func(b *testing.B) {
			tn, cfg := scaleTenant(b, n, lat)
			rounds := math.Ceil(float64(n)/20) / 4
			limit := rounds * lat.Seconds()
			for i := 0; i < b.N; i++ {
				m := measureScale(b, binary(b), tn, cfg, n)
				report(b, "", m, limit, rounds*(lat+m.simLate).Seconds())
				if base := os.Getenv("BENCH_BASELINE_BIN"); base != "" {
					mb := measureScale(b, base, tn, cfg, n)
					report(b, "base_", mb, limit, rounds*(lat+mb.simLate).Seconds())
				}
			}
		})
	}
}

type scaleFigures struct {
	cold, warm, warmIdentity, floor time.Duration
	coldCPU, simCPU                 time.Duration
	simLate                         time.Duration // the simulated Graph's answers' mean lateness in the cold scrape
	peakMiB                         float64
}

func report(b *testing.B, prefix string, m scaleFigures, limit, kept float64) {
	b.ReportMetric(m.cold.Seconds(), prefix+"cold_s")
	b.ReportMetric(m.cold.Seconds()/limit, prefix+"cold/limit")
	b.ReportMetric(m.cold.Seconds()/kept, prefix+"cold/kept_limit")
	b.ReportMetric(m.coldCPU.Seconds(), prefix+"cold_cpu_s")
	b.ReportMetric(m.simCPU.Seconds(), prefix+"sim_cpu_s")
	b.ReportMetric(float64(m.simLate.Microseconds())/1000, prefix+"sim_late_ms")
	b.ReportMetric(float64(m.warm.Microseconds())/1000, prefix+"warm_ms")
	b.ReportMetric(float64(m.warmIdentity.Microseconds())/1000, prefix+"warm_identity_ms")
	b.ReportMetric(float64(m.floor.Microseconds())/1000, prefix+"floor_ms")
	b.ReportMetric(m.peakMiB, prefix+"peak_rss_MiB")
	if prefix == "" {
		b.ReportMetric(limit, "limit_s")
	}
}

// scaleTenant is a simulated tenant holding n industry-data operations
// that answers each Graph request lat after it arrived (its own work
// included), and a config watching them.
func scaleTenant(b *testing.B, n int, lat time.Duration) (*graphtest.Tenant, string) {
	tn := graphtest.NewTenant(b)
	var ops strings.Builder
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%08d-18c9-47a1-0fb1-08dad8e7a876", i)
		tn.SetOperation(graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}.URLPath(), map[string]any{
			"id": id, "status": "running", "statusDetail": "", "resourceLocation": "",
			"createdDateTime": "2023-06-09T22:50:41.5414467Z", "lastActionDateTime": "2023-06-09T22:52:09.0296021Z"})
		fmt.Fprintf(&ops, "  - {tenant: contoso, scope: industryData, id: %s, name: import-%d, labels: {team: t%d}}\n", id, i, i%10)
	}
	// The answer time, not SetLatency: Graph's latency includes its own
	// work, which the simulated tenant does on this machine's 2 cores.
	tn.SetAnswerTime(lat)
	dir := b.TempDir()
	secret := writeFile(b, dir, "secret", tn.ClientSecret, 0o600)
	cfg := writeFile(b, dir, "msgraph_lro.yml", fmt.Sprintf("global:\n  cache_ttl: 1h\n  max_operations: %d\n", n)+
		tenantConfig(tn, secret, ops.String()), 0o644)
	return tn, cfg
}

// measureScale runs one fresh exporter of bin and measures it.
func measureScale(b *testing.B, bin string, tn *graphtest.Tenant, cfg string, n int) scaleFigures {
	b.StopTimer()
	defer b.StartTimer()
	x := startBinary(b, bin, []string{"SSL_CERT_FILE=" + tn.CAFile}, "--config.file="+cfg)
	var m scaleFigures
	scrape := func(phase string) time.Duration {
		t0 := time.Now()
		code, up, down := scanGET(b, x.url+"/metrics")
		d := time.Since(t0)
		if code != 200 || up != n || down != 0 {
			b.Fatalf("%s scrape of %s: %d, %d of %d operations up, %d down", phase, bin, code, up, n, down)
		}
		return d
	}
	cpu0, own0 := procCPU(b, x.cmd.Process.Pid), procCPU(b, os.Getpid())
	n0, late0 := tn.AnswerLateness()
	m.cold = scrape("cold")
	m.coldCPU, m.simCPU = procCPU(b, x.cmd.Process.Pid)-cpu0, procCPU(b, os.Getpid())-own0
	if n1, late1 := tn.AnswerLateness(); n1 > n0 {
		m.simLate = (late1 - late0) / time.Duration(n1-n0)
	}
	var warm []time.Duration
	for range 5 {
		warm = append(warm, scrape("warm"))
	}
	m.warm = median(warm)
	warm = warm[:0]
	for range 5 {
		warm = append(warm, discardGET(b, x.url+"/metrics"))
	}
	m.warmIdentity = median(warm)
	_, m.peakMiB = procMiB(b, x.cmd.Process.Pid)
	code, body := x.get(b, "/metrics", "Accept-Encoding", "identity")
	if up := strings.Count(body, "\nmsgraph_lro_up{"); code != 200 || up != n {
		b.Fatalf("the floor's scrape of %s: %d, %d of %d operations", bin, code, up, n)
	}
	m.floor = floor(b, []byte(body))
	return m
}

// scanGET asks for url as Prometheus does (gzip, a scrape timeout) and
// reads the answer line by line as it arrives, as Prometheus parses it,
// counting the msgraph_lro_up samples of 1 and of anything else. It keeps
// no copy of the body: the bench measures the exporter, not the client's
// allocation of a 17 MB string.
func scanGET(b *testing.B, url string) (code, up, down int) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "300")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("msgraph_lro_up{")) {
			continue
		}
		if bytes.HasSuffix(line, []byte("} 1")) {
			up++
		} else {
			down++
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, up, down
}

// discardGET times one GET of url without compression whose body the
// client discards, as floor's GETs do.
func discardGET(b *testing.B, url string) time.Duration {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "300")
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return time.Since(t0)
}

// floor serves body from a pre-built buffer over loopback HTTP, as
// /metrics would with no work at all, and times the median of 5 GETs.
func floor(b *testing.B, body []byte) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	var ds []time.Duration
	for range 5 {
		t0 := time.Now()
		resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ds = append(ds, time.Since(t0))
	}
	return median(ds)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
