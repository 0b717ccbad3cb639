package collector

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultScrapeTimeout is assumed when a scrape does not say its timeout
// (X-Prometheus-Scrape-Timeout-Seconds): Prometheus' own default.
const DefaultScrapeTimeout = 10 * time.Second

// ScrapeDeadline is how long a scrape with the given timeout may spend
// asking Graph: the timeout less a margin to write the answer, a quarter of
// it and at most half a second.
func ScrapeDeadline(timeout time.Duration) time.Duration {
	margin := timeout / 4
	if margin > 500*time.Millisecond {
		margin = 500 * time.Millisecond
	}
	return timeout - margin
}

// ScrapeTimeout reads Prometheus' X-Prometheus-Scrape-Timeout-Seconds.
func ScrapeTimeout(r *http.Request) time.Duration {
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < 3600 {
			return time.Duration(f * float64(time.Second))
		}
	}
	return DefaultScrapeTimeout
}

// Handler serves /metrics: the exporter's operations, collected under the
// scrape's deadline, together with whatever static holds (Graph and token
// counters, build info, Go runtime). In the text format the operation
// series are streamed (text.go); in protobuf, through client_golang.
func (e *Watcher) Handler(static prometheus.Gatherer, logger log.Logger) http.Handler {
	errLog := promhttpLogger{logger}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := textFormat(r); ok && e.serveText(w, r, f, errLog, static, ScrapeDeadline(ScrapeTimeout(r))) {
			return
		}
		serveScrape(w, r, errLog, e.Collector, static)
	})
}

// serveScrape answers one scrape: the collector, bound to the scrape's
// deadline, in a registry of its own, then whatever static holds.
func serveScrape(w http.ResponseWriter, r *http.Request, errLog promhttp.Logger,
	collector func(context.Context) prometheus.Collector, static prometheus.Gatherer) {
	ctx, cancel := context.WithTimeout(r.Context(), ScrapeDeadline(ScrapeTimeout(r)))
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector(ctx))
	// The collector first: collecting it is what moves the Graph and token
	// counters in static, which must show this scrape's requests.
	gatherers := prometheus.Gatherers{reg}
	if static != nil {
		gatherers = append(gatherers, static)
	}
	promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:      errLog,
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
}

type promhttpLogger struct{ l log.Logger }

func (p promhttpLogger) Println(v ...any) { level.Error(p.l).Log("msg", "serving metrics", "err", v) }
