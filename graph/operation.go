package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Operation statuses as Graph spells them.
const (
	StatusNotStarted         = "notStarted"
	StatusRunning            = "running"
	StatusSucceeded          = "succeeded"
	StatusFailed             = "failed"
	StatusUnknownFutureValue = "unknownFutureValue"
)

// Statuses is the state set of msgraph_lro_status, in Graph's order.
var Statuses = []string{StatusNotStarted, StatusRunning, StatusSucceeded, StatusFailed, StatusUnknownFutureValue}

// Terminal reports whether a status never changes again.
func Terminal(status string) bool { return status == StatusSucceeded || status == StatusFailed }

// NormalizeStatus maps a status Graph sent to one of Statuses by the union
// of every kind's vocabulary (completed is succeeded, inProgress running,
// …): an unrecognised value (Graph may add some) counts as
// unknownFutureValue.
func NormalizeStatus(s string) string { return customKind.Normalize(s) }

// Operation is what the exporter keeps of one long-running operation.
// Zero times mean Graph gave no readable timestamp.
type Operation struct {
	ID                 string
	Status             string // normalised, one of Statuses
	RawStatus          string // as Graph sent it
	CreatedDateTime    time.Time
	LastActionDateTime time.Time
	ResourceLocation   string
	StatusDetail       string
	// HasPercentage says whether Graph sent a readable percent complete
	// (the kind's progress field: percentageComplete, percentProgress, …),
	// 0 to 100. Of error, only the code is kept: a message is free text,
	// no label value.
	HasPercentage      bool
	PercentageComplete float64
	Type               string
	ErrorCode          string
	// HasValidation says the answer carried errors or warnings arrays
	// (industryData's file validation): ValidationErrors and
	// ValidationWarnings count their entries, whatever the status.
	HasValidation      bool
	ValidationErrors   int
	ValidationWarnings int
	// TimestampErrors names the timestamps that could not be read;
	// ProgressError says why a progress field was left out.
	TimestampErrors []string
	ProgressError   string
}

// ErrNoStatus is returned for a body that is JSON but carries no status.
var ErrNoStatus = errors.New("operation has no status")

// DecodeOperation reads one operation of any kind (custom): the union of
// the table's vocabularies and fields.
func DecodeOperation(body []byte) (*Operation, error) { return customKind.Decode(body) }

// DecodeOperationOf reads one operation of the scope's kind.
func DecodeOperationOf(scope string, body []byte) (*Operation, error) {
	return LookupKind(scope).Decode(body)
}

// Fields the custom kind tries, in order, where a kind names one.
var (
	anyProgress = []string{"percentageComplete", "percentageCompleted", "percentProgress", "percentComplete"}
	anyType     = []string{"type", "operationType", "action"}
	anyLocation = []string{"resourceLocation", "targetResourceLocation"}
)

// Decode reads one operation from a Graph response body. It is lenient
// where Graph is untidy: each member is read on its own, and one that is
// null, absent or of an unexpected type is left out without costing the
// others; an unreadable timestamp or progress is left out and noted. It
// fails only where nothing useful is left: a body that is not a JSON
// object, or one without a status (a string, or for Universal Print an
// object with a string state).
func (k *Kind) Decode(body []byte) (*Operation, error) { return k.decode(body, false) }

// decode is Decode; valid says body is known to be valid JSON already.
func (k *Kind) decode(body []byte, valid bool) (*Operation, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty response body")
	}
	var m members
	if !m.read(body, valid) {
		// Not one JSON object: encoding/json says why.
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("response is not a JSON operation: %w", err)
		}
		return nil, errors.New("response is not a JSON operation: null")
	}
	str := m.str
	first := func(keys []string) string {
		for _, key := range keys {
			if v, _ := str(key); v != "" {
				return v
			}
		}
		return ""
	}
	custom := k == customKind
	status, isString := str("status")
	var detail string
	if !isString && (k.StatusObject || custom) {
		// Universal Print: {"state": "succeeded", "description": "…"}.
		var obj struct {
			State       any `json:"state"`
			Description any `json:"description"`
		}
		if raw, ok := m.get("status"); ok && json.Unmarshal(raw, &obj) == nil {
			status, _ = obj.State.(string)
			detail, _ = obj.Description.(string)
		}
	}
	if status == "" {
		return nil, ErrNoStatus
	}
	op := &Operation{RawStatus: status, Status: k.Normalize(status)}
	op.ID, _ = str("id")
	op.StatusDetail, _ = str("statusDetail")
	if op.StatusDetail == "" {
		op.StatusDetail = detail
	}
	switch {
	case custom:
		op.ResourceLocation, op.Type = first(anyLocation), first(anyType)
	default:
		loc := k.LocationField
		if loc == "" {
			loc = "resourceLocation"
		}
		op.ResourceLocation, _ = str(loc)
		if k.TypeField != "" {
			op.Type, _ = str(k.TypeField)
		}
	}
	progress := []string{k.Progress}
	if custom {
		progress = anyProgress
	}
	for _, key := range progress {
		raw, ok := m.get(key)
		if key == "" || !ok || bytes.Equal(raw, []byte("null")) {
			continue
		}
		pct, err := readPercent(raw)
		if err != nil {
			op.ProgressError = key + ": " + err.Error()
		} else {
			op.HasPercentage, op.PercentageComplete = true, pct
		}
		break
	}
	var e struct{ Code any }
	if raw, ok := m.get("error"); ok && json.Unmarshal(raw, &e) == nil {
		op.ErrorCode, _ = e.Code.(string)
	}
	if k.Validation || custom {
		for _, v := range []struct {
			key string
			n   *int
		}{{"errors", &op.ValidationErrors}, {"warnings", &op.ValidationWarnings}} {
			if raw, ok := m.get(v.key); ok {
				if n, isArray := jsonArrayLen(raw); isArray {
					op.HasValidation, *v.n = true, n
				}
			}
		}
	}
	for _, ts := range []struct {
		key string
		to  *time.Time
	}{{"createdDateTime", &op.CreatedDateTime}, {"lastActionDateTime", &op.LastActionDateTime}} {
		raw, ok := m.get(ts.key)
		if !ok || bytes.Equal(raw, []byte("null")) {
			continue
		}
		v, isString := str(ts.key)
		var err error
		if !isString {
			err = errors.New("not a string")
		} else {
			*ts.to, err = ParseTimestamp(v)
		}
		if err != nil {
			op.TimestampErrors = append(op.TimestampErrors, ts.key+": "+err.Error())
		}
	}
	return op, nil
}

// readPercent reads a percent complete: a number, or a string holding one
// (OneNote's percentComplete is a string), from 0 to 100.
func readPercent(raw json.RawMessage) (float64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, errors.New("not JSON")
	}
	var pct float64
	switch x := v.(type) {
	case float64:
		pct = x
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(x), "%")), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", Truncate(x, 32))
		}
		pct = f
	default:
		return 0, errors.New("not a number")
	}
	if math.IsNaN(pct) || pct < 0 || pct > 100 {
		return 0, fmt.Errorf("%v is not between 0 and 100", pct)
	}
	return pct, nil
}

// dashedTime matches the form Microsoft's own documentation shows for a
// password reset: "2020-03-19T12-01-03.45Z", dashes where colons belong.
var dashedTime = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}[Tt ])(\d{2})-(\d{2})-(\d{2}(?:\.\d+)?)(.*)$`)

// ParseTimestamp reads a Graph timestamp leniently: RFC 3339 with any number
// of fractional digits, a space for the T, no zone (taken as UTC, as Graph
// means it), or the dashed form above. Graph's "no value" placeholder
// 0001-01-01T00:00:00Z and the empty string give the zero time and no error.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	// Only the dashed form has a dash after the hour (…T12-01-…): the
	// regular expression is asked of that form alone.
	if len(s) > 13 && s[13] == '-' {
		if m := dashedTime.FindStringSubmatch(s); m != nil {
			s = m[1] + m[2] + ":" + m[3] + ":" + m[4] + m[5]
		}
	}
	if len(s) > 10 && (s[10] == ' ' || s[10] == 't') {
		s = s[:10] + "T" + s[11:]
	}
	if n := len(s); n > 0 && s[n-1] == 'z' {
		s = s[:n-1] + "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// No zone: Graph's DateTimeOffset is always UTC.
		t, err = time.Parse("2006-01-02T15:04:05.999999999", s)
		if err != nil {
			return time.Time{}, fmt.Errorf("unreadable timestamp %q", Truncate(s, 64))
		}
	}
	// Checked in UTC: 0002-01-01T00:00:00+14:00 is still year 1 there.
	if t = t.UTC(); t.Year() <= 1 {
		return time.Time{}, nil
	}
	return t, nil
}

// Truncate cuts s to at most n bytes, on a rune boundary, ending a cut
// with "…": Graph's free text in a label or a log line.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(0, n-len("…"))
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
