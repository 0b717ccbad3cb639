package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// BenchmarkParse50000 parses a file of 50,000 operations with the GC target
// a load runs at (main's loadGCPercent, 20) and reports the heap it peaks
// at (sampled each millisecond) and the heap the parsed config keeps.
func BenchmarkParse50000(b *testing.B) {
	dir := b.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		b.Fatal(err)
	}
	var yml strings.Builder
	fmt.Fprintf(&yml, "global:\n  max_operations: 50000\ntenants:\n  - name: contoso\n    tenant_id: 00000000-0000-0000-0000-000000000000\n"+
		"    client_id: 11111111-1111-1111-1111-111111111111\n    client_secret_file: %s\noperations:\n", secret)
	for i := 0; i < 50000; i++ {
		fmt.Fprintf(&yml, "  - {tenant: contoso, scope: industryData, id: %08d-18c9-47a1-0fb1-08dad8e7a876, name: import-%d, labels: {team: t%d}}\n", i, i, i%10)
	}
	data := []byte(yml.String())
	yml.Reset()
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	b.ReportAllocs()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		stop, done := make(chan struct{}), make(chan uint64)
		go func() {
			var ms runtime.MemStats
			var peak uint64
			for {
				select {
				case <-stop:
					done <- peak
					return
				case <-time.After(time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}()
		c, err := Parse("bench.yml", data)
		close(stop)
		peak := <-done
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(peak-before.HeapAlloc)/(1<<20), "peak_heap_MiB")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "kept_heap_MiB")
		runtime.KeepAlive(c)
	}
}
