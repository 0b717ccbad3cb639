package graph

import "strings"

// The table of operation kinds: every kind of Graph long-running operation
// the exporter reads, and how. Adding a kind touches this table and its
// test fixtures (graph/testdata/kinds/) only; the config, /probe, URL
// inference, discovery, the credential a request carries and the
// decoding of its answer all follow from it.
//
// Each row is read from Microsoft's own pages (microsoft-graph-docs-contrib,
// api-reference/{version}/resources/{Resource}.md for the fields and the
// status vocabulary, and the kind's GET page for its permissions).

// Kind is one kind of long-running operation.
type Kind struct {
	// Scope is the `scope` label and config value.
	Scope string
	// Resource is Graph's name of the type answered.
	Resource string
	// Version is the API version of the request.
	Version string
	// Path is the request path after the version: literal segments and
	// {key} placeholders, one per Parents key and {id} last.
	Path string
	// Parents are the config keys (and /probe parameters) that name the
	// operation's parents, in path order.
	Parents []string
	// Lists says Graph lists these operations (GET Path without /{id}):
	// they can be discovered. roleManagementAlerts lists the alerts, whose
	// refresh operations are then watched.
	Lists bool
	// Delegated says Graph allows no application permission ("Application:
	// Not supported" on the GET page): only a signed-in account's token.
	Delegated bool
	// Permission is the least privileged permission the GET page names,
	// of the type the exporter uses (application unless Delegated).
	Permission string
	// Select is the $select the request carries ("" for none: the kind's
	// page documents none, or names fields of derived types).
	Select string
	// Statuses maps Graph's status values (any case) to one of Statuses.
	// A value it lacks counts as unknownFutureValue.
	Statuses map[string]string
	// StatusObject says status is an object, {state, description}, as
	// Universal Print sends it; its description is the status detail.
	StatusObject bool
	// Progress is the field holding percent complete, 0 to 100 ("" none).
	Progress string
	// TypeField is the field that names what the operation does.
	TypeField string
	// LocationField holds the URL of the resource made or changed.
	LocationField string
	// Validation says the answer may carry errors and warnings arrays
	// (industryData's fileValidateOperation) that count even when the
	// operation succeeded.
	Validation bool
}

// Scope names: the `scope` label and the `scope` config key.
const (
	ScopeRoleManagementAlerts  = "roleManagementAlerts"
	ScopeAuthenticationMethods = "authenticationMethods"
	ScopeIndustryData          = "industryData"
	ScopeSites                 = "sites"
	ScopeSiteLists             = "siteLists"
	ScopeTeams                 = "teams"
	ScopeSearchConnections     = "searchConnections"
	ScopeEdiscovery            = "ediscovery"
	ScopeAttackSimulation      = "attackSimulation"
	ScopeOnenote               = "onenote"
	ScopePrint                 = "print"
	ScopeEngagement            = "engagement"
	ScopeCustom                = "custom"
)

// Parent keys: config keys and /probe parameters naming an operation's
// parents.
const (
	KeyUser       = "user"
	KeySite       = "site"
	KeyList       = "list"
	KeyTeam       = "team"
	KeyConnection = "connection"
	KeyCase       = "case"
)

// ParentKeys are every kind's parent keys, in the order errors list them.
var ParentKeys = []string{KeyUser, KeySite, KeyList, KeyTeam, KeyConnection, KeyCase}

// Status vocabularies, keyed by Graph's value lower-cased.
var (
	// longRunningOperationStatus: notStarted, running, succeeded, failed,
	// unknownFutureValue.
	lroStatuses = map[string]string{
		"notstarted": StatusNotStarted, "running": StatusRunning, "succeeded": StatusSucceeded,
		"failed": StatusFailed, "unknownfuturevalue": StatusUnknownFutureValue,
	}
	// engagementAsyncOperation's page adds skipped: Graph decided there
	// was nothing to do, and it never changes again.
	engagementStatuses = with(lroStatuses, map[string]string{"skipped": StatusSucceeded})
	// teamsAsyncOperationStatus: invalid, notStarted, inProgress,
	// succeeded, failed, unknownFutureValue. invalid is the enum's zero
	// value, not a verdict: it says nothing of how the operation went.
	teamsStatuses = map[string]string{
		"invalid": StatusUnknownFutureValue, "notstarted": StatusNotStarted, "inprogress": StatusRunning,
		"succeeded": StatusSucceeded, "failed": StatusFailed, "unknownfuturevalue": StatusUnknownFutureValue,
	}
	// connectionOperationStatus: unspecified, inprogress, completed,
	// failed, unknownFutureValue.
	connectionStatuses = map[string]string{
		"unspecified": StatusUnknownFutureValue, "inprogress": StatusRunning, "completed": StatusSucceeded,
		"failed": StatusFailed, "unknownfuturevalue": StatusUnknownFutureValue,
	}
	// caseOperationStatus: notStarted, submissionFailed, running,
	// succeeded, partiallySucceeded, failed. submissionFailed never ran and
	// never will; partiallySucceeded "completed, but there were errors":
	// both are terminal and both are failures to page on, the raw status
	// saying which.
	caseStatuses = map[string]string{
		"notstarted": StatusNotStarted, "submissionfailed": StatusFailed, "running": StatusRunning,
		"succeeded": StatusSucceeded, "partiallysucceeded": StatusFailed, "failed": StatusFailed,
	}
	// onenoteOperation: notstarted, running, completed, failed.
	onenoteStatuses = map[string]string{
		"notstarted": StatusNotStarted, "running": StatusRunning, "completed": StatusSucceeded, "failed": StatusFailed,
	}
)

func with(a, b map[string]string) map[string]string {
	m := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// richSelect are the fields of a richLongRunningOperation we use.
const richSelect = selectFields + ",percentageComplete,type,error"

// Kinds is the table, in the order DESIGN.md gives; custom is last.
var Kinds = []*Kind{
	{Scope: ScopeRoleManagementAlerts, Resource: "longRunningOperation", Version: "beta",
		Path: "/identityGovernance/roleManagementAlerts/operations/{id}", Lists: true,
		Permission: "RoleManagementAlert.Read.Directory", Select: selectFields, Statuses: lroStatuses},
	{Scope: ScopeAuthenticationMethods, Resource: "longRunningOperation", Version: "beta",
		Path: "/users/{user}/authentication/operations/{id}", Parents: []string{KeyUser}, Delegated: true,
		Permission: "UserAuthenticationMethod.Read.All", Select: selectFields, Statuses: lroStatuses},
	// No $select: errors and warnings belong to the derived
	// fileValidateOperation, which a $select on the base type cannot name.
	{Scope: ScopeIndustryData, Resource: "longRunningOperation, fileValidateOperation", Version: "beta",
		Path: "/external/industryData/operations/{id}", Lists: true,
		Permission: "IndustryData.ReadBasic.All", Statuses: lroStatuses, Validation: true},
	{Scope: ScopeSites, Resource: "richLongRunningOperation", Version: "v1.0",
		Path: "/sites/{site}/operations/{id}", Parents: []string{KeySite}, Lists: true,
		Permission: "Sites.Read.All", Select: richSelect, Statuses: lroStatuses, Progress: "percentageComplete", TypeField: "type"},
	{Scope: ScopeSiteLists, Resource: "richLongRunningOperation", Version: "v1.0",
		Path: "/sites/{site}/lists/{list}/operations/{id}", Parents: []string{KeySite, KeyList}, Lists: true,
		Permission: "Sites.Read.All", Select: richSelect, Statuses: lroStatuses, Progress: "percentageComplete", TypeField: "type"},
	{Scope: ScopeTeams, Resource: "teamsAsyncOperation", Version: "v1.0",
		Path: "/teams/{team}/operations/{id}", Parents: []string{KeyTeam},
		Permission: "Team.ReadBasic.All", Statuses: teamsStatuses, TypeField: "operationType", LocationField: "targetResourceLocation"},
	{Scope: ScopeSearchConnections, Resource: "externalConnectors.connectionOperation", Version: "v1.0",
		Path: "/external/connections/{connection}/operations/{id}", Parents: []string{KeyConnection},
		Permission: "ExternalConnection.Read.All", Statuses: connectionStatuses},
	{Scope: ScopeEdiscovery, Resource: "security.caseOperation", Version: "v1.0",
		Path: "/security/cases/ediscoveryCases/{case}/operations/{id}", Parents: []string{KeyCase}, Lists: true, Delegated: true,
		Permission: "eDiscovery.ReadWrite.All", Statuses: caseStatuses, Progress: "percentProgress", TypeField: "action"},
	{Scope: ScopeAttackSimulation, Resource: "attackSimulationOperation", Version: "v1.0",
		Path:       "/security/attackSimulation/operations/{id}",
		Permission: "AttackSimulation.Read.All", Statuses: lroStatuses, Progress: "percentageCompleted", TypeField: "type"},
	{Scope: ScopeOnenote, Resource: "onenoteOperation", Version: "v1.0",
		Path: "/users/{user}/onenote/operations/{id}", Parents: []string{KeyUser},
		Permission: "Notes.Read.All", Statuses: onenoteStatuses, Progress: "percentComplete"},
	{Scope: ScopePrint, Resource: "printOperation", Version: "v1.0",
		Path: "/print/operations/{id}", Delegated: true,
		Permission: "Printer.Create (and the Printer Administrator role)", Statuses: lroStatuses, StatusObject: true},
	{Scope: ScopeEngagement, Resource: "engagementAsyncOperation", Version: "v1.0",
		Path:       "/employeeExperience/engagementAsyncOperations/{id}",
		Permission: "Community.Read.All", Statuses: engagementStatuses, TypeField: "operationType"},
	customKind,
}

// customKind reads any operation: the union of every kind's vocabulary
// (they agree wherever they overlap), any of their progress, type and
// location fields, and a status string or object.
var customKind = &Kind{Scope: ScopeCustom, Statuses: unionStatuses()}

func unionStatuses() map[string]string {
	m := map[string]string{}
	for _, v := range []map[string]string{lroStatuses, engagementStatuses, teamsStatuses, connectionStatuses, caseStatuses, onenoteStatuses} {
		for k, s := range v {
			if old, ok := m[k]; ok && old != s {
				panic("graph: status " + k + " means " + old + " in one kind and " + s + " in another")
			}
			m[k] = s
		}
	}
	return m
}

var kindByScope = func() map[string]*Kind {
	m := make(map[string]*Kind, len(Kinds))
	for _, k := range Kinds {
		m[k.Scope] = k
	}
	return m
}()

// Scopes lists every scope the exporter knows, in the table's order.
var Scopes = func() []string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = k.Scope
	}
	return s
}()

// ListedScopes are the scopes discovery can list.
var ListedScopes = func() []string {
	var s []string
	for _, k := range Kinds {
		if k.Lists {
			s = append(s, k.Scope)
		}
	}
	return s
}()

// LookupKind returns the kind of a scope; custom for one it does not know.
func LookupKind(scope string) *Kind {
	if k, ok := kindByScope[scope]; ok {
		return k
	}
	return customKind
}

// ScopesWith lists the scopes whose kind has the parent key, in the
// table's order: what config and /probe errors name.
func ScopesWith(key string) []string {
	var out []string
	for _, k := range Kinds {
		if k.HasParent(key) {
			out = append(out, k.Scope)
		}
	}
	return out
}

// KnownScope reports whether s is one of Scopes.
func KnownScope(s string) bool { _, ok := kindByScope[s]; return ok }

// DelegatedOnly reports whether Graph allows no application permission for
// a scope's operations.
func DelegatedOnly(scope string) bool { return LookupKind(scope).Delegated }

// HasParent reports whether key names one of the kind's parents.
func (k *Kind) HasParent(key string) bool {
	for _, p := range k.Parents {
		if p == key {
			return true
		}
	}
	return false
}

// Normalize maps a status Graph sent to one of Statuses, by the kind's
// vocabulary, ignoring case.
func (k *Kind) Normalize(raw string) string {
	if s, ok := k.Statuses[strings.ToLower(raw)]; ok {
		return s
	}
	return StatusUnknownFutureValue
}

// segments are the kind's path segments after the version.
func (k *Kind) segments() []string { return strings.Split(strings.TrimPrefix(k.Path, "/"), "/") }

// build is the escaped path, version included, of ref's operation; the
// list path (without /{id}) when list is set.
func (k *Kind) build(version string, r OperationRef, list bool) string {
	segs := k.segments()
	if list {
		segs = segs[:len(segs)-1]
	}
	var b strings.Builder
	b.WriteString("/" + version)
	for _, s := range segs {
		b.WriteByte('/')
		switch {
		case s == "{id}":
			b.WriteString(escapeSegment(r.ID))
		case strings.HasPrefix(s, "{"):
			b.WriteString(escapeSegment(r.Parent(strings.Trim(s, "{}"))))
		default:
			b.WriteString(s)
		}
	}
	return b.String()
}

// match says whether segs (unescaped, after the version) are an operation
// of this kind, and sets ref's parents and id from them. Literal segments
// match ignoring case, as Graph does.
func (k *Kind) match(segs []string, ref *OperationRef) bool {
	pat := k.segments()
	if k.Path == "" || len(pat) != len(segs) {
		return false
	}
	for i, p := range pat {
		if !strings.HasPrefix(p, "{") && !strings.EqualFold(p, segs[i]) {
			return false
		}
	}
	for i, p := range pat {
		switch {
		case p == "{id}":
			ref.ID = segs[i]
		case strings.HasPrefix(p, "{"):
			ref.SetParent(strings.Trim(p, "{}"), segs[i])
		}
	}
	ref.Scope = k.Scope
	return true
}
