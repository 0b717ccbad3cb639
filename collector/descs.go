package collector

import "github.com/prometheus/client_golang/prometheus"

// descs are the metric descriptions of one config: the operation label set
// is the fixed labels plus the union of every operation's static labels.
type descs struct {
	labelNames []string // of an operation: fixed, then static

	status, created, lastAction, age, lastActionAge, completion *prometheus.Desc
	info, up, lastSuccess, operations, scrapeDuration           *prometheus.Desc
	validationErrors, validationWarnings                        *prometheus.Desc
	overLimit, discoverySuccess, discoveryErrors, discovered    *prometheus.Desc
}

func newDescs(static []string) descs {
	base := append([]string{"tenant", "scope", "operation_id", "name"}, static...)
	with := func(extra ...string) []string {
		return append(append(make([]string, 0, len(base)+len(extra)), base...), extra...)
	}
	return descs{
		labelNames: base,
		status: prometheus.NewDesc(famMeta[famStatus].name, famMeta[famStatus].help,
			with("status"), nil),
		created: prometheus.NewDesc(famMeta[famCreated].name, famMeta[famCreated].help,
			base, nil),
		lastAction: prometheus.NewDesc(famMeta[famLastAction].name, famMeta[famLastAction].help,
			base, nil),
		age: prometheus.NewDesc(famMeta[famAge].name, famMeta[famAge].help,
			base, nil),
		lastActionAge: prometheus.NewDesc(famMeta[famLastActionAge].name, famMeta[famLastActionAge].help,
			base, nil),
		completion: prometheus.NewDesc(famMeta[famCompletion].name, famMeta[famCompletion].help,
			base, nil),
		info: prometheus.NewDesc(famMeta[famInfo].name, famMeta[famInfo].help,
			with("resource_location", "status_detail", "type", "error_code", "raw_status"), nil),
		validationErrors: prometheus.NewDesc(famMeta[famValidationErrors].name, famMeta[famValidationErrors].help,
			base, nil),
		validationWarnings: prometheus.NewDesc(famMeta[famValidationWarnings].name, famMeta[famValidationWarnings].help,
			base, nil),
		up: prometheus.NewDesc(famMeta[famUp].name, famMeta[famUp].help,
			base, nil),
		lastSuccess: prometheus.NewDesc(famMeta[famLastSuccess].name, famMeta[famLastSuccess].help,
			base, nil),
		operations: prometheus.NewDesc("msgraph_lro_operations",
			"Operations watched, by tenant, source (config, discovery) and shard (--shard: this replica's part of them; 0 when it watches all).",
			[]string{"tenant", "source", "shard"}, nil),
		scrapeDuration: prometheus.NewDesc("msgraph_lro_scrape_duration_seconds",
			"Time the collection of Graph operations took in this scrape.",
			nil, nil),
		overLimit: prometheus.NewDesc("msgraph_lro_operations_over_limit",
			"Operations configured or discovered but not watched because global.max_operations was reached.",
			nil, nil),
		discoverySuccess: prometheus.NewDesc("msgraph_lro_discovery_last_success_timestamp_seconds",
			"When the discovery job last listed its collection successfully, in Unix seconds.",
			[]string{"tenant", "scope", "site", "list", "case"}, nil),
		discoveryErrors: prometheus.NewDesc("msgraph_lro_discovery_errors_total",
			"Listings of the discovery job that failed.",
			[]string{"tenant", "scope", "site", "list", "case"}, nil),
		discovered: prometheus.NewDesc("msgraph_lro_discovery_operations",
			"Operations the discovery job's latest listing found and keeps watching (after retention).",
			[]string{"tenant", "scope", "site", "list", "case"}, nil),
	}
}

// famMeta are the operation families' names and HELP texts, for both
// encoders.
var famMeta = [numFams]struct{ name, help string }{
	famAge: {"msgraph_lro_age_seconds",
		"Seconds since the operation was created."},
	famCompletion: {"msgraph_lro_completion_ratio",
		"How far the operation has got, 0 to 1: the kind's percent complete (percentageComplete, percentageCompleted, percentProgress, percentComplete) / 100. Absent for kinds without one, and when Graph sent none or one outside 0 to 100."},
	famCreated: {"msgraph_lro_created_timestamp_seconds",
		"When the operation was created (createdDateTime), in Unix seconds. Absent when Graph gave no readable timestamp."},
	famInfo: {"msgraph_lro_info",
		"Always 1; carries the operation's resource location, status detail, type (type, operationType or action), error code and raw_status, the status exactly as Graph sent it, as labels (each cut to 256 bytes)."},
	famLastActionAge: {"msgraph_lro_last_action_age_seconds",
		"Seconds since the operation last did something: high for an operation still running means it is stuck."},
	famLastAction: {"msgraph_lro_last_action_timestamp_seconds",
		"When the operation last did something (lastActionDateTime), in Unix seconds. Absent when Graph gave no readable timestamp."},
	famLastSuccess: {"msgraph_lro_last_success_timestamp_seconds",
		"When the values shown were fetched from Graph, in Unix seconds: how stale they are."},
	famStatus: {"msgraph_lro_status",
		"Status of a Graph long-running operation as a state set: 1 for the current status, 0 for the others (notStarted, running, succeeded, failed, unknownFutureValue; a status Graph adds later counts as unknownFutureValue). succeeded and failed are final."},
	famUp: {"msgraph_lro_up",
		"1 if the latest fetch of the operation from Graph succeeded (or a cached answer is still fresh), 0 if it failed, was throttled or missed the scrape deadline. The other series then keep the last good values; see msgraph_lro_last_success_timestamp_seconds."},
	famValidationErrors: {"msgraph_lro_validation_errors",
		"Validation errors the operation reports (industryData file validation: its errors), whatever its status: a succeeded validation can carry some."},
	famValidationWarnings: {"msgraph_lro_validation_warnings",
		"Validation warnings the operation reports (industryData file validation: its warnings)."},
}
