package graph

import (
	"sync"
	"time"
)

// repeatLimit lets a log line that says the same thing again through once
// per failLogEvery, for the token sources' failures and the Graph client's
// alike: a failure that lasts hours costs a line per interval, with the
// count of those held back, not a line per scrape.
type repeatLimit struct {
	mu   sync.Mutex
	seen map[string]*repeated
}

type repeated struct {
	last time.Time
	held int // lines held back since last
}

// maxRepeatKeys bounds what is remembered; past it, the memory starts
// over (a line too many, never one too few).
const maxRepeatKeys = 1024

// allow says whether the line that key names is logged now and, if so,
// how many like it were held back since it was last.
func (r *repeatLimit) allow(key string, now time.Time) (ok bool, held int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.seen[key]; e != nil {
		if now.Sub(e.last) < failLogEvery {
			e.held++
			return false, 0
		}
		held = e.held
	}
	if r.seen == nil || len(r.seen) >= maxRepeatKeys {
		r.seen = map[string]*repeated{}
	}
	r.seen[key] = &repeated{last: now}
	return true, held
}
