package graph_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// The answers of Microsoft's "Get longRunningOperation" page
// (/work/shared/seeds/longrunningoperation-get.md), as Graph sends them:
// dashed timestamps, statusDetail null, fields absent, then the untidy
// variations DESIGN.md promises to survive.
var fuzzOperationSeeds = append(append([]string{}, graph.SeedExamples...),
	`{"id":"copy,1","status":"inProgress","percentageComplete":42.5,"type":"contentTypeCopy","resourceId":"r","error":{"code":"c","message":"m"}}`,
	`{"status":"failed","createdDateTime":"yesterday","lastActionDateTime":null,"statusDetail":"Password does not meet complexity requirements"}`,
	`{"status":"notStarted","createdDateTime":"0001-01-01T00:00:00Z","lastActionDateTime":"","resourceLocation":null}`,
	`{"status":"unknownFutureValue"}`,
	`{"status":"SUCCEEDED","createdDateTime":"2023-06-09 22:50:41","lastActionDateTime":"2023-06-09t22:50:41.1z"}`,
	`{"status":"running","createdDateTime":"2020-03-19T12-01-03.45+01:00"}`,
	`{"status":""}`,
	`{"id":"x"}`,
	`{"status":42}`,
	`[{"status":"running"}]`,
	`null`,
	`<html>busy</html>`,
	`{"status":"running"`,
	`{"status":"running","status":null}`,
	"\t {\"status\":\"running\"} \n",
)

// wireFields are the members of a longRunningOperation the decoder reads.
var wireFields = []string{"id", "createdDateTime", "lastActionDateTime", "resourceLocation", "status",
	"statusDetail", "percentageComplete", "resourceId", "type", "error"}

// checkTime is the promise ParseTimestamp makes of what it returns without
// an error: no time at all, or a UTC time after year 1.
func checkTime(t *testing.T, what string, v time.Time) {
	t.Helper()
	if v.IsZero() {
		return
	}
	if v.Location() != time.UTC {
		t.Errorf("%s = %v: not UTC", what, v)
	}
	if v.Year() <= 1 {
		t.Errorf("%s = %v: year 1 or before, want the zero time for that", what, v)
	}
}

// DecodeOperation is lenient where Graph is untidy and strict only where
// nothing useful is left (DESIGN.md: "never drop the status because a
// timestamp is odd"). Properties:
//   - an error comes with no operation, an operation with no error;
//   - the status is always one of graph.Statuses, and is the normalised
//     form of the raw status;
//   - timestamps are zero or UTC after year 1, and a timestamp string that
//     ParseTimestamp reads is the time shown; one it does not read is named
//     in TimestampErrors, never an error of the whole operation;
//   - a JSON object whose "status" is a non-empty string always decodes,
//     whatever the other members hold (numbers, objects, garbage dates);
//   - decoding is deterministic.
func FuzzDecodeOperation(f *testing.F) {
	for _, s := range fuzzOperationSeeds {
		f.Add([]byte(s))
	}
	// Every kind's documented example (graph/testdata/kinds), and the
	// shapes of bad answers each kind may meet.
	for _, s := range graph.KindFixtures(f) {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"status":{"state":"succeeded","description":"The operation has completed successfully."}}`,
		`{"status":{"description":"no state"}}`,
		`{"status":{"state":7}}`,
		`{"status":"running","percentComplete":"fifty"}`,
		`{"status":"running","percentComplete":"150"}`,
		`{"status":"running","percentProgress":-1}`,
		`{"status":"running","percentageCompleted":1e400}`,
		`{"status":"succeeded","errors":[{"code":"RequiredFileNotFound"}],"warnings":"x"}`,
		`{"status":"partiallySucceeded","action":"contentExport","percentProgress":100}`,
		`{"status":"inprogress","operationType":"createCommunity","targetResourceLocation":"/groups('x')/team"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, scope := range graph.Scopes {
			op, err := graph.DecodeOperationOf(scope, body)
			if (op == nil) == (err == nil) {
				t.Fatalf("%s: DecodeOperationOf(%q) = %v, %v: want exactly one of an operation and an error", scope, body, op, err)
			}
			if err != nil {
				continue
			}
			if k := graph.LookupKind(scope); !slices.Contains(graph.Statuses, op.Status) || k.Normalize(op.RawStatus) != op.Status {
				t.Errorf("%s: Status %q for raw %q", scope, op.Status, op.RawStatus)
			}
			if op.HasPercentage && !(op.PercentageComplete >= 0 && op.PercentageComplete <= 100) {
				t.Errorf("%s: progress %v outside 0 to 100", scope, op.PercentageComplete)
			}
			if op.ValidationErrors < 0 || op.ValidationWarnings < 0 || (!op.HasValidation && op.ValidationErrors+op.ValidationWarnings != 0) {
				t.Errorf("%s: validation %v %d %d", scope, op.HasValidation, op.ValidationErrors, op.ValidationWarnings)
			}
		}
		op, err := graph.DecodeOperation(body)
		if (op == nil) == (err == nil) {
			t.Fatalf("DecodeOperation(%q) = %v, %v: want exactly one of an operation and an error", body, op, err)
		}
		if err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Errorf("error is not valid UTF-8: %q", err.Error())
			}
			mustDecodeAnyway(t, body, err)
			return
		}
		if !slices.Contains(graph.Statuses, op.Status) {
			t.Fatalf("Status = %q, not one of %v", op.Status, graph.Statuses)
		}
		if op.RawStatus == "" || graph.NormalizeStatus(op.RawStatus) != op.Status {
			t.Errorf("RawStatus %q, Status %q: not its normalised form", op.RawStatus, op.Status)
		}
		checkTime(t, "CreatedDateTime", op.CreatedDateTime)
		checkTime(t, "LastActionDateTime", op.LastActionDateTime)
		if len(op.TimestampErrors) > 2 {
			t.Errorf("%d timestamp errors for two timestamps: %q", len(op.TimestampErrors), op.TimestampErrors)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(bytes.TrimSpace(body), &obj) == nil && !caseVariants(obj) {
			for _, ts := range []struct {
				key string
				got time.Time
			}{{"createdDateTime", op.CreatedDateTime}, {"lastActionDateTime", op.LastActionDateTime}} {
				var s string
				if json.Unmarshal(obj[ts.key], &s) != nil || bytes.Equal(obj[ts.key], []byte("null")) {
					continue
				}
				want, perr := graph.ParseTimestamp(s)
				named := slices.ContainsFunc(op.TimestampErrors, func(e string) bool { return strings.HasPrefix(e, ts.key+": ") })
				switch {
				case perr != nil && !named:
					t.Errorf("%s %q is unreadable (%v) but TimestampErrors %q does not say so", ts.key, s, perr, op.TimestampErrors)
				case perr == nil && !ts.got.Equal(want):
					t.Errorf("%s %q: got %v, ParseTimestamp says %v", ts.key, s, ts.got, want)
				}
			}
		}
		again, err := graph.DecodeOperation(body)
		if err != nil || !reflect.DeepEqual(op, again) {
			t.Errorf("not deterministic: %+v, then %+v, %v", op, again, err)
		}
	})
}

// caseVariants reports whether obj has a member that encoding/json would
// match to a field without being its exact name ("Status", "ID"): Graph
// never sends those, and which one wins is encoding/json's business.
func caseVariants(obj map[string]json.RawMessage) bool {
	for k := range obj {
		for _, f := range wireFields {
			if k != f && strings.EqualFold(k, f) {
				return true
			}
		}
	}
	return false
}

// mustDecodeAnyway fails if body is a JSON object with a usable status,
// which DecodeOperation refused (err) because of some other member.
func mustDecodeAnyway(t *testing.T, body []byte, err error) {
	t.Helper()
	var obj map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(body), &obj) != nil || obj == nil || caseVariants(obj) {
		return
	}
	var status string
	if raw := obj["status"]; len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &status) != nil || status == "" {
		return
	}
	t.Errorf("DecodeOperation(%q): %v\nthe body is a JSON object with status %q: one odd member must not cost the status", body, err, status)
}

// ParseTimestamp properties:
//   - without an error the time is zero, or UTC after year 1 (never a
//     year-1 time that Prometheus would show as -62135596800);
//   - with an error the time is zero and the message is short, valid UTF-8;
//   - whatever time.Parse reads as RFC 3339 (after year 1), it reads the same;
//   - what it returns reads back the same, written as RFC 3339 and in
//     Graph's dashed form.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2023-06-09T22:50:41.5414467Z", "2023-06-09T22:52:09.0296021Z", "2020-03-19T12-01-03.45Z", "2020-03-19T12-01-04.23Z",
		"2022-12-14T05:54:35.400029Z", "2022-12-14T05:54:43.8410226Z", "0001-01-01T00:00:00Z", "", "   ",
		"2023-06-09 22:50:41Z", "2023-06-09T22:50:41.5414467", "2023-06-09t22:50:41z", "2020-03-19T12-01-03.45+01:00",
		"2023-06-09T22:50:41.54+02:00", "2023-06-09T22:50:41.5414467-0700", "not a time", "2023-13-09T22:50:41Z",
		"9999-12-31T23:59:59.999999999-23:59", "0001-01-01T00:00:00-05:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := graph.ParseTimestamp(s)
		if err != nil {
			if !got.IsZero() {
				t.Errorf("ParseTimestamp(%q) = %v with error %v: want the zero time", s, got, err)
			}
			if msg := err.Error(); !utf8.ValidString(msg) || len(msg) > 400 {
				t.Errorf("ParseTimestamp(%q): error of %d bytes, valid UTF-8 %v: %q", s, len(msg), utf8.ValidString(msg), msg)
			}
		} else {
			checkTime(t, "ParseTimestamp("+strconv.Quote(s)+")", got)
		}
		if std, perr := time.Parse(time.RFC3339Nano, s); perr == nil && std.UTC().Year() > 1 {
			if err != nil || !got.Equal(std) {
				t.Errorf("ParseTimestamp(%q) = %v, %v; time.Parse reads %v", s, got, err, std.UTC())
			}
		}
		if err != nil || got.IsZero() || got.Year() > 9999 {
			return // RFC 3339 has four-digit years
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15-04-05.999999999Z07:00"} {
			w := got.Format(layout)
			back, err := graph.ParseTimestamp(w)
			if err != nil || !back.Equal(got) {
				t.Errorf("ParseTimestamp(%q) = %v; written as %q it reads back as %v, %v", s, got, w, back, err)
			}
		}
	})
}

// ParseRetryAfter properties: a wait is never negative nor over an hour;
// no wait means 0; a number of seconds in [0, 3600] is that wait, more is
// an hour; a negative or not-a-number value, or nothing, is no wait; an HTTP
// date is the time left until then.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"2", "0.5", "0", " 10 ", "99999", "-1", "NaN", "Inf", "-0", "1e-400", "0x1p-2", "",
		"soon", "Mon, 23 Nov 2026 12:00:30 GMT", "Mon, 23 Nov 2026 11:00:00 GMT", "Monday, 23-Nov-26 12:00:30 GMT",
		"Mon Nov 23 12:00:30 2026", "3600", "3600.0000001"} {
		f.Add(s, int64(1795435200)) // 2026-11-23T12:00:00Z
	}
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		now := time.Unix(nowUnix%(1<<40), 0).UTC()
		d, ok := graph.ParseRetryAfter(v, now)
		if d < 0 || d > time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v: out of [0, 1h]", v, d, ok)
		}
		if !ok && d != 0 {
			t.Errorf("ParseRetryAfter(%q) = %v, false: want 0 with no wait", v, d)
		}
		tv := strings.TrimSpace(v)
		if tv == "" && ok {
			t.Errorf("ParseRetryAfter(%q) = %v, true: nothing is no wait", v, d)
		}
		if secs, err := strconv.ParseFloat(tv, 64); err == nil {
			switch {
			case secs != secs || secs < 0:
				if ok {
					t.Errorf("ParseRetryAfter(%q) = %v, true: want no wait", v, d)
				}
			case secs > 3600:
				if !ok || d != time.Hour {
					t.Errorf("ParseRetryAfter(%q) = %v, %v: want 1h, true", v, d, ok)
				}
			default:
				want := time.Duration(secs * float64(time.Second))
				if !ok || d < want-time.Microsecond || d > want+time.Microsecond {
					t.Errorf("ParseRetryAfter(%q) = %v, %v: want %v, true", v, d, ok, want)
				}
			}
		}
	})
}
