package main

import (
	"runtime/debug"
	"testing"
)

// gcPercent reads the GC target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestLowPeakLowersGCWhileLoadingThenRestores(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, c := range []struct{ user, during int }{
		{100, loadGCPercent}, // the default GOGC
		{400, loadGCPercent}, // a user's higher GOGC
		{10, 10},             // a user's lower GOGC is left alone
		{-1, -1},             // so is GOGC=off
	} {
		debug.SetGCPercent(c.user)
		restore := lowPeak()
		if got := gcPercent(); got != c.during {
			t.Errorf("GOGC=%d: %d during the load, want %d", c.user, got, c.during)
		}
		restore()
		if got := gcPercent(); got != c.user {
			t.Errorf("GOGC=%d: %d after the load, want it back", c.user, got)
		}
	}
}
