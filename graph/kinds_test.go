package graph

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// KindFixtures are Microsoft's documented examples of testdata/kinds, by
// file name without .json, for the fuzz targets of package graph_test too.
func KindFixtures(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "kinds", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = string(b)
	}
	return out
}

// Each kind's documented example, decoded by its kind: the status in our
// five and Graph's own word, terminal or not, progress, and the fields
// that become msgraph_lro_info's labels.
func TestDecodeEveryKindsExample(t *testing.T) {
	fx := KindFixtures(t)
	for _, tc := range []struct {
		file, scope, status, raw string
		pct                      float64 // -1: none
		typ, loc, detail         string
		errors, warnings         int // -1: no validation arrays
	}{
		{"teams", ScopeTeams, StatusSucceeded, "succeeded", -1, "archiveTeam", "/groups('fa4aa5a2-a75b-4769-86f4-9e2742a18fda')/team", "", -1, -1},
		{"searchConnections", ScopeSearchConnections, StatusFailed, "failed", -1, "", "", "", -1, -1},
		{"searchConnections-completed-derived", ScopeSearchConnections, StatusSucceeded, "completed", -1, "", "", "", -1, -1},
		{"ediscovery", ScopeEdiscovery, StatusRunning, "running", 50, "addToReviewSet", "", "", -1, -1},
		{"ediscovery-list-item", ScopeEdiscovery, StatusSucceeded, "succeeded", 100, "holdUpdate", "", "", -1, -1},
		{"ediscovery-partiallySucceeded-derived", ScopeEdiscovery, StatusFailed, "partiallySucceeded", 100, "addToReviewSet", "", "", -1, -1},
		{"attackSimulation", ScopeAttackSimulation, StatusNotStarted, "notStarted", 0, "createSimulation", "", "Creating new simulation", -1, -1},
		{"onenote", ScopeOnenote, StatusUnknownFutureValue, "status-value", -1, "", "resourceLocation-value", "", -1, -1},
		{"onenote-running-derived", ScopeOnenote, StatusRunning, "running", 50, "", "resourceLocation-value", "", -1, -1},
		{"print", ScopePrint, StatusSucceeded, "succeeded", -1, "", "", "The operation has completed successfully.", -1, -1},
		{"engagement", ScopeEngagement, StatusSucceeded, "succeeded", -1, "createCommunity",
			"https://graph.microsoft.com/v1.0/employeeExperience/communities('eyJfdHlwZSI6Ikdyb3VwIiwiaWQiOiI4MzIxMjc1In0')", "", -1, -1},
		{"siteLists", ScopeSiteLists, StatusNotStarted, "notStarted", -1, "contentTypeCopy", "", "", -1, -1},
		{"industryData", ScopeIndustryData, StatusSucceeded, "succeeded", -1, "",
			"https://graph.microsoft.com/beta/industryData/dataConnectors/022da4a0-c239-4b07-abed-08dad8e7a07a", "", 1, 2},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, ok := fx[tc.file]
			if !ok {
				t.Fatalf("no fixture %s", tc.file)
			}
			for _, scope := range []string{tc.scope, ScopeCustom} {
				op, err := DecodeOperationOf(scope, []byte(body))
				if err != nil {
					t.Fatalf("%s: %v", scope, err)
				}
				if op.Status != tc.status || op.RawStatus != tc.raw {
					t.Errorf("%s: status %q (raw %q), want %q (raw %q)", scope, op.Status, op.RawStatus, tc.status, tc.raw)
				}
				if Terminal(op.Status) != (tc.status == StatusSucceeded || tc.status == StatusFailed) {
					t.Errorf("%s: Terminal(%q) = %v", scope, op.Status, Terminal(op.Status))
				}
				if got := map[bool]float64{true: op.PercentageComplete, false: -1}[op.HasPercentage]; got != tc.pct {
					t.Errorf("%s: progress %v (has %v), want %v", scope, op.PercentageComplete, op.HasPercentage, tc.pct)
				}
				if op.Type != tc.typ || op.ResourceLocation != tc.loc || op.StatusDetail != tc.detail {
					t.Errorf("%s: type %q, location %q, detail %q; want %q, %q, %q", scope, op.Type, op.ResourceLocation, op.StatusDetail, tc.typ, tc.loc, tc.detail)
				}
				we, ww := tc.errors, tc.warnings
				if we < 0 {
					we, ww = 0, 0
				}
				if op.HasValidation != (tc.errors >= 0) || op.ValidationErrors != we || op.ValidationWarnings != ww {
					t.Errorf("%s: validation %v %d errors %d warnings, want %d, %d", scope, op.HasValidation, op.ValidationErrors, op.ValidationWarnings, tc.errors, tc.warnings)
				}
				if len(op.TimestampErrors) > 0 || op.ProgressError != "" {
					t.Errorf("%s: notes %q %q", scope, op.TimestampErrors, op.ProgressError)
				}
			}
		})
	}
}

// Each kind reads its own vocabulary: a word of another kind's is
// unknownFutureValue there, while custom reads the union of them all.
func TestEachKindsVocabulary(t *testing.T) {
	for _, tc := range []struct{ scope, raw, want string }{
		{ScopeTeams, "inProgress", StatusRunning},
		{ScopeTeams, "INPROGRESS", StatusRunning},
		{ScopeTeams, "invalid", StatusUnknownFutureValue},
		{ScopeTeams, "completed", StatusUnknownFutureValue},
		{ScopeSearchConnections, "inprogress", StatusRunning},
		{ScopeSearchConnections, "completed", StatusSucceeded},
		{ScopeSearchConnections, "unspecified", StatusUnknownFutureValue},
		{ScopeSearchConnections, "running", StatusUnknownFutureValue},
		{ScopeEdiscovery, "submissionFailed", StatusFailed},
		{ScopeEdiscovery, "partiallySucceeded", StatusFailed},
		{ScopeOnenote, "notstarted", StatusNotStarted},
		{ScopeOnenote, "completed", StatusSucceeded},
		{ScopeEngagement, "skipped", StatusSucceeded},
		{ScopeIndustryData, "completed", StatusUnknownFutureValue},
		{ScopeRoleManagementAlerts, "inProgress", StatusUnknownFutureValue},
		{ScopeCustom, "completed", StatusSucceeded},
		{ScopeCustom, "inProgress", StatusRunning},
		{ScopeCustom, "partiallySucceeded", StatusFailed},
		{ScopeCustom, "skipped", StatusSucceeded},
		{ScopeCustom, "paused", StatusUnknownFutureValue},
	} {
		if got := LookupKind(tc.scope).Normalize(tc.raw); got != tc.want {
			t.Errorf("%s: %q = %q, want %q", tc.scope, tc.raw, got, tc.want)
		}
	}
}

// Graph's bad answers cost the status, or only the bad series, never more:
// a status of another type or an object without a state is no status (the
// fetch fails and the last good values stay); a progress that is no
// number, or outside 0 to 100, is left out and the status kept.
func TestDecodeBadKindAnswers(t *testing.T) {
	for _, tc := range []struct{ scope, body string }{
		{ScopeTeams, `{"id":"x","status":7}`},
		{ScopeTeams, `{"id":"x","status":{"state":"succeeded"}}`}, // an object only where the kind sends one
		{ScopePrint, `{"id":"x","status":{"description":"no state"}}`},
		{ScopePrint, `{"id":"x","status":{"state":3}}`},
		{ScopePrint, `{"id":"x","status":["succeeded"]}`},
		{ScopeCustom, `{"id":"x","status":{"state":null}}`},
		{ScopeCustom, `{"id":"x","status":true}`},
	} {
		if _, err := DecodeOperationOf(tc.scope, []byte(tc.body)); !errors.Is(err, ErrNoStatus) {
			t.Errorf("%s %s: %v, want ErrNoStatus", tc.scope, tc.body, err)
		}
	}
	for _, tc := range []struct{ scope, body, note string }{
		{ScopeOnenote, `{"status":"running","percentComplete":"fifty"}`, `percentComplete: "fifty" is not a number`},
		{ScopeOnenote, `{"status":"running","percentComplete":"150"}`, `percentComplete: 150 is not between 0 and 100`},
		{ScopeEdiscovery, `{"status":"running","percentProgress":-1}`, `percentProgress: -1 is not between 0 and 100`},
		{ScopeAttackSimulation, `{"status":"running","percentageCompleted":100.5}`, `percentageCompleted: 100.5 is not between 0 and 100`},
		{ScopeSites, `{"status":"running","percentageComplete":{"value":3}}`, `percentageComplete: not a number`},
		{ScopeCustom, `{"status":"running","percentComplete":"NaN"}`, `percentComplete: NaN is not between 0 and 100`},
	} {
		op, err := DecodeOperationOf(tc.scope, []byte(tc.body))
		if err != nil || op.Status != StatusRunning || op.HasPercentage || op.ProgressError != tc.note {
			t.Errorf("%s %s: %+v, %v; want running, no progress, note %q", tc.scope, tc.body, op, err, tc.note)
		}
	}
	op, err := DecodeOperationOf(ScopeOnenote, []byte(`{"status":"running","percentComplete":" 42.5 "}`))
	if err != nil || !op.HasPercentage || op.PercentageComplete != 42.5 {
		t.Errorf("a number in a string: %+v, %v", op, err)
	}
	op, err = DecodeOperationOf(ScopeIndustryData, []byte(`{"status":"succeeded","errors":"RequiredFileNotFound","warnings":null}`))
	if err != nil || op.HasValidation || op.Status != StatusSucceeded {
		t.Errorf("validation that is no array: %+v, %v; want the status and no counts", op, err)
	}
}

// Every kind is a scope, and every one of its forms of URL names it: the
// plain path, OData's key syntax, another case, and (Teams' Location)
// no version.
func TestEveryKindFromItsURL(t *testing.T) {
	const ep = "https://graph.microsoft.com"
	ids := map[string]string{KeyUser: "alice@contoso.com", KeySite: "contoso.sharepoint.com,g1,g2", KeyList: "documents",
		KeyTeam: "dbd8de4f", KeyConnection: "contosohr", KeyCase: "b0073e4e"}
	for _, k := range Kinds {
		if k.Scope == ScopeCustom {
			continue
		}
		ref := OperationRef{Scope: k.Scope, ID: "op-1"}
		for _, p := range k.Parents {
			ref.SetParent(p, ids[p])
		}
		plain := ref.URLPath()
		// OData key syntax: every parent and the id as name('key').
		keyed := "/" + k.Version
		segs := k.segments()
		for i := 0; i < len(segs); i++ {
			if i+1 < len(segs) && strings.HasPrefix(segs[i+1], "{") {
				v := ref.ID
				if segs[i+1] != "{id}" {
					v = ref.Parent(strings.Trim(segs[i+1], "{}"))
				}
				keyed += "/" + segs[i] + "('" + v + "')"
				i++
				continue
			}
			keyed += "/" + segs[i]
		}
		forms := []string{ep + plain, plain, ep + keyed, strings.ToUpper(keyed[:6]) + strings.ToLower(keyed[6:])}
		if k.Version == "v1.0" {
			forms = append(forms, strings.TrimPrefix(keyed, "/v1.0"), strings.TrimPrefix(plain, "/v1.0"))
		}
		for _, raw := range forms {
			got, err := ParseOperationURL(ep, raw)
			if err != nil {
				t.Errorf("%s: ParseOperationURL(%q): %v", k.Scope, raw, err)
				continue
			}
			if got.Scope != k.Scope || got.Key() != ref.Key() || !strings.EqualFold(got.ID, ref.ID) {
				t.Errorf("%s: ParseOperationURL(%q) = %+v, want scope %s, key %s", k.Scope, raw, got, k.Scope, ref.Key())
			}
		}
	}
	// Paths not ending in operations/{id} but in …Operations/{id} are
	// custom operations, kept as they are.
	got, err := ParseOperationURL(ep, "/v1.0/solutions/bookingBusinesses('x')/richLongRunningOperations('7')")
	if err != nil || got.Scope != ScopeCustom || got.Path != "/v1.0/solutions/bookingBusinesses/x/richLongRunningOperations/7" || got.ID != "7" {
		t.Errorf("custom …Operations/{id}: %+v, %v", got, err)
	}
	if _, err := ParseOperationURL(ep, "/v1.0/teams('a'b')/operations('c')"); err == nil || !strings.Contains(err.Error(), "unescaped quote") {
		t.Errorf("a key with a bare quote: %v", err)
	}
}

// The table is the one place that says which kinds Graph reads only with a
// signed-in account's token: password resets, Universal Print, and
// eDiscovery (each GET page: "Application: Not supported").
func TestDelegatedOnlyComesFromTheTable(t *testing.T) {
	var got []string
	for _, s := range Scopes {
		if DelegatedOnly(s) {
			got = append(got, s)
		}
	}
	sort.Strings(got)
	if want := []string{ScopeAuthenticationMethods, ScopeEdiscovery, ScopePrint}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("delegated only: %v, want %v", got, want)
	}
	if !(OperationRef{Scope: ScopePrint}).NeedsDelegated() || (OperationRef{Scope: ScopeTeams}).NeedsDelegated() {
		t.Error("NeedsDelegated does not follow the table")
	}
	if err := ErrNeedsDelegated(ScopePrint, "contoso"); !strings.Contains(err.Error(), "no application permission for print operations") {
		t.Errorf("ErrNeedsDelegated: %v", err)
	}
	for _, k := range Kinds {
		if k.Scope != ScopeCustom && (k.Permission == "" || k.Version == "" || k.Path == "" || len(k.Statuses) == 0) {
			t.Errorf("%s: the table's row is incomplete: %+v", k.Scope, k)
		}
	}
}
