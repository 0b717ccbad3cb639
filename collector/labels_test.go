package collector

import (
	"testing"

	"github.com/msgraph-lro/msgraph_lro_exporter/config"
)

// Every label the collector sets on an operation's series is one config
// refuses as a static label: the two lists cannot drift apart.
func TestOperationLabelsAreReserved(t *testing.T) {
	names := append(append([]string{"status"}, newDescs(nil).labelNames...), infoNames[:]...)
	for _, n := range names {
		if !config.IsReservedLabel(n) {
			t.Errorf("the collector sets label %q, which config lets a static label take", n)
		}
	}
	if len(names) != 10 {
		t.Errorf("%d label names, want 10: %v", len(names), names)
	}
}
