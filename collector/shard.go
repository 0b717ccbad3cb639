package collector

import (
	"fmt"
	"hash/fnv"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// Shard is this replica's part of the watched operations: of Total
// replicas over one config, this one watches the operations whose key
// hashes to Index (--shard, --total-shards, as in kube-state-metrics).
// The zero value, like {0, 1}, watches everything.
type Shard struct {
	Index, Total int
}

// Validate says what is wrong with --shard and --total-shards.
func (s Shard) Validate() error {
	if s.Total < 1 {
		return fmt.Errorf("--total-shards=%d: must be at least 1", s.Total)
	}
	if s.Index < 0 || s.Index >= s.Total {
		return fmt.Errorf("--shard=%d: must be at least 0 and less than --total-shards=%d", s.Index, s.Total)
	}
	return nil
}

// Owns says whether the operation ref of tenant belongs to this shard.
func (s Shard) Owns(tenant string, ref graph.OperationRef) bool {
	if s.Total <= 1 {
		return true
	}
	return ShardOf(tenant, ref, s.Total) == s.Index
}

// ShardOf is the shard, of total, that watches the operation: a jump
// consistent hash (Lamping and Veach, 2014) of the FNV-1a hash of the
// tenant and the operation's path. The path leaves out a pasted URL's
// query string, so that the operation configured that way and found by
// discovery land on the same shard. A jump hash, unlike a plain modulo,
// moves only about 1/(N+1) of the operations when an N-th+1 replica
// joins, and none between the replicas that stay.
func ShardOf(tenant string, ref graph.OperationRef, total int) int {
	h := fnv.New64a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(ref.URLPath()))
	return jump(h.Sum64(), total)
}

// jump maps key to a bucket in [0, n) so that growing n to n+1 moves a
// key only into the new bucket, with probability 1/(n+1).
func jump(key uint64, n int) int {
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
