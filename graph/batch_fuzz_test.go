package graph_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// batchRefs are three beta operations: one $batch of three.
var batchRefs = []graph.OperationRef{
	{Scope: graph.ScopeRoleManagementAlerts, ID: "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"},
	{Scope: graph.ScopeRoleManagementAlerts, ID: "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_RolesAssignedOutsidePimAlert"},
	{Scope: graph.ScopeIndustryData, ID: "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"},
}

// batchOuterStatuses are the answers to the $batch request itself a fuzz
// input picks from.
var batchOuterStatuses = []int{200, 200, 200, 400, 401, 403, 404, 424, 429, 500, 503, 302, 307, 204}

// replayGraph answers the client without a network: the $batch gets the
// fuzzed answer, a single GET (the client falls back to those when Graph
// refuses a batch) a valid running operation. It checks that every request
// goes to the endpoint's host with the token.
type replayGraph struct {
	t          *testing.T
	host       string
	status     int
	retryAfter string
	body       []byte

	mu            sync.Mutex
	batches, gets int
}

func (g *replayGraph) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	if r.URL.Scheme != "https" || r.URL.Host != g.host || r.Header.Get("Authorization") != "Bearer fuzz-token" {
		g.t.Errorf("request to %s://%s with Authorization %q", r.URL.Scheme, r.URL.Host, r.Header.Get("Authorization"))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	h := http.Header{"Content-Type": {"application/json"}}
	if r.Method == http.MethodPost && r.URL.Path == "/beta/$batch" {
		g.batches++
		if g.retryAfter != "" {
			h.Set("Retry-After", g.retryAfter)
		}
		if g.status/100 == 3 {
			h.Set("Location", "https://evil.example/beta/$batch")
		}
		return &http.Response{StatusCode: g.status, Header: h, Body: io.NopCloser(bytes.NewReader(g.body)), Request: r}, nil
	}
	g.gets++
	body := `{"status":"running","id":"single"}`
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// b64 is an operation as Graph sends a non-JSON inner body: a base64 string.
var b64 = base64.StdEncoding.EncodeToString([]byte(`{"status":"failed","id":"b64"}`))

// The client reads Graph's $batch answer, which a faulty or hostile front
// end may fill with anything. Properties, whatever the answer:
//   - GetOperations returns, within its deadline and a margin;
//   - every operation gets exactly one answer: an operation or an error;
//   - an operation's status is one of graph.Statuses;
//   - no request leaves the endpoint's host (a 3xx is not followed);
//   - at most two $batch requests (the answer, one retry) and one GET per
//     operation.
func FuzzBatchAnswer(f *testing.F) {
	valid := func(inner ...string) string { return `{"responses":[` + strings.Join(inner, ",") + `]}` }
	ok := func(id, status string) string {
		return fmt.Sprintf(`{"id":%q,"status":200,"headers":{"Content-Type":"application/json"},"body":{"id":"x","status":%q,"createdDateTime":"2020-03-19T12-01-03.45Z","statusDetail":null}}`, id, status)
	}
	for _, s := range []struct {
		status     uint8
		retryAfter string
		body       string
	}{
		{0, "", valid(ok("1", "running"), ok("2", "succeeded"), ok("3", "failed"))},
		{0, "", valid(ok("3", "failed"), ok("1", "running"), ok("2", "notStarted"))},
		{0, "", valid(ok("1", "running"), ok("2", "succeeded"))},
		{0, "", valid(ok("1", "running"), ok("1", "failed"), ok("2", "succeeded"), ok("3", "failed"))},
		{0, "", valid(ok("1", "running"), ok("01", "failed"), ok("2", "succeeded"), ok("3", "failed"))},
		{0, "", valid(ok("4", "running"), ok("0", "running"), ok("-1", "running"), ok("x", "running"))},
		{0, "", valid(`{"id":"1","status":429,"headers":{"Retry-After":"0.01"},"body":{"error":{"code":"TooManyRequests","message":"slow down"}}}`, ok("2", "running"), ok("3", "running"))},
		{0, "", valid(`{"id":"1","status":429,"headers":{"Retry-After":"3600"}}`, `{"id":"2","status":503}`, `{"id":"3","status":424}`)},
		{0, "", valid(`{"id":"1","status":429}`, `{"id":"2","status":404,"body":{"error":{"code":"ResourceNotFound","message":"gone","innerError":{"request-id":"r"}}}}`, `{"id":"3","status":200,"body":"`+b64+`"}`)},
		{0, "", valid(`{"id":"1","status":200,"body":"not json"}`, `{"id":"2","status":200,"body":null}`, `{"id":"3","status":200}`)},
		{0, "", valid(`{"id":"1","status":200,"body":{"status":"running","createdDateTime":1584619263}}`, `{"id":"2","status":200,"body":[]}`, `{"id":"3","status":0}`)},
		{0, "", `{"responses":null}`},
		{0, "", `{"responses":[]}`},
		{0, "", `{"responses":[{"id":"1","status":200,"body":{"status":"runn`},
		{0, "", `<html><body>Service Unavailable</body></html>`},
		{0, "", ``},
		{0, "", `{}`},
		{0, "", `[]`},
		{3, "", `{"error":{"code":"BadRequest","message":"Invalid batch payload format."}}`},
		{8, "2", `{"error":{"code":"TooManyRequests","message":"Too many requests."}}`},
		{8, "", ``},
		{4, "", `{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure."}}`},
		{10, "", `{"error":{"code":"ServiceUnavailable"}}`},
		{11, "", ``},
		{12, "", ``},
	} {
		f.Add(s.status, s.retryAfter, []byte(s.body))
	}
	// Every kind's documented example, as an inner answer.
	for _, fx := range graph.KindFixtures(f) {
		f.Add(uint8(0), "", []byte(valid(`{"id":"1","status":200,"body":`+fx+`}`, ok("2", "running"), ok("3", "failed"))))
	}
	f.Fuzz(func(t *testing.T, which uint8, retryAfter string, body []byte) {
		g := &replayGraph{t: t, host: "graph.example", status: batchOuterStatuses[int(which)%len(batchOuterStatuses)],
			retryAfter: retryAfter, body: body}
		c, err := graph.NewClient(graph.ClientOptions{Tenant: "t", GraphEndpoint: "https://graph.example", Tokens: staticToken("fuzz-token"),
			HTTPClient: &http.Client{Transport: g}, MaxConcurrency: 2, Batch: true, RequestTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var mu sync.Mutex
		calls := make([]int, len(batchRefs))
		start := time.Now()
		c.GetOperations(ctx, batchRefs, func(i int, op *graph.Operation, err error) {
			mu.Lock()
			calls[i]++
			n := calls[i]
			mu.Unlock()
			if n > 1 {
				t.Errorf("operation %d answered %d times (now %v, %v)", i, n, op, err)
			}
			if (op == nil) == (err == nil) {
				t.Errorf("operation %d: %v, %v: want exactly one of an operation and an error", i, op, err)
			}
			if op != nil && !slices.Contains(graph.Statuses, op.Status) {
				t.Errorf("operation %d: status %q", i, op.Status)
			}
		})
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("GetOperations took %v with a 300ms deadline", d)
		}
		for i, n := range calls {
			if n != 1 {
				t.Errorf("operation %d answered %d times, want once", i, n)
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.batches < 1 || g.batches > 2 || g.gets > len(batchRefs) {
			t.Errorf("%d $batch requests and %d GETs for %d operations", g.batches, g.gets, len(batchRefs))
		}
	})
}

// A $batch answer that names one request twice, the second time as "01"
// (or "+1"), answered that operation twice: once for each spelling. Found
// by FuzzBatchAnswer's seeds; GetOperations promises one answer per
// operation, and the collector's shared fetch relies on it.
func TestBatchAnswerIDSpellings(t *testing.T) {
	for _, dup := range []string{"01", "+1", "1"} {
		body := fmt.Sprintf(`{"responses":[
			{"id":"1","status":200,"body":{"status":"running"}},
			{"id":%q,"status":200,"body":{"status":"failed"}},
			{"id":"2","status":200,"body":{"status":"succeeded"}},
			{"id":"3","status":200,"body":{"status":"notStarted"}}]}`, dup)
		g := &replayGraph{t: t, host: "graph.example", status: 200, body: []byte(body)}
		c, err := graph.NewClient(graph.ClientOptions{Tenant: "t", GraphEndpoint: "https://graph.example", Tokens: staticToken("fuzz-token"),
			HTTPClient: &http.Client{Transport: g}, MaxConcurrency: 2, Batch: true})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		got := map[int][]string{}
		c.GetOperations(context.Background(), batchRefs, func(i int, op *graph.Operation, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				got[i] = append(got[i], "error: "+err.Error())
				return
			}
			got[i] = append(got[i], op.Status)
		})
		want := map[int][]string{0: {"running"}, 1: {"succeeded"}, 2: {"notStarted"}}
		for i := range batchRefs {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("id %q: operation %d answered %q, want %q", dup, i, got[i], want[i])
			}
		}
	}
}
