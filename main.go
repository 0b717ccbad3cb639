// Command msgraph_lro_exporter exports the health of Microsoft Graph
// long-running operations as Prometheus metrics.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/msgraph-lro/msgraph_lro_exporter/clients"
	"github.com/msgraph-lro/msgraph_lro_exporter/collector"
	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

const program = "msgraph_lro_exporter"

func main() {
	fillVersion(debug.ReadBuildInfo())
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, so that tests can call it.
func run(args []string, stdout, stderr *os.File) int {
	app := kingpin.New(program, "Prometheus exporter for the health of Microsoft Graph long-running operations.")
	var (
		configFile    = app.Flag("config.file", "Exporter configuration file.").Default("msgraph_lro.yml").String()
		configCheck   = app.Flag("config.check", "Validate the configuration file and exit (0 if valid). Contacts nothing.").Bool()
		telemetryPath = app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		logLevel      = app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").Enum("debug", "info", "warn", "error")
		logFormat     = app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").Enum("logfmt", "json")
		demo          = app.Flag("demo", "Serve metrics from a built-in simulated tenant; no configuration file or credentials needed.").Bool()
		lifecycle     = app.Flag("web.enable-lifecycle", "Enable POST /-/reload (SIGHUP always reloads).").Bool()
		shardIndex    = app.Flag("shard", "This replica's shard, from 0: it watches the configured and discovered operations whose key hashes to it (as kube-state-metrics).").Default("0").Int()
		totalShards   = app.Flag("total-shards", "How many replicas share the operations of one config, each with its own --shard.").Default("1").Int()
		idleTimeout   = app.Flag("web.idle-timeout", "How long an idle keep-alive connection is kept open (longer than the scrape interval, so that scrapes reuse it).").Default("2m").Duration()
		webFlags      = kingpinflag.AddFlags(app, ":10071")

		_        = app.Command("serve", "Run the exporter (the default command).").Default()
		loginCmd = app.Command("login", "Sign an account in for a tenant's delegated credential (password-reset operations) and write its token cache file.")
		loginTen = loginCmd.Flag("tenant", "The tenant (its name in the config) to sign in for.").Required().String()
		loginDC  = loginCmd.Flag("device-code", "Sign in by device code (a code to enter at a URL, on any device) instead of a browser on this machine.").Bool()
	)
	app.Version(version.Print(program))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", program, err)
		return 2
	}
	shard := collector.Shard{Index: *shardIndex, Total: *totalShards}
	if err := shard.Validate(); err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", program, err)
		return 2
	}
	if cmd == loginCmd.FullCommand() {
		return login(*configFile, *loginTen, *loginDC, stdout, stderr)
	}

	logger, slogger := newLoggers(stderr, *logLevel, *logFormat)

	if *configCheck {
		cfg, err := config.Load(*configFile)
		var cs map[string]*graph.Client
		if err == nil {
			cs, err = clients.New(cfg, nil, graph.NewMetrics(), log.NewNopLogger())
		}
		if f := *webFlags.WebConfigFile; err == nil && f != "" {
			if err = web.Validate(f); err != nil {
				err = fmt.Errorf("--web.config.file %s: %w", f, err)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %s\n", program, err)
			return 1
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		problems := clients.SignInProblems(cs)
		for _, tenant := range sortedKeys(problems) {
			fmt.Fprintf(stderr, "warning: tenant %q: %s\n", tenant, problems[tenant])
		}
		fmt.Fprintf(stdout, "%s: OK: %d tenants, %d operations, %d discovery jobs\n", *configFile, len(cfg.Tenants), len(cfg.Operations), len(cfg.Discovery))
		if f := *webFlags.WebConfigFile; f != "" {
			fmt.Fprintf(stdout, "%s: OK\n", f)
		}
		return 0
	}

	level.Info(logger).Log("msg", "starting "+program, "version", version.Info(), "build_context", version.BuildContext())

	sv, err := newServer(serverOptions{
		configFile: *configFile, telemetryPath: *telemetryPath, demo: *demo, lifecycle: *lifecycle,
		shard: shard, logger: logger, now: time.Now,
	})
	if err != nil {
		return 1
	}
	defer sv.Close()
	reloader := sv.reloader

	// Before the first load: a SIGHUP during start-up must not kill us.
	// Two channels: the signal package drops what a full channel cannot
	// take, and a burst of SIGHUPs must not crowd out the SIGTERM after it
	// (extra SIGHUPs may go: they fold into one reload anyway).
	hups, stops := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	signal.Notify(stops, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(hups)
	defer signal.Stop(stops)

	if err := reloader.reload(); err != nil {
		level.Error(logger).Log("msg", "cannot load configuration", "file", *configFile, "err", err)
		return 1
	}
	// The first scrape's TLS handshakes, with Graph and the identity
	// platform, verify against the system's roots, which Go reads and
	// parses on first use (about 15 ms of CPU for Debian's bundle): read
	// them now, before a scrape waits for them.
	if !*demo { // the demo's tenant has its own CA
		go func() { _, _ = x509.SystemCertPool() }()
	}

	// A scrape or a reload sends no body: ReadTimeout bounds a slow
	// client; IdleTimeout closes keep-alive connections nobody uses, which
	// anyone who can connect could otherwise pin, one goroutine each. No
	// WriteTimeout: a scrape may take up to its own timeout.
	srv := &http.Server{Handler: sv.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: *idleTimeout, MaxHeaderBytes: 64 << 10}
	// Reloads run apart from the signal loop, so that SIGTERM is read
	// whatever a reload is doing; SIGHUPs that come during one are folded
	// into one more.
	reloads := make(chan struct{}, 1)
	go func() {
		for range reloads {
			_ = reloader.reload()
		}
	}()
	// Serve returns as soon as Shutdown begins; the scrapes in flight end
	// when Shutdown returns, and main must not exit before.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-hups:
				select {
				case reloads <- struct{}{}:
				default: // one is pending already
				}
			case sig := <-stops:
				level.Info(logger).Log("msg", "shutting down", "signal", sig)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				_ = srv.Shutdown(ctx)
				cancel()
				return
			}
		}
	}()
	if err := web.ListenAndServe(srv, webFlags, slogger); err != nil && !errors.Is(err, http.ErrServerClosed) {
		level.Error(logger).Log("msg", "HTTP server failed", "err", err)
		return 1
	}
	<-stopped
	return 0
}

// serverOptions are what newServer needs of the command line.
type serverOptions struct {
	configFile, telemetryPath string
	demo, lifecycle           bool
	shard                     collector.Shard
	logger                    log.Logger
	// now is the clock of the exporter, the demo tenant and the reload
	// gauges: time.Now, but for the golden file's test.
	now func() time.Time
}

// exporterServer is the exporter's routes and what they serve, before the
// first configuration load.
type exporterServer struct {
	mux      *http.ServeMux
	reloader *reloader
	closers  []func()
}

// Close stops the discovery jobs and the demo tenant.
func (s *exporterServer) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// newServer builds the exporter and its routes; it loads no configuration
// (the caller's first reload does). Its errors are logged.
func newServer(o serverOptions) (*exporterServer, error) {
	logger := o.logger
	metrics := graph.NewMetrics()
	exp := collector.New(logger, o.now)
	exp.SetShard(o.shard)
	sv := &exporterServer{}
	var (
		hc   *http.Client
		load = func() (*config.Config, error) { return config.Load(o.configFile) }
	)
	if o.demo {
		d, err := startDemo(logger, o.now)
		if err != nil {
			level.Error(logger).Log("msg", "cannot start the demo tenant", "err", err)
			return nil, err
		}
		sv.closers = append(sv.closers, d.Close)
		hc = d.HTTPClient()
		load = d.Config
	}
	sv.closers = append(sv.closers, exp.Close) // discovery jobs
	reloader := newReloader(load, exp, hc, metrics, logger)
	reloader.now = o.now
	sv.reloader = reloader

	static := prometheus.NewRegistry()
	static.MustRegister(
		metrics,
		reloader,
		versioncollector.NewCollector(program),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	mux := http.NewServeMux()
	mux.Handle(o.telemetryPath, exp.Handler(static, logger))
	mux.Handle("/probe", exp.ProbeHandler(logger))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy.") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Ready.") })
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "This endpoint requires a POST request.", http.StatusMethodNotAllowed)
			return
		}
		// A reload reads every secret file and may replace clients: not for anyone who reaches the port.
		if !o.lifecycle {
			http.Error(w, "Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle, or send it SIGHUP.", http.StatusForbidden)
			return
		}
		if err := reloader.reload(); err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded.")
	})
	if o.telemetryPath != "/" {
		mux.Handle("/", landingPage(reloader.current, o.telemetryPath, o.demo, o.shard))
	}
	sv.mux = mux
	return sv, nil
}

// newLoggers makes the project's go-kit logger and, for exporter-toolkit,
// a slog.Logger that writes through it.
func newLoggers(w *os.File, lvl, format string) (log.Logger, *slog.Logger) {
	var l log.Logger
	if format == "json" {
		l = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		l = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	var opt level.Option
	sl := slog.LevelInfo
	switch lvl {
	case "debug":
		opt, sl = level.AllowDebug(), slog.LevelDebug
	case "warn":
		opt, sl = level.AllowWarn(), slog.LevelWarn
	case "error":
		opt, sl = level.AllowError(), slog.LevelError
	default:
		opt = level.AllowInfo()
	}
	base := level.NewFilter(l, opt)
	// slog records carry their own time and caller; the bridge writes them
	// under the keys go-kit's lines have.
	return log.With(base, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller), slog.New(newSlogBridge(base, sl))
}

// reloader loads the config, builds its Graph clients, and only then hands
// it to the exporter: a bad config changes nothing.
type reloader struct {
	mu      sync.Mutex
	loaded  bool // a configuration is in use
	cfg     *config.Config
	clients map[string]*graph.Client // cfg's
	load    func() (*config.Config, error)
	exp     *collector.Watcher
	hc      *http.Client
	metrics *graph.Metrics
	logger  log.Logger
	now     func() time.Time

	success, successTime prometheus.Gauge
}

func newReloader(load func() (*config.Config, error), exp *collector.Watcher, hc *http.Client, m *graph.Metrics, logger log.Logger) *reloader {
	return &reloader{
		load: load, exp: exp, hc: hc, metrics: m, logger: logger, now: time.Now,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "msgraph_lro_config_last_reload_successful",
			Help: "1 if the latest configuration load succeeded, 0 if it was refused (the previous configuration stays in use).",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "msgraph_lro_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully, in Unix seconds.",
		}),
	}
}

func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer lowPeak()()
	err := r.apply()
	if err != nil {
		r.success.Set(0)
		if r.loaded { // at start, run logs "cannot load configuration" and exits
			level.Error(r.logger).Log("msg", "configuration refused; the previous one stays in use", "err", err)
		}
		return err
	}
	r.loaded = true
	r.success.Set(1)
	r.successTime.Set(float64(r.now().UnixNano()) / 1e9) // as SetToCurrentTime, on r's clock
	return nil
}

// loadGCPercent is the GC target while a configuration loads.
const loadGCPercent = 20

// lowPeak collects garbage more often until the function it returns is
// called, then gives the heap's free pages back to the OS. A load's garbage
// is yaml's node tree of the whole file, about 2 KiB an operation and dead
// once the collector has its snapshot: collected as it grows, the heap
// peaks near what is live rather than twice it (GOGC=100), which is what
// sets the resident set of a large config. A lower GOGC of the user's own
// (or GOGC=off) is left alone.
func lowPeak() (restore func()) {
	old := debug.SetGCPercent(loadGCPercent)
	if old < loadGCPercent { // GOGC=off is -1
		debug.SetGCPercent(old)
		return func() {}
	}
	return func() {
		debug.SetGCPercent(old)
		debug.FreeOSMemory()
	}
}

func (r *reloader) apply() error {
	cfg, err := r.load()
	if err != nil {
		return err
	}
	// Tenants whose credentials, endpoints and client settings did not
	// change keep their client, with MSAL's token cache: a reload costs no
	// token. The idle connections of the clients replaced are closed.
	cs, replaced, err := clients.Reuse(cfg, r.cfg, r.clients, r.hc, r.metrics, r.logger)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range replaced {
			c.CloseIdleConnections()
		}
	}()
	for _, w := range cfg.Warnings {
		level.Warn(r.logger).Log("msg", "configuration", "warning", w)
	}
	problems := clients.SignInProblems(cs)
	for _, tenant := range sortedKeys(problems) {
		level.Error(r.logger).Log("msg", "delegated sign-in unusable; this tenant's password-reset operations show up 0 until it is fixed, everything else is served", "tenant", tenant, "err", problems[tenant])
	}
	r.exp.Swap(snapshotOf(cfg, cs))
	r.metrics.SetCredentialExpiry(cs)
	level.Info(r.logger).Log("msg", "configuration loaded", "tenants", len(cfg.Tenants), "operations", len(cfg.Operations))
	// The collector has the operations now: of them, keep only the landing
	// page's /probe examples, not every entry a second time.
	kept := *cfg
	kept.Operations = probeOperations(cfg.Operations)
	r.cfg, r.clients = &kept, cs
	return nil
}

// current is the configuration in use, nil before the first load.
func (r *reloader) current() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// Describe implements prometheus.Collector.
func (r *reloader) Describe(ch chan<- *prometheus.Desc) {
	r.success.Describe(ch)
	r.successTime.Describe(ch)
}

// Collect implements prometheus.Collector.
func (r *reloader) Collect(ch chan<- prometheus.Metric) {
	r.success.Collect(ch)
	r.successTime.Collect(ch)
}
