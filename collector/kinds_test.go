package collector

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// fixture is the documented example of graph/testdata/kinds/name.json, as
// the fields Graph serves.
func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "graph", "testdata", "kinds", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	delete(m, "_source")
	return m
}

// kindCase is one operation of each kind: Microsoft's documented example,
// served where the kind's request goes, and what the exporter must show.
type kindCase struct {
	fixture, op string
	ref         graph.OperationRef
	labels      string // tenant, scope, operation_id, name
	status      string
	info        string // msgraph_lro_info's own labels
	completion  string // msgraph_lro_completion_ratio, "" for none
}

const (
	kTeam     = "2b8a0b2c-0000-4000-8000-000000000001"
	kSite     = "contoso.sharepoint.com,2c712a2f-f0a6-4b1b-8b25-7a1f6b0f1c4e,8b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	kEngageID = "eyJfdHlwZSI6IkxvbmdSdW5uaW5nT3BlcmF0aW9uIiwiaWQiOiI0ZmVhMjE5Ni0yZTRjLTQ4MzctYTlhNi1iMTVjOTBhNTM2ODkiLCJvcGVyYXRpb24iOiJDcmVhdGVDb21tdW5pdHkifQ"
)

func kindLabels(scope, id string) string {
	return `tenant="contoso",scope="` + scope + `",operation_id="` + id + `",name=""`
}

var kindCases = []kindCase{
	{"teams", `{scope: teams, team: ` + kTeam + `, id: 86cfb3a3-4860-4a28-ad9f-ebe01d7523c8}`,
		graph.OperationRef{Scope: graph.ScopeTeams, Team: kTeam, ID: "86cfb3a3-4860-4a28-ad9f-ebe01d7523c8"},
		kindLabels("teams", "86cfb3a3-4860-4a28-ad9f-ebe01d7523c8"), "succeeded",
		`resource_location="/groups('fa4aa5a2-a75b-4769-86f4-9e2742a18fda')/team",status_detail="",type="archiveTeam",error_code="",raw_status="succeeded"`, ""},
	{"searchConnections", `{scope: searchConnections, connection: contosohr, id: 3ed1595a-4bae-43c2-acda-ef973e581323}`,
		graph.OperationRef{Scope: graph.ScopeSearchConnections, Connection: "contosohr", ID: "3ed1595a-4bae-43c2-acda-ef973e581323"},
		kindLabels("searchConnections", "3ed1595a-4bae-43c2-acda-ef973e581323"), "failed",
		`resource_location="",status_detail="",type="",error_code="",raw_status="failed"`, ""},
	{"ediscovery", `{scope: ediscovery, case: b0073e4e-4184-41c6-9eb7-8c8cc3e2288b, id: 850c2f64b1ee44a4a69729327aac2b04}`,
		graph.OperationRef{Scope: graph.ScopeEdiscovery, Case: "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b", ID: "850c2f64b1ee44a4a69729327aac2b04"},
		kindLabels("ediscovery", "850c2f64b1ee44a4a69729327aac2b04"), "running",
		`resource_location="",status_detail="",type="addToReviewSet",error_code="",raw_status="running"`, "0.5"},
	{"attackSimulation", `{scope: attackSimulation, id: 2f5548d1-0dd8-4cc8-9de0-e0d6ec7ea3dc}`,
		graph.OperationRef{Scope: graph.ScopeAttackSimulation, ID: "2f5548d1-0dd8-4cc8-9de0-e0d6ec7ea3dc"},
		kindLabels("attackSimulation", "2f5548d1-0dd8-4cc8-9de0-e0d6ec7ea3dc"), "notStarted",
		`resource_location="",status_detail="Creating new simulation",type="createSimulation",error_code="",raw_status="notStarted"`, "0"},
	{"onenote-running-derived", `{scope: onenote, user: alice@contoso.com, id: id-value}`,
		graph.OperationRef{Scope: graph.ScopeOnenote, User: "alice@contoso.com", ID: "id-value"},
		kindLabels("onenote", "id-value"), "running",
		`resource_location="resourceLocation-value",status_detail="",type="",error_code="",raw_status="running"`, "0.5"},
	{"print", `{scope: print, id: 81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4}`,
		graph.OperationRef{Scope: graph.ScopePrint, ID: "81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4"},
		kindLabels("print", "81f4cca3-b3b7-47ea-9f88-7ddbf7208ef4"), "succeeded",
		`resource_location="",status_detail="The operation has completed successfully.",type="",error_code="",raw_status="succeeded"`, ""},
	{"engagement", `{scope: engagement, id: ` + kEngageID + `}`,
		graph.OperationRef{Scope: graph.ScopeEngagement, ID: kEngageID},
		kindLabels("engagement", kEngageID), "succeeded",
		`resource_location="https://graph.microsoft.com/v1.0/employeeExperience/communities('eyJfdHlwZSI6Ikdyb3VwIiwiaWQiOiI4MzIxMjc1In0')",status_detail="",type="createCommunity",error_code="",raw_status="succeeded"`, ""},
	{"siteLists", `{scope: siteLists, site: "` + kSite + `", list: Documents, id: "contentTypeCopy,0x010100298A15181454D84EBB62EDD7559FCBFE"}`,
		graph.OperationRef{Scope: graph.ScopeSiteLists, Site: kSite, List: "Documents", ID: "contentTypeCopy,0x010100298A15181454D84EBB62EDD7559FCBFE"},
		kindLabels("siteLists", "contentTypeCopy,0x010100298A15181454D84EBB62EDD7559FCBFE"), "notStarted",
		`resource_location="",status_detail="",type="contentTypeCopy",error_code="",raw_status="notStarted"`, ""},
	{"industryData", `{scope: industryData, id: d194fa3e-18c9-47a1-0fb1-08dad8e7a876}`,
		graph.OperationRef{Scope: graph.ScopeIndustryData, ID: "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"},
		kindLabels("industryData", "d194fa3e-18c9-47a1-0fb1-08dad8e7a876"), "succeeded",
		`resource_location="https://graph.microsoft.com/beta/industryData/dataConnectors/022da4a0-c239-4b07-abed-08dad8e7a07a",status_detail="",type="",error_code="",raw_status="succeeded"`, ""},
}

// stateSet is msgraph_lro_status of one operation: 1 for status, 0 for
// the other four.
func stateSet(labels, status string) string {
	var b strings.Builder
	for _, s := range []string{"notStarted", "running", "succeeded", "failed", "unknownFutureValue"} {
		v := "0"
		if s == status {
			v = "1"
		}
		b.WriteString("msgraph_lro_status{" + labels + `,status="` + s + `"} ` + v + "\n")
	}
	return b.String()
}

// wantKinds is the exposition every kind's documented example must give.
func wantKinds() string {
	var b strings.Builder
	b.WriteString("# HELP msgraph_lro_status x\n# TYPE msgraph_lro_status gauge\n")
	for _, c := range kindCases {
		b.WriteString(stateSet(c.labels, c.status))
	}
	b.WriteString("# HELP msgraph_lro_completion_ratio x\n# TYPE msgraph_lro_completion_ratio gauge\n")
	for _, c := range kindCases {
		if c.completion != "" {
			b.WriteString("msgraph_lro_completion_ratio{" + c.labels + "} " + c.completion + "\n")
		}
	}
	b.WriteString("# HELP msgraph_lro_info x\n# TYPE msgraph_lro_info gauge\n")
	for _, c := range kindCases {
		b.WriteString("msgraph_lro_info{" + c.labels + "," + c.info + "} 1\n")
	}
	id := kindLabels("industryData", "d194fa3e-18c9-47a1-0fb1-08dad8e7a876")
	b.WriteString("# HELP msgraph_lro_validation_errors x\n# TYPE msgraph_lro_validation_errors gauge\nmsgraph_lro_validation_errors{" + id + "} 1\n")
	b.WriteString("# HELP msgraph_lro_validation_warnings x\n# TYPE msgraph_lro_validation_warnings gauge\nmsgraph_lro_validation_warnings{" + id + "} 2\n")
	b.WriteString("# HELP msgraph_lro_up x\n# TYPE msgraph_lro_up gauge\n")
	for _, c := range kindCases {
		b.WriteString("msgraph_lro_up{" + c.labels + "} 1\n")
	}
	return b.String()
}

// Every kind's documented example, served by the simulator where the
// kind's request goes, read through the real MSAL and Graph clients, alone
// and in $batch requests (one per API version and credential): the state
// set, the progress, the info labels with Graph's raw status, and
// industryData's validation counts. Terminal statuses are then kept for
// terminal_cache_ttl while live ones are asked for again after cache_ttl.
func TestEveryKindsDocumentedExample(t *testing.T) {
	for _, batch := range []bool{true, false} {
		t.Run(map[bool]string{true: "batch", false: "single"}[batch], func(t *testing.T) {
			var ops []string
			for _, c := range kindCases {
				ops = append(ops, c.op)
			}
			e := newEnv(t, "  cache_ttl: 30s\n  terminal_cache_ttl: 1h\n  batch: "+map[bool]string{true: "true", false: "false"}[batch], ops...)
			for _, c := range kindCases {
				e.tenant.SetOperation(c.ref.URLPath(), fixture(t, c.fixture))
			}
			e.tenant.ResetCounters()
			e.expectHelpless(5*time.Second, wantKinds(), "msgraph_lro_status", "msgraph_lro_completion_ratio", "msgraph_lro_info",
				"msgraph_lro_validation_errors", "msgraph_lro_validation_warnings", "msgraph_lro_up")
			// Batched: one $batch of the six v1.0 kinds read with the app's
			// token, one of the two read with the signed-in account's
			// (print, eDiscovery), and a GET for the one beta operation.
			want := map[bool]int{true: 3, false: len(kindCases)}[batch]
			if got := e.tenant.Requests(); got != want {
				t.Errorf("Graph got %d requests, want %d", got, want)
			}
			e.clock.Add(31 * time.Second)
			e.collect()
			for _, c := range kindCases {
				want := 2
				if graph.Terminal(c.status) {
					want = 1
				}
				if got := e.tenant.RequestsFor(c.ref.URLPath()); got != want {
					t.Errorf("%s (%s): asked for %d times over two scrapes 31s apart, want %d", c.ref.Scope, c.status, got, want)
				}
			}
		})
	}
}

// expectHelpless is expect for text whose HELP lines are placeholders
// ("# HELP name x"): only the samples are compared; the HELP texts are
// the golden file's (testdata/demo.metrics at the root) to check.
func (e *env) expectHelpless(timeout time.Duration, want string, names ...string) {
	e.t.Helper()
	e.expect(timeout, withHelp(e.t, want), names...)
}

// withHelp puts each metric's real HELP text in place of a placeholder.
func withHelp(t *testing.T, text string) string {
	t.Helper()
	d := newDescs(nil)
	help := map[string]string{}
	for _, desc := range []*descsHelp{
		{d.status.String(), "msgraph_lro_status"}, {d.completion.String(), "msgraph_lro_completion_ratio"},
		{d.info.String(), "msgraph_lro_info"}, {d.validationErrors.String(), "msgraph_lro_validation_errors"},
		{d.validationWarnings.String(), "msgraph_lro_validation_warnings"}, {d.up.String(), "msgraph_lro_up"},
		{d.lastSuccess.String(), "msgraph_lro_last_success_timestamp_seconds"}, {d.overLimit.String(), "msgraph_lro_operations_over_limit"},
		{d.operations.String(), "msgraph_lro_operations"},
	} {
		help[desc.name] = helpOf(desc.desc)
	}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(rest, " ")
			line = "# HELP " + name + " " + help[name]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

type descsHelp struct{ desc, name string }

// helpOf reads the help text out of a Desc's String().
func helpOf(s string) string {
	_, rest, _ := strings.Cut(s, `help: "`)
	h, _, found := strings.Cut(rest, `", unit: "`)
	if !found {
		h, _, _ = strings.Cut(rest, `", constLabels`)
	}
	return strings.ReplaceAll(h, `\"`, `"`)
}

// A search connection's schema operation that completed is final: it is
// kept for terminal_cache_ttl and not asked for again every cache_ttl.
func TestCompletedSearchSchemaIsCachedAsTerminal(t *testing.T) {
	e := newEnv(t, "  cache_ttl: 30s\n  terminal_cache_ttl: 1h",
		`{scope: searchConnections, connection: contosohr, id: 3ed1595a-4bae-43c2-acda-ef973e581323}`)
	ref := graph.OperationRef{Scope: graph.ScopeSearchConnections, Connection: "contosohr", ID: "3ed1595a-4bae-43c2-acda-ef973e581323"}
	e.tenant.SetOperation(ref.URLPath(), fixture(t, "searchConnections-completed-derived"))
	l := kindLabels("searchConnections", ref.ID)
	want := "# HELP msgraph_lro_status x\n# TYPE msgraph_lro_status gauge\n" + stateSet(l, "succeeded") +
		"# HELP msgraph_lro_info x\n# TYPE msgraph_lro_info gauge\n" +
		"msgraph_lro_info{" + l + `,resource_location="",status_detail="",type="",error_code="",raw_status="completed"} 1` + "\n"
	e.expectHelpless(5*time.Second, want, "msgraph_lro_status", "msgraph_lro_info")
	for _, step := range []time.Duration{31 * time.Second, 10 * time.Minute, 40 * time.Minute} {
		e.clock.Add(step)
		e.collect()
	}
	if got := e.tenant.RequestsFor(ref.URLPath()); got != 1 {
		t.Errorf("the completed operation was asked for %d times within terminal_cache_ttl, want 1", got)
	}
	e.clock.Add(20 * time.Minute) // past the hour
	e.collect()
	if got := e.tenant.RequestsFor(ref.URLPath()); got != 2 {
		t.Errorf("after terminal_cache_ttl: asked for %d times, want 2", got)
	}
}

// Location headers as Teams and eDiscovery send them, pasted as they are:
// OData key syntax, Teams' without a version, eDiscovery's in its own
// case. Each is watched with its kind's scope, its fields read from the
// path, and read without error.
func TestPastedKeySyntaxLocations(t *testing.T) {
	tn := graphtest.NewTenant(t)
	teamsLoc := tn.GraphEndpoint + "/teams('dbd8de4f-5d47-48da-87f1-594bed003375')/operations('3a6fdce1-c261-48bc-89de-1cfef658c0d5')"
	caseLoc := tn.GraphEndpoint + "/v1.0/security/cases/ediscoverycases('b0073e4e-4184-41c6-9eb7-8c8cc3e2288b')/operations('850c2f64b1ee44a4a69729327aac2b04')"
	e := newEnvFor(t, tn, "", `{url: "`+teamsLoc+`"}`, `{scope: ediscovery, url: "`+caseLoc+`"}`)
	teams := graph.OperationRef{Scope: graph.ScopeTeams, Team: "dbd8de4f-5d47-48da-87f1-594bed003375", ID: "3a6fdce1-c261-48bc-89de-1cfef658c0d5"}
	ediscovery := graph.OperationRef{Scope: graph.ScopeEdiscovery, Case: "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b", ID: "850c2f64b1ee44a4a69729327aac2b04"}
	for i, want := range []graph.OperationRef{teams, ediscovery} {
		got := e.cfg.Operations[i].Ref
		if got.Scope != want.Scope || got.ID != want.ID || got.Team != want.Team || got.Case != want.Case || got.URLPath() != want.URLPath() {
			t.Errorf("operations[%d]: %+v, want %+v at %s", i, got, want, want.URLPath())
		}
	}
	team := fixture(t, "teams")
	team["id"], team["status"] = teams.ID, "inProgress"
	tn.SetOperation(teams.URLPath(), team)
	tn.SetOperation(ediscovery.URLPath(), fixture(t, "ediscovery"))
	tl, cl := kindLabels("teams", teams.ID), kindLabels("ediscovery", ediscovery.ID)
	e.expectHelpless(5*time.Second, "# HELP msgraph_lro_status x\n# TYPE msgraph_lro_status gauge\n"+
		stateSet(tl, "running")+stateSet(cl, "running")+
		"# HELP msgraph_lro_up x\n# TYPE msgraph_lro_up gauge\n"+
		"msgraph_lro_up{"+tl+"} 1\nmsgraph_lro_up{"+cl+"} 1\n",
		"msgraph_lro_status", "msgraph_lro_up")
	if tn.RequestsFor(teams.URLPath()) != 1 || tn.RequestsFor(ediscovery.URLPath()) != 1 {
		t.Errorf("requests: teams %d, ediscovery %d, want 1 each", tn.RequestsFor(teams.URLPath()), tn.RequestsFor(ediscovery.URLPath()))
	}
	if logs := e.logs.String(); strings.Contains(logs, "level=warn") || strings.Contains(logs, "level=error") {
		t.Errorf("logs:\n%s", logs)
	}
}

// SharePoint list operations are listed (GET /sites/{site}/lists/{list}/
// operations): a discovery job finds Microsoft's documented item, watches
// it under the list's scope with no GET of its own (the list carried it),
// and leaves the site's other list alone.
func TestDiscoverSharePointListOperations(t *testing.T) {
	tn := graphtest.NewTenant(t)
	item := fixture(t, "siteLists")
	ref := graph.OperationRef{Scope: graph.ScopeSiteLists, Site: kSite, List: "Documents", ID: item["id"].(string)}
	tn.SetOperation(ref.URLPath(), item)
	other := graph.OperationRef{Scope: graph.ScopeSiteLists, Site: kSite, List: "Invoices", ID: "contentTypeCopy,0x0102"}
	tn.SetOperation(other.URLPath(), map[string]any{"id": other.ID, "status": "running"})
	e, j := discoverEnv(t, tn, Job{Scope: graph.ScopeSiteLists, Site: kSite, List: "Documents"})
	if j.errors != 0 {
		t.Fatalf("the listing failed: %s", e.logs.String())
	}
	if got := watched(e); len(got) != 1 || got[0] != "discovery:"+ref.ID {
		t.Fatalf("watched %v, want the one operation of the Documents list", got)
	}
	l := kindLabels("siteLists", ref.ID)
	e.expectHelpless(5*time.Second, "# HELP msgraph_lro_status x\n# TYPE msgraph_lro_status gauge\n"+stateSet(l, "notStarted")+
		"# HELP msgraph_lro_info x\n# TYPE msgraph_lro_info gauge\n"+
		"msgraph_lro_info{"+l+`,resource_location="",status_detail="",type="contentTypeCopy",error_code="",raw_status="notStarted"} 1`+"\n",
		"msgraph_lro_status", "msgraph_lro_info")
	list := "/v1.0/sites/" + kSite + "/lists/Documents/operations"
	if tn.RequestsFor(list) != 1 || tn.RequestsFor(ref.URLPath()) != 0 {
		t.Errorf("requests: %d listings, %d GETs; want 1 and 0", tn.RequestsFor(list), tn.RequestsFor(ref.URLPath()))
	}
	if q := tn.LastQuery(list).Get("$select"); q != "id,createdDateTime,lastActionDateTime,resourceLocation,status,statusDetail,percentageComplete,type,error" {
		t.Errorf("listing's $select = %q", q)
	}
}

// Every kind is a /probe scope: its parents are parameters, and Graph is
// asked where the kind's request goes, with the credential it needs.
func TestProbeEveryKind(t *testing.T) {
	// The eDiscovery operation watched gives the tenant its sign-in.
	e := newEnv(t, "", kindCases[2].op)
	for _, c := range kindCases {
		e.tenant.SetOperation(c.ref.URLPath(), fixture(t, c.fixture))
	}
	for _, c := range kindCases {
		q := url.Values{"tenant": {"contoso"}, "scope": {c.ref.Scope}, "id": {c.ref.ID}}
		for _, p := range c.ref.Kind().Parents {
			q.Set(p, c.ref.Parent(p))
		}
		code, body := probeGet(t, e, q.Encode())
		want := "msgraph_lro_status{" + sortedLabels(c.labels+`,status="`+c.status+`"`) + "} 1\n"
		if code != 200 || !strings.Contains(body, "msgraph_lro_probe_success 1\n") || !strings.Contains(body, want) {
			t.Errorf("%s: /probe?%s = %d, want success and %q:\n%s", c.ref.Scope, q.Encode(), code, want, body)
		}
	}
	code, body := probeGet(t, e, "tenant=contoso&scope=teams&id=x")
	if code != 400 || body != "missing parameter team, which scope teams needs\n" {
		t.Errorf("teams without team: %d %q", code, body)
	}
	code, body = probeGet(t, e, "tenant=contoso&scope=print&id=x&case=y")
	if code != 400 || body != "parameter case is only for scope ediscovery\n" {
		t.Errorf("print with case: %d %q", code, body)
	}
}

// sortedLabels puts name="value" pairs in name order, as the exposition
// writes them.
func sortedLabels(s string) string {
	pairs := strings.Split(s, `",`)
	for i := range pairs[:len(pairs)-1] {
		pairs[i] += `"`
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// eDiscovery lists a case's operations (GET /security/cases/
// ediscoveryCases/{case}/operations), with the signed-in account's token
// as its operations are read: a discovery job finds Microsoft's documented
// item and watches it, the case's running operation beside it.
func TestDiscoverEdiscoveryCaseOperations(t *testing.T) {
	tn := graphtest.NewTenant(t)
	const caseID = "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b"
	item := fixture(t, "ediscovery-list-item")
	done := graph.OperationRef{Scope: graph.ScopeEdiscovery, Case: caseID, ID: item["id"].(string)}
	tn.SetOperation(done.URLPath(), item)
	running := kindCases[2].ref // the case's running addToReviewSet operation
	tn.SetOperation(running.URLPath(), fixture(t, "ediscovery"))
	// The configured operation gives the tenant its delegated sign-in.
	e, j := discoverEnv(t, tn, Job{Scope: graph.ScopeEdiscovery, Case: caseID}, kindCases[2].op)
	if j.errors != 0 {
		t.Fatalf("the listing failed: %s", e.logs.String())
	}
	got := watched(e)
	sort.Strings(got)
	if want := []string{"config:" + running.ID, "discovery:" + done.ID}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("watched %v, want %v (the running one both configured and listed, watched once)", got, want)
	}
	l := kindLabels("ediscovery", done.ID)
	e.expectHelpless(5*time.Second, "# HELP msgraph_lro_info x\n# TYPE msgraph_lro_info gauge\n"+
		"msgraph_lro_info{"+kindCases[2].labels+","+kindCases[2].info+"} 1\n"+
		"msgraph_lro_info{"+l+`,resource_location="",status_detail="",type="holdUpdate",error_code="",raw_status="succeeded"} 1`+"\n"+
		"# HELP msgraph_lro_completion_ratio x\n# TYPE msgraph_lro_completion_ratio gauge\n"+
		"msgraph_lro_completion_ratio{"+kindCases[2].labels+"} 0.5\nmsgraph_lro_completion_ratio{"+l+"} 1\n",
		"msgraph_lro_info", "msgraph_lro_completion_ratio")
	if n := tn.RequestsFor("/v1.0/security/cases/ediscoveryCases/" + caseID + "/operations"); n != 1 {
		t.Errorf("%d listings, want 1", n)
	}
}
