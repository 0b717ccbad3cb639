package graph_test

import (
	"testing"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// BenchmarkDecodeOperation reads one industry-data import's answer, as a
// cold scrape does for each of its operations.
func BenchmarkDecodeOperation(b *testing.B) {
	body := []byte(`{"@odata.type":"#microsoft.graph.industryData.fileValidateOperation","id":"00000001-18c9-47a1-0fb1-08dad8e7a876","createdDateTime":"2023-06-09T22:50:41.5414467Z","lastActionDateTime":"2023-06-09T22:52:09.0296021Z","resourceLocation":"","status":"running","statusDetail":"","errors":[],"warnings":[]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := graph.DecodeOperationOf(graph.ScopeIndustryData, body); err != nil {
			b.Fatal(err)
		}
	}
}
