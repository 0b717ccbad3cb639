package collector

import (
	"testing"
	"time"
)

// Ages do not saturate at ±292 years (time.Duration's range), where the
// timestamps are still right.
func TestAgeSecondsDoNotSaturate(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 500_000_000, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want float64
	}{
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), float64(now.Unix()-time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()) + 0.5},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), float64(now.Unix()-time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()) + 0.5},
		{now.Add(-90 * time.Second), 90},
	} {
		if got := ageSeconds(now, tc.t); got != tc.want || got == now.Sub(tc.t).Seconds() && tc.want > 1e10 {
			t.Errorf("age of %v: %v, want %v", tc.t, got, tc.want)
		}
	}
	if got := ageSeconds(now, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)); got < 6e10 {
		t.Errorf("age of year 1: %v, want about 6.39e10 (time.Sub gives %v)", got, now.Sub(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)).Seconds())
	}
}

// The cache keeps at most extra entries besides the watched ones, the most
// recently asked for.
func TestCacheBound(t *testing.T) {
	c := newCache()
	keep := map[string]bool{}
	now := time.Unix(1_700_000_000, 0)
	for i := range 50 {
		k := string(rune('a'+i%26)) + string(rune('0'+i/26))
		keep[k] = true
		c.get(k, now)
	}
	for i := range 10_000 {
		c.get("probe-"+time.Duration(i).String(), now.Add(time.Duration(i)*time.Millisecond))
		c.bound(keep, 100)
	}
	if got := len(c.entries); got != 150 {
		t.Errorf("%d entries after 10,000 probed ids, want 150 (50 watched, 100 probed)", got)
	}
	for k := range keep {
		if _, ok := c.entries[k]; !ok {
			t.Errorf("watched %q was dropped", k)
		}
	}
	if _, ok := c.entries["probe-"+time.Duration(9_999).String()]; !ok {
		t.Error("the latest probed id was dropped")
	}
}
