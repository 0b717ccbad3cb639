package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// The series of one operation, as one scrape shows them, are built in one
// place (samplesOf) and written by two encoders: client_golang's, through
// prometheus.Metric values (protobuf, and every path but a plain /metrics
// in text), and the streaming text writer (text.go), which writes the same
// bytes straight to the response. TestEncodersAgree holds them together.

// fam is an operation family, numbered in name order: the order both
// encoders write them in.
type fam uint8

const (
	famAge                fam = iota // msgraph_lro_age_seconds
	famCompletion                    // msgraph_lro_completion_ratio
	famCreated                       // msgraph_lro_created_timestamp_seconds
	famInfo                          // msgraph_lro_info
	famLastActionAge                 // msgraph_lro_last_action_age_seconds
	famLastAction                    // msgraph_lro_last_action_timestamp_seconds
	famLastSuccess                   // msgraph_lro_last_success_timestamp_seconds
	famStatus                        // msgraph_lro_status
	famUp                            // msgraph_lro_up
	famValidationErrors              // msgraph_lro_validation_errors
	famValidationWarnings            // msgraph_lro_validation_warnings
	numFams
)

// desc is the family's description in d.
func (d *descs) desc(f fam) *prometheus.Desc {
	return [numFams]*prometheus.Desc{
		famAge: d.age, famCompletion: d.completion, famCreated: d.created, famInfo: d.info,
		famLastActionAge: d.lastActionAge, famLastAction: d.lastAction, famLastSuccess: d.lastSuccess,
		famStatus: d.status, famUp: d.up, famValidationErrors: d.validationErrors, famValidationWarnings: d.validationWarnings,
	}[f]
}

// samples is what one scrape shows of one operation: a value per family it
// has (msgraph_lro_status: which of graph.Statuses is current) and the
// msgraph_lro_info labels of its answer.
type samples struct {
	has    uint16 // bit f: the operation has a series of family f
	status int8   // index in graph.Statuses of the current status; -1: none
	info   *infoPairs
	v      [numFams]float64
}

func (s *samples) set(f fam, v float64) {
	s.has |= 1 << f
	s.v[f] = v
}

func (s *samples) hasFam(f fam) bool { return s.has&(1<<f) != 0 }

// samplesOf is the one place that says which series an operation has in a
// scrape, and their values.
func samplesOf(t *target, r *result, now time.Time) samples {
	s := samples{status: -1}
	if t.OmitNotFound && isNotFound(r.err) {
		return s
	}
	s.set(famUp, boolFloat(r.up))
	op := r.op
	if op == nil {
		return s
	}
	s.has |= 1 << famStatus
	for i, st := range graph.Statuses {
		if op.Status == st {
			s.status = int8(i)
		}
	}
	if !op.CreatedDateTime.IsZero() {
		s.set(famCreated, unixSeconds(op.CreatedDateTime))
		s.set(famAge, ageSeconds(now, op.CreatedDateTime))
	}
	if !op.LastActionDateTime.IsZero() {
		s.set(famLastAction, unixSeconds(op.LastActionDateTime))
		s.set(famLastActionAge, ageSeconds(now, op.LastActionDateTime))
	}
	if op.HasPercentage {
		s.set(famCompletion, op.PercentageComplete/100)
	}
	if op.HasValidation {
		s.set(famValidationErrors, float64(op.ValidationErrors))
		s.set(famValidationWarnings, float64(op.ValidationWarnings))
	}
	s.set(famInfo, 1)
	s.info = t.labels.infoPairsFor(clip(op.ResourceLocation), clip(op.StatusDetail), clip(op.Type), clip(op.ErrorCode), clip(op.RawStatus))
	s.set(famLastSuccess, unixSeconds(r.fetched))
	return s
}

// metrics sends s as prometheus.Metric values: the client_golang encoder's
// side.
func (s *samples) metrics(ch chan<- prometheus.Metric, d *descs, ls *labelSet) {
	if s.has == 0 {
		return
	}
	// Appended, usually in one allocation: a sample already sent keeps
	// its place in the array it was sent from when append moves on.
	buf := make([]sample, 0, usualSamples)
	add := func(desc *prometheus.Desc, labels []*dto.LabelPair, v float64) {
		buf = append(buf, sample{desc: desc, labels: labels, value: v})
		ch <- &buf[len(buf)-1]
	}
	for f := fam(0); f < numFams; f++ {
		if !s.hasFam(f) {
			continue
		}
		switch f {
		case famStatus:
			for i, pairs := range ls.statusPairsOf() {
				add(d.status, pairs, boolFloat(int(s.status) == i))
			}
		case famInfo:
			add(d.info, s.info.pairsWith(ls.base), s.v[f])
		default:
			add(d.desc(f), ls.base, s.v[f])
		}
	}
}
