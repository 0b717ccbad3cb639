package collector

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// entry is what the exporter knows of one operation: the last good answer,
// and how the latest fetch went. Errors are never cached: an entry whose
// latest fetch failed is always due for another, unless Graph asked us to
// wait (Retry-After).
type entry struct {
	used      atomic.Int64 // when a scrape last asked, Unix nanoseconds
	mu        sync.Mutex
	op        *graph.Operation // last good answer; nil until one came
	fetched   time.Time        // when op was fetched
	err       error            // latest fetch error; nil if it succeeded
	notBefore time.Time        // no request before this (throttling)
	backoff   time.Duration    // current back-off for 429s without Retry-After (graph.RetryPolicy.HoldOff)
}

// view is a consistent copy of an entry, taken under its lock.
type view struct {
	op        *graph.Operation
	fetched   time.Time
	err       error
	notBefore time.Time
}

func (e *entry) view() view {
	e.mu.Lock()
	defer e.mu.Unlock()
	return view{op: e.op, fetched: e.fetched, err: e.err, notBefore: e.notBefore}
}

// record stores the outcome of a fetch that ended at now. A throttled
// answer holds the operation off as the fetcher's retry policy says: its
// Retry-After, or else the next step of the back-off.
func (e *entry) record(op *graph.Operation, err error, now time.Time, policy graph.RetryPolicy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		e.op, e.fetched, e.err = op, now, nil
		e.notBefore, e.backoff = time.Time{}, 0
		return
	}
	e.err = err
	var wait time.Duration
	var held bool
	if wait, e.backoff, held = policy.HoldOff(err, e.backoff); held {
		e.notBefore = now.Add(wait)
	}
}

// holdOff asks for no request before t.
func (e *entry) holdOff(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.After(e.notBefore) {
		e.notBefore = t
	}
}

// fresh reports whether the cached answer can be shown without asking
// Graph: the latest fetch succeeded and is younger than its TTL.
func (v view) fresh(now time.Time, ttl, terminalTTL time.Duration) bool {
	if v.op == nil || v.err != nil {
		return false
	}
	limit := ttl
	if graph.Terminal(v.op.Status) {
		limit = terminalTTL
	}
	return now.Sub(v.fetched) < limit
}

// cache holds one entry per watched operation key.
type cache struct {
	mu      sync.Mutex
	entries map[string]*entry
}

func newCache() *cache { return &cache{entries: map[string]*entry{}} }

func (c *cache) get(key string, now time.Time) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		e = &entry{}
		c.entries[key] = e
	}
	e.used.Store(now.UnixNano())
	return e
}

// retain drops the entries of operations no longer watched and not asked
// for (by /probe) since unusedSince.
func (c *cache) retain(keep map[string]bool, unusedSince time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if !keep[k] && e.used.Load() < unusedSince.UnixNano() {
			delete(c.entries, k)
		}
	}
}

// bound drops, least recently asked for first, the entries not in keep
// beyond the first extra: /probe of invented ids must not grow the cache
// for the hours retain keeps them.
func (c *cache) bound(keep map[string]bool, extra int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) <= len(keep)+extra {
		return
	}
	type aged struct {
		key  string
		used int64
	}
	var other []aged
	for k, e := range c.entries {
		if !keep[k] {
			other = append(other, aged{k, e.used.Load()})
		}
	}
	if len(other) <= extra {
		return
	}
	sort.Slice(other, func(i, j int) bool { return other[i].used < other[j].used })
	for _, a := range other[:len(other)-extra] {
		delete(c.entries, a.key)
	}
}

// peek returns the entry's view without making one or marking it used.
func (c *cache) peek(key string) view {
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e == nil {
		return view{}
	}
	return e.view()
}
