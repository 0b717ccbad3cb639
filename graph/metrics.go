package graph

import "github.com/prometheus/client_golang/prometheus"

// Metrics is the exporter's own view of Graph and the identity platform.
// One Metrics is shared by every tenant's client and survives config reloads,
// so counters never go back.
type Metrics struct {
	Requests  *prometheus.CounterVec
	Fetched   *prometheus.CounterVec
	Duration  *prometheus.HistogramVec
	Throttled *prometheus.CounterVec
	// ThrottledUntil is when Graph lets each tenant be asked again.
	ThrottledUntil *prometheus.GaugeVec
	TokenRequests  *prometheus.CounterVec
	SignIn         *prometheus.GaugeVec
	// CredentialExpiry is set by SetCredentialExpiry, from the clients in use.
	CredentialExpiry *prometheus.GaugeVec
}

// NewMetrics creates the metric vectors; register the result as a collector.
func NewMetrics() *Metrics {
	return &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "msgraph_lro_graph_requests_total",
			Help: "HTTP requests sent to Microsoft Graph, by tenant and HTTP status code (\"error\" when no answer came: timeout, connection failure). A $batch request counts once.",
		}, []string{"tenant", "code"}),
		Fetched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "msgraph_lro_graph_operations_fetched_total",
			Help: "Operations Microsoft Graph answered for, by tenant, one per operation whether alone or inside a $batch: divided by msgraph_lro_graph_requests_total it shows how much batching saves.",
		}, []string{"tenant"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "msgraph_lro_graph_request_duration_seconds",
			Help:    "Time Microsoft Graph took to answer one HTTP request, by tenant.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"tenant"}),
		Throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "msgraph_lro_graph_throttled_total",
			Help: "Answers of 429 Too Many Requests, or 503 with Retry-After, from Microsoft Graph, by tenant (inner $batch answers included). While throttled, affected operations are not asked for again before Retry-After runs out: every operation of the tenant when Graph's x-ms-throttle-scope is Tenant_Application, Tenant or Application, or a whole $batch was throttled.",
		}, []string{"tenant"}),
		ThrottledUntil: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "msgraph_lro_graph_throttled_until_timestamp_seconds",
			Help: "When Microsoft Graph lets the tenant be asked again after throttling it as a whole (x-ms-throttle-scope Tenant_Application, Tenant or Application, or a 429 for a whole $batch), in Unix seconds; 0 if it never did. No request of the tenant goes out before.",
		}, []string{"tenant"}),
		TokenRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "msgraph_lro_token_requests_total",
			Help: "Token requests sent to the identity platform (tokens served from the cache, and callers answered from a remembered failure, are not counted), by tenant and result: success; interaction_required (a delegated sign-in expired, was revoked, or now needs MFA or consent: run `msgraph_lro_exporter login` again); unreachable (no answer came: DNS, connect, TLS, proxy); error (any other failure, the platform's answer).",
		}, []string{"tenant", "result"}),
		SignIn: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "msgraph_lro_delegated_sign_in_valid",
			Help: "1 while the tenant's delegated sign-in (used for password-reset operations) gives tokens; 0 when it is missing, expired or revoked, or needs interaction, and `msgraph_lro_exporter login --tenant=TENANT` must be run again. Only tenants with a delegated credential have it.",
		}, []string{"tenant"}),
		CredentialExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "msgraph_lro_credential_expiry_timestamp_seconds",
			Help: "When the tenant's credential expires, in Unix seconds: a client certificate's NotAfter. Absent for credentials whose expiry the exporter cannot see (client secrets: see the app registration).",
		}, []string{"tenant"}),
	}
}

// SetCredentialExpiry shows the expiry of the credentials of clients, the
// Graph clients of the configuration in use, and of no other: a tenant
// removed, or given another kind of credential, loses its series.
func (m *Metrics) SetCredentialExpiry(clients map[string]*Client) {
	m.CredentialExpiry.Reset()
	for name, c := range clients {
		if t, ok := c.CredentialExpiry(); ok {
			m.CredentialExpiry.WithLabelValues(name).Set(float64(t.Unix()))
		}
	}
}

// InitTenant creates the series a tenant's alerts rely on at zero, so that
// increase() sees the first error.
func (m *Metrics) InitTenant(tenant string) {
	m.Throttled.WithLabelValues(tenant)
	m.ThrottledUntil.WithLabelValues(tenant)
	m.Fetched.WithLabelValues(tenant)
	m.TokenRequests.WithLabelValues(tenant, "success")
	m.TokenRequests.WithLabelValues(tenant, "error")
	m.TokenRequests.WithLabelValues(tenant, ResultUnreachable)
}

// InitDelegated creates the series of a tenant's delegated sign-in.
func (m *Metrics) InitDelegated(tenant string) {
	m.InitTenant(tenant)
	m.TokenRequests.WithLabelValues(tenant, ResultInteractionRequired)
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.Requests.Describe(ch)
	m.Fetched.Describe(ch)
	m.Duration.Describe(ch)
	m.Throttled.Describe(ch)
	m.ThrottledUntil.Describe(ch)
	m.TokenRequests.Describe(ch)
	m.SignIn.Describe(ch)
	m.CredentialExpiry.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.Requests.Collect(ch)
	m.Fetched.Collect(ch)
	m.Duration.Collect(ch)
	m.Throttled.Collect(ch)
	m.ThrottledUntil.Collect(ch)
	m.TokenRequests.Collect(ch)
	m.SignIn.Collect(ch)
	m.CredentialExpiry.Collect(ch)
}
