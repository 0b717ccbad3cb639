package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-kit/log/level"
)

// MaxPages bounds how many pages one listing follows. Graph pages operation
// lists by 100 or so; thousands of pages is a loop or a runaway, not data.
const MaxPages = 200

// Discovered is an operation a listing found: its reference, and the
// operation itself where the list carries it (industryData and sites do,
// role management alerts list alerts, not their refresh operations).
type Discovered struct {
	Ref OperationRef
	Op  *Operation
}

// alertsFilter is the filter Graph requires to list role management alerts.
const alertsFilter = "scopeId eq '/' and scopeType eq 'DirectoryRole'"

// Discover lists the operations of a collection: every industryData
// operation, every operation of a SharePoint site, or the refresh operation
// of every directory role management alert. It follows @odata.nextLink
// only on the tenant's own Graph host, and at most MaxPages pages.
func (c *Client) Discover(ctx context.Context, scope, site string) ([]Discovered, error) {
	var (
		path  string
		query = url.Values{}
	)
	switch scope {
	case ScopeIndustryData:
		path = "/beta/external/industryData/operations"
		query.Set("$select", selectFields)
	case ScopeSites:
		path = "/v1.0/sites/" + escapeSegment(site) + "/operations"
		query.Set("$select", selectRichFields)
	case ScopeRoleManagementAlerts:
		path = "/beta/identityGovernance/roleManagementAlerts/alerts"
		query.Set("$filter", alertsFilter)
		query.Set("$select", "id")
	default:
		return nil, fmt.Errorf("scope %q cannot be listed", scope)
	}
	u, err := url.Parse(c.endpoint.String() + path)
	if err != nil {
		return nil, err
	}
	u.RawQuery = query.Encode()

	var found []Discovered
	for page := 1; ; page++ {
		items, next, err := c.listPage(ctx, u)
		if err != nil {
			return nil, err
		}
		for _, raw := range items {
			if d, ok := discovered(scope, site, raw); ok {
				found = append(found, d)
			}
		}
		if next == "" {
			return found, nil
		}
		if page == MaxPages {
			level.Warn(c.logger).Log("msg", "listing stopped at the page limit; operations beyond it are not watched", "scope", scope, "pages", MaxPages, "found", len(found))
			return found, nil
		}
		nu, err := url.Parse(next)
		if err != nil {
			return nil, fmt.Errorf("@odata.nextLink is not a URL")
		}
		if !c.MayCarryToken(nu) {
			return nil, fmt.Errorf("refusing @odata.nextLink to %s://%s: not the tenant's Graph endpoint", nu.Scheme, nu.Host)
		}
		u = nu
	}
}

type listAnswer struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// listPage reads one page of a collection.
func (c *Client) listPage(ctx context.Context, u *url.URL) ([]json.RawMessage, string, error) {
	a, err := c.send(ctx, http.MethodGet, u, nil, false) // lists need the application's own permission
	if err != nil {
		return nil, "", err
	}
	if a.status != http.StatusOK {
		return nil, "", c.answerError(u.Path, a.status, a.header, a.body, a.crid)
	}
	var l listAnswer
	if err := json.Unmarshal(a.body, &l); err != nil {
		return nil, "", fmt.Errorf("list answer is not JSON (client-request-id %s): %w", a.crid, err)
	}
	return l.Value, l.NextLink, nil
}

// discovered turns one list item into an operation to watch; items without
// a usable id are skipped.
func discovered(scope, site string, raw json.RawMessage) (Discovered, bool) {
	if scope == ScopeRoleManagementAlerts {
		var alert struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &alert) != nil || CheckSegment(alert.ID) != nil {
			return Discovered{}, false
		}
		return Discovered{Ref: OperationRef{Scope: scope, ID: "refresh:" + alert.ID}}, true
	}
	op, err := DecodeOperation(raw)
	if err != nil || CheckSegment(op.ID) != nil {
		return Discovered{}, false
	}
	return Discovered{Ref: OperationRef{Scope: scope, ID: op.ID, Site: site}, Op: op}, true
}
