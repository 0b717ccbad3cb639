package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// upIDs are the operation ids that a /metrics page has msgraph_lro_up for.
var upIDs = regexp.MustCompile(`(?m)^msgraph_lro_up\{[^}]*operation_id="([^"]+)"`)

// Three replicas of one config, --total-shards=3: each watches its own
// share of the configured and discovered operations, the shares are
// disjoint and together every operation, and between them they fetch each
// operation from Graph once, as one replica would.
func TestShardsSplitTheOperations(t *testing.T) {
	tn := graphtest.NewTenant(t)
	var ops strings.Builder
	var all []string
	for i := range 30 {
		r := graph.OperationRef{Scope: graph.ScopeTeams, Team: fmt.Sprintf("team-%d", i%4), ID: fmt.Sprintf("config-%02d", i)}
		tn.SetOperation(r.URLPath(), map[string]any{"id": r.ID, "status": "inProgress", "createdDateTime": "2024-05-01T10:00:00Z", "lastActionDateTime": "2024-05-01T10:01:00Z"})
		fmt.Fprintf(&ops, "  - {tenant: contoso, scope: teams, team: %s, id: %s}\n", r.Team, r.ID)
		all = append(all, r.ID)
	}
	for i := range 12 {
		r := graph.OperationRef{Scope: graph.ScopeIndustryData, ID: fmt.Sprintf("found-%02d", i)}
		tn.SetOperation(r.URLPath(), map[string]any{"id": r.ID, "status": "running", "createdDateTime": "2024-05-01T10:00:00Z", "lastActionDateTime": "2024-05-01T10:01:00Z"})
		all = append(all, r.ID)
	}
	sort.Strings(all)
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", tn.ClientSecret+"\n", 0o600)
	// One request per operation, so that the counts compare exactly:
	// batching would pack each replica's share into its own $batch.
	cfg := "global: {batch: false}\n" + tenantConfig(tn, secret, ops.String()) + "discovery:\n  - {tenant: contoso, scope: industryData, interval: 1h}\n"
	cfgFile := writeFile(t, dir, "msgraph_lro.yml", cfg, 0o644)
	env := []string{"SSL_CERT_FILE=" + tn.CAFile}
	listPath := graph.OperationRef{Scope: graph.ScopeIndustryData}.URLPath()

	// scrape waits for the replica's first listing, then scrapes once and
	// returns the operation ids it shows and the Graph requests it cost.
	scrape := func(x *exporter, shard string) (ids []string, requests int) {
		t.Helper()
		waitFor(t, x, `msgraph_lro_discovery_last_success_timestamp_seconds{`)
		before := tn.Requests()
		_, body := x.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "5")
		requests = tn.Requests() - before
		for _, m := range upIDs.FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		for _, src := range []string{"config", "discovery"} {
			if !regexp.MustCompile(`msgraph_lro_operations\{shard="` + shard + `",source="` + src + `",tenant="contoso"\} \d+`).MatchString(body) {
				t.Errorf("shard %s: no msgraph_lro_operations{shard=%q,source=%q}:\n%s", shard, shard, src, pick(body, "msgraph_lro_operations"))
			}
		}
		if up := pick(body, "msgraph_lro_up"); strings.Contains(up, "} 0") {
			t.Errorf("shard %s: an operation is down:\n%s", shard, up)
		}
		return ids, requests
	}

	one := start(t, env, "--config.file="+cfgFile)
	oneIDs, oneRequests := scrape(one, "0")
	sort.Strings(oneIDs)
	if strings.Join(oneIDs, " ") != strings.Join(all, " ") {
		t.Fatalf("one replica watches %v, want %v", oneIDs, all)
	}
	stop(t, one)
	oneLists := tn.RequestsFor(listPath)
	perOp := map[string]int{}
	for _, id := range all {
		perOp[id] = requestsFor(tn, id)
	}

	seen := map[string]string{}
	var union []string
	sum := 0
	for i := range 3 {
		shard := fmt.Sprint(i)
		x := start(t, env, "--config.file="+cfgFile, "--shard="+shard, "--total-shards=3")
		ids, n := scrape(x, shard)
		if len(ids) == 0 || len(ids) > 2*len(all)/3 {
			t.Errorf("shard %d of 3 watches %d of %d operations", i, len(ids), len(all))
		}
		for _, id := range ids {
			if s, dup := seen[id]; dup {
				t.Errorf("%s is watched by shards %s and %d", id, s, i)
			}
			seen[id] = shard
			union = append(union, id)
		}
		sum += n
		if code, page := x.get(t, "/"); code != 200 || !strings.Contains(page, fmt.Sprintf("Shard %d of 3", i)) {
			t.Errorf("the landing page of shard %d does not say so:\n%s", i, page)
		}
		stop(t, x)
	}
	sort.Strings(union)
	if strings.Join(union, " ") != strings.Join(all, " ") {
		t.Errorf("the shards together watch %v, want %v", union, all)
	}
	if sum != oneRequests {
		t.Errorf("the three shards' scrapes sent %d Graph requests, one replica's %d", sum, oneRequests)
	}
	for _, id := range all {
		if got := requestsFor(tn, id) - perOp[id]; got != perOp[id] {
			t.Errorf("%s: fetched %d times by the shards, %d by one replica", id, got, perOp[id])
		}
	}
	// Discovery runs in every replica: each lists the collection itself.
	if got := tn.RequestsFor(listPath) - oneLists; got != 3*oneLists {
		t.Errorf("the shards listed the discovery collection %d times, want %d (each its own)", got, 3*oneLists)
	}
}

func requestsFor(tn *graphtest.Tenant, id string) int {
	if strings.HasPrefix(id, "found-") {
		return tn.RequestsFor(graph.OperationRef{Scope: graph.ScopeIndustryData, ID: id}.URLPath())
	}
	var i int
	fmt.Sscanf(id, "config-%d", &i)
	return tn.RequestsFor(graph.OperationRef{Scope: graph.ScopeTeams, Team: fmt.Sprintf("team-%d", i%4), ID: id}.URLPath())
}

// waitFor polls /metrics until it holds text.
func waitFor(t *testing.T, x *exporter, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, body := x.get(t, "/metrics"); strings.Contains(body, text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q", text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShardFlagsValidated(t *testing.T) {
	for _, args := range [][]string{{"--shard=3", "--total-shards=3"}, {"--shard=-1", "--total-shards=2"}, {"--total-shards=0"}} {
		cmd := exec.Command(binary(t), append([]string{"--config.check", "--config.file=examples/msgraph_lro.yml"}, args...)...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "must be") {
			t.Errorf("%v: exit %d, %q; want 2 and the reason", args, code, out)
		}
	}
}
