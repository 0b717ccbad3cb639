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

// Discover lists the operations of a collection: every operation of a
// kind that Graph lists (Kind.Lists) under the parents that of names
// (of.Scope, and of.Site and the like), or the refresh operation of every
// directory role management alert. It follows @odata.nextLink only on the
// tenant's own Graph host, and at most MaxPages pages.
func (c *Client) Discover(ctx context.Context, of OperationRef) ([]Discovered, error) {
	k := of.Kind()
	if !k.Lists {
		return nil, fmt.Errorf("scope %q cannot be listed", of.Scope)
	}
	scope := of.Scope
	for _, p := range k.Parents {
		if err := CheckSegment(of.Parent(p)); err != nil {
			return nil, fmt.Errorf("%s %s", p, err)
		}
	}
	query := url.Values{}
	path := k.build(k.Version, of, true)
	if k.Select != "" {
		query.Set("$select", k.Select)
	}
	if scope == ScopeRoleManagementAlerts {
		path = "/beta/identityGovernance/roleManagementAlerts/alerts"
		query.Set("$filter", alertsFilter)
		query.Set("$select", "id")
	}
	u, err := url.Parse(c.endpoint.String() + path)
	if err != nil {
		return nil, err
	}
	u.RawQuery = query.Encode()

	var found []Discovered
	for page := 1; ; page++ {
		items, next, err := c.listPage(ctx, u, of.NeedsDelegated())
		if err != nil {
			return nil, err
		}
		for _, raw := range items {
			if d, ok := discovered(of, raw); ok {
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
func (c *Client) listPage(ctx context.Context, u *url.URL, delegated bool) ([]json.RawMessage, string, error) {
	a, err := c.send(ctx, http.MethodGet, u, nil, delegated, false)
	if err != nil {
		return nil, "", err
	}
	defer a.done()
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
func discovered(of OperationRef, raw json.RawMessage) (Discovered, bool) {
	if of.Scope == ScopeRoleManagementAlerts {
		var alert struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &alert) != nil || CheckSegment(alert.ID) != nil {
			return Discovered{}, false
		}
		return Discovered{Ref: OperationRef{Scope: of.Scope, ID: "refresh:" + alert.ID}}, true
	}
	op, err := DecodeOperationOf(of.Scope, raw)
	if err != nil || CheckSegment(op.ID) != nil {
		return Discovered{}, false
	}
	ref := OperationRef{Scope: of.Scope, ID: op.ID}
	for _, p := range of.Kind().Parents {
		ref.SetParent(p, of.Parent(p))
	}
	return Discovered{Ref: ref, Op: op}, true
}
