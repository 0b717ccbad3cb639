package collector

import "sync"

// call is one fetch of one operation in flight; done closes when v is set.
type call struct {
	done chan struct{}
	v    view
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
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*call{}
	}
	out := make([]flight, len(due))
	for k, i := range due {
		out[k].i = i
		key := targets[i].key
		if c, ok := f.m[key]; ok {
			out[k].c = c
			continue
		}
		out[k].c = &call{done: make(chan struct{})}
		f.m[key], out[k].owner = out[k].c, true
	}
	return out
}

// finish hands v to everyone waiting for key.
func (f *flights) finish(key string, v view) {
	f.mu.Lock()
	c := f.m[key]
	delete(f.m, key)
	if len(f.m) == 0 {
		// A map keeps the room it grew to: the cold scrape of 50,000
		// operations would hold 16 MiB of empty map for good.
		f.m = nil
	}
	f.mu.Unlock()
	if c != nil {
		c.v = v
		close(c.done)
	}
}
