package collector

import (
	"fmt"
	"math"
	"testing"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

func shardRefs(n int) []graph.OperationRef {
	refs := make([]graph.OperationRef, n)
	for i := range refs {
		refs[i] = graph.OperationRef{Scope: graph.ScopeTeams, Team: fmt.Sprintf("team-%d", i%17), ID: fmt.Sprintf("op-%d", i)}
	}
	return refs
}

// Every operation has exactly one shard, the shares are about even, and a
// fourth replica takes about a quarter from the three, moving nothing
// between them.
func TestShardOf(t *testing.T) {
	const n = 12000
	refs := shardRefs(n)
	counts := make([]int, 3)
	moved, between := 0, 0
	for _, r := range refs {
		s3 := ShardOf("contoso", r, 3)
		if s3 != ShardOf("contoso", r, 3) {
			t.Fatal("ShardOf is not stable")
		}
		counts[s3]++
		owners := 0
		for i := range 3 {
			if (Shard{i, 3}).Owns("contoso", r) {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("%v is owned by %d shards of 3", r, owners)
		}
		switch s4 := ShardOf("contoso", r, 4); {
		case s4 == 3:
			moved++
		case s4 != s3:
			between++
		}
	}
	for i, c := range counts {
		if math.Abs(float64(c)-n/3) > n/3*0.05 {
			t.Errorf("shard %d of 3 has %d of %d operations", i, c, n)
		}
	}
	if math.Abs(float64(moved)-n/4) > n/4*0.05 || between != 0 {
		t.Errorf("from 3 to 4 shards: %d moved to the new one (want about %d), %d between the old ones (want 0)", moved, n/4, between)
	}
	// The query string of a pasted URL does not move an operation.
	r := refs[0]
	q := r
	q.RawQuery = "aadgdc=x"
	for total := 1; total < 10; total++ {
		if ShardOf("contoso", r, total) != ShardOf("contoso", q, total) {
			t.Errorf("a query string changes the shard of %v (of %d)", r, total)
		}
	}
	if ShardOf("contoso", r, 7) == ShardOf("fabrikam", r, 7) && ShardOf("contoso", refs[1], 7) == ShardOf("fabrikam", refs[1], 7) &&
		ShardOf("contoso", refs[2], 7) == ShardOf("fabrikam", refs[2], 7) {
		t.Error("the tenant takes no part in the hash")
	}
}

func TestShardValidate(t *testing.T) {
	for _, tc := range []struct {
		s   Shard
		err string
	}{
		{Shard{0, 1}, ""},
		{Shard{2, 3}, ""},
		{Shard{3, 3}, "--shard=3: must be at least 0 and less than --total-shards=3"},
		{Shard{-1, 3}, "--shard=-1: must be at least 0 and less than --total-shards=3"},
		{Shard{0, 0}, "--total-shards=0: must be at least 1"},
	} {
		err := tc.s.Validate()
		if (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.err)
		}
	}
}
