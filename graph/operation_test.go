package graph

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The example answers of Microsoft's "Get longRunningOperation" page.
const (
	seedRunning = `{
    "@odata.context": "https://graph.microsoft.com/beta/$metadata#identityGovernance/roleManagementAlerts/operations/$entity",
    "id": "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert",
    "createdDateTime": "2023-06-09T22:50:41.5414467Z",
    "lastActionDateTime": "2023-06-09T22:52:09.0296021Z",
    "resourceLocation": "",
    "status": "running",
    "statusDetail": ""
}`
	seedSucceeded = `{
    "@odata.context": "https://graph.microsoft.com/beta/$metadata#identityGovernance/roleManagementAlerts/operations/$entity",
    "id": "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert",
    "createdDateTime": "2023-06-09T22:50:41.5414467Z",
    "lastActionDateTime": "2023-06-09T22:56:09.0296021Z",
    "resourceLocation": "https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert",
    "status": "succeeded",
    "statusDetail": ""
}`
	seedPasswordReset = `{
  "status": "running",
  "createdDateTime": "2020-03-19T12-01-03.45Z",
  "lastActionDateTime": "2020-03-19T12-01-04.23Z",
  "id": "2d497bb-57bd-47a6-8749-5ccd0869f2bd"
}`
	seedIndustryData = `{
  "@odata.type": "#microsoft.graph.longRunningOperation",
  "createdDateTime": "2022-12-14T05:54:35.400029Z",
  "id": "d194fa3e-18c9-47a1-0fb1-08dad8e7a876",
  "lastActionDateTime": "2022-12-14T05:54:43.8410226Z",
  "resourceLocation": "https://graph.microsoft.com/beta/industryData/dataConnectors/022da4a0-c239-4b07-abed-08dad8e7a07a",
  "status": "succeeded",
  "statusDetail": null
}`
)

// SeedExamples are the four answers of Microsoft's page, for the fuzz
// targets of package graph_test too.
var SeedExamples = []string{seedRunning, seedSucceeded, seedPasswordReset, seedIndustryData}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDecodeOperationSeedExamples(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       Operation
	}{
		{"running", seedRunning, Operation{
			ID: "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert", Status: "running", RawStatus: "running",
			CreatedDateTime: mustTime(t, "2023-06-09T22:50:41.5414467Z"), LastActionDateTime: mustTime(t, "2023-06-09T22:52:09.0296021Z"),
		}},
		{"succeeded", seedSucceeded, Operation{
			ID: "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert", Status: "succeeded", RawStatus: "succeeded",
			CreatedDateTime: mustTime(t, "2023-06-09T22:50:41.5414467Z"), LastActionDateTime: mustTime(t, "2023-06-09T22:56:09.0296021Z"),
			ResourceLocation: "https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert",
		}},
		{"dashed timestamps", seedPasswordReset, Operation{
			ID: "2d497bb-57bd-47a6-8749-5ccd0869f2bd", Status: "running", RawStatus: "running",
			CreatedDateTime: mustTime(t, "2020-03-19T12:01:03.45Z"), LastActionDateTime: mustTime(t, "2020-03-19T12:01:04.23Z"),
		}},
		{"statusDetail null", seedIndustryData, Operation{
			ID: "d194fa3e-18c9-47a1-0fb1-08dad8e7a876", Status: "succeeded", RawStatus: "succeeded",
			CreatedDateTime: mustTime(t, "2022-12-14T05:54:35.400029Z"), LastActionDateTime: mustTime(t, "2022-12-14T05:54:43.8410226Z"),
			ResourceLocation: "https://graph.microsoft.com/beta/industryData/dataConnectors/022da4a0-c239-4b07-abed-08dad8e7a07a",
		}},
		{"rich", `{"id":"x","status":"inProgress","percentageComplete":42,"type":"contentTypeCopy","resourceId":"r","error":{"code":"c","message":"m"}}`, Operation{
			ID: "x", Status: "running", RawStatus: "inProgress", HasPercentage: true, PercentageComplete: 42,
			Type: "contentTypeCopy", ErrorCode: "c",
		}},
		{"odd timestamp keeps the status", `{"status":"failed","createdDateTime":"yesterday","lastActionDateTime":null}`, Operation{
			Status: "failed", RawStatus: "failed", TimestampErrors: []string{`createdDateTime: unreadable timestamp "yesterday"`},
		}},
		{"odd member types keep the status", `{"id":5,"status":"failed","statusDetail":{"code":"x"},"resourceLocation":false,"createdDateTime":1584619263,"percentageComplete":"4x2","error":"boom","type":7}`, Operation{
			Status: "failed", RawStatus: "failed", TimestampErrors: []string{"createdDateTime: not a string"},
			ProgressError: `percentageComplete: "4x2" is not a number`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeOperation([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !got.CreatedDateTime.Equal(tc.want.CreatedDateTime) || !got.LastActionDateTime.Equal(tc.want.LastActionDateTime) {
				t.Errorf("times = %v, %v; want %v, %v", got.CreatedDateTime, got.LastActionDateTime, tc.want.CreatedDateTime, tc.want.LastActionDateTime)
			}
			got.CreatedDateTime, got.LastActionDateTime = tc.want.CreatedDateTime, tc.want.LastActionDateTime
			if strings.Join(got.TimestampErrors, ";") != strings.Join(tc.want.TimestampErrors, ";") {
				t.Errorf("TimestampErrors = %q, want %q", got.TimestampErrors, tc.want.TimestampErrors)
			}
			got.TimestampErrors, tc.want.TimestampErrors = nil, nil
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestDecodeOperationRejects(t *testing.T) {
	for body, want := range map[string]string{
		"":                       "empty response body",
		"   ":                    "empty response body",
		"<html>busy</html>":      "response is not a JSON operation: invalid character '<' looking for beginning of value",
		`{"id":"x"}`:             "operation has no status",
		`{"status":""}`:          "operation has no status",
		`[{"status":"running"}]`: "response is not a JSON operation: json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
		"null":                   "response is not a JSON operation: null",
		`{"status":"running"`:    "response is not a JSON operation: unexpected end of JSON input",
		`{"status":42}`:          "operation has no status",
	} {
		_, err := DecodeOperation([]byte(body))
		if err == nil || err.Error() != want {
			t.Errorf("DecodeOperation(%q) error = %v, want %q", body, err, want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]string{
		"2023-06-09T22:50:41.5414467Z":     "2023-06-09T22:50:41.5414467Z",
		"2023-06-09T22:50:41Z":             "2023-06-09T22:50:41Z",
		"2023-06-09T22:50:41.1Z":           "2023-06-09T22:50:41.1Z",
		"2023-06-09T22:50:41.123456789Z":   "2023-06-09T22:50:41.123456789Z",
		"2020-03-19T12-01-03.45Z":          "2020-03-19T12:01:03.45Z",
		"2020-03-19T12-01-03Z":             "2020-03-19T12:01:03Z",
		"2023-06-09T22:50:41.54+02:00":     "2023-06-09T20:50:41.54Z",
		"2023-06-09 22:50:41Z":             "2023-06-09T22:50:41Z",
		"2023-06-09T22:50:41.5414467":      "2023-06-09T22:50:41.5414467Z",
		"2023-06-09t22:50:41z":             "2023-06-09T22:50:41Z",
		"  2023-06-09T22:50:41Z ":          "2023-06-09T22:50:41Z",
		"0001-01-01T00:00:00Z":             "",
		"0002-01-01T00:00:00+14:00":        "",
		"":                                 "",
		"2020-03-19T12-01-03.45+01:00":     "2020-03-19T11:01:03.45Z",
		"2023-06-09T22:50:41.5414467-0700": "!",
		"not a time":                       "!",
		"2023-13-09T22:50:41Z":             "!",
	} {
		got, err := ParseTimestamp(in)
		switch {
		case want == "!":
			if err == nil {
				t.Errorf("ParseTimestamp(%q) = %v, want an error", in, got)
			}
		case err != nil:
			t.Errorf("ParseTimestamp(%q): %v", in, err)
		case want == "":
			if !got.IsZero() {
				t.Errorf("ParseTimestamp(%q) = %v, want zero", in, got)
			}
		case !got.Equal(mustTime(t, want)):
			t.Errorf("ParseTimestamp(%q) = %v, want %s", in, got, want)
		}
	}
}

func TestNormalizeStatus(t *testing.T) {
	for in, want := range map[string]string{
		"notStarted": "notStarted", "running": "running", "succeeded": "succeeded", "failed": "failed",
		"unknownFutureValue": "unknownFutureValue", "Succeeded": "succeeded", "cancelled": "unknownFutureValue", "": "unknownFutureValue",
	} {
		if got := NormalizeStatus(in); got != want {
			t.Errorf("NormalizeStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"2": 2 * time.Second, "0.5": 500 * time.Millisecond, "0": 0, " 10 ": 10 * time.Second,
		"99999": time.Hour, "Mon, 23 Nov 2026 12:00:30 GMT": 30 * time.Second, "Mon, 23 Nov 2026 11:00:00 GMT": 0,
	} {
		got, ok := ParseRetryAfter(in, now)
		if !ok || got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, true", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "soon", "-1", "NaN"} {
		if got, ok := ParseRetryAfter(in, now); ok {
			t.Errorf("ParseRetryAfter(%q) = %v, true; want false", in, got)
		}
	}
}
