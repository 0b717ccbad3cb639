package collector

import (
	"sync"
	"sync/atomic"
)

// call is one fetch of one operation in flight. A cold scrape has one per
// operation, so it is small: its answer is its cache entry's, and it has
// a channel of its own only if another scrape joins it; its owner waits
// for its group.
type call struct {
	g        *group
	en       *entry        // where the answer is, once finished
	finished atomic.Bool   // en is set
	done     chan struct{} // made by join for a scrape that joins; closed by finish
}

// group is the calls one scrape began together: done closes when the last
// of them finishes.
type group struct {
	left atomic.Int64
	done chan struct{}
}

// flights makes concurrent scrapes share one fetch per operation: the
// first to ask owns the fetch, the others wait for its answer.
type flights struct {
	mu sync.Mutex
	m  map[string]*call
}

// flight is one target's part in a fetch: the call to wait on, and
// whether this scrape owns it (and must see that it finishes).
type flight struct {
	i     int // the target's index
	c     *call
	owner bool
}

// join returns, for each of the due targets, the fetch of its key in
// flight, or a new one the caller owns and must finish. All keys are
// joined under one lock, so that of two scrapes arriving together one owns
// every fetch and the other waits, rather than each owning half and
// sending twice the batches.
func (f *flights) join(targets []target, due []int) []flight {
	if len(due) == 0 {
		return nil // a warm scrape: nothing to lock or make
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*call{}
	}
	out := make([]flight, len(due))
	g := &group{done: make(chan struct{})}
	calls := make([]call, 0, len(due)) // one allocation for the scrape's calls
	for k, i := range due {
		out[k].i = i
		key := targets[i].key
		if c, ok := f.m[key]; ok {
			if c.done == nil {
				c.done = make(chan struct{})
			}
			out[k].c = c
			continue
		}
		calls = append(calls, call{g: g})
		c := &calls[len(calls)-1]
		f.m[key], out[k].c, out[k].owner = c, c, true
	}
	if g.left.Store(int64(len(calls))); len(calls) == 0 {
		close(g.done)
	}
	return out
}

// finish hands en's answer to everyone waiting for key.
func (f *flights) finish(key string, en *entry) {
	f.mu.Lock()
	c := f.m[key]
	delete(f.m, key)
	if len(f.m) == 0 {
		// A map keeps the room it grew to: the cold scrape of 50,000
		// operations would hold 16 MiB of empty map for good.
		f.m = nil
	}
	var done chan struct{}
	if c != nil {
		done = c.done // set only under f.mu, while c is in the map
	}
	f.mu.Unlock()
	if c == nil {
		return
	}
	c.en = en
	c.finished.Store(true)
	if done != nil {
		close(done)
	}
	if c.g.left.Add(-1) == 0 {
		close(c.g.done)
	}
}

// wait waits for the flight's call until ctx's done channel closes; it
// reports whether the call finished.
func (fl *flight) wait(ctxDone <-chan struct{}) bool {
	c := fl.c
	if c.finished.Load() {
		return true
	}
	ch := c.g.done
	if !fl.owner {
		ch = c.done
	}
	select {
	case <-ch:
	case <-ctxDone:
	}
	return c.finished.Load()
}
