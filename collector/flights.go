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

// join returns, for each key, the fetch in flight, or a new one the caller
// owns and must finish. All keys are joined under one lock, so that of two
// scrapes arriving together one owns every fetch and the other waits,
// rather than each owning half and sending twice the batches.
func (f *flights) join(keys []string) (calls []*call, owned []bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*call{}
	}
	calls, owned = make([]*call, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		if c, ok := f.m[k]; ok {
			calls[i] = c
			continue
		}
		calls[i] = &call{done: make(chan struct{})}
		f.m[k], owned[i] = calls[i], true
	}
	return calls, owned
}

// finish hands v to everyone waiting for key.
func (f *flights) finish(key string, v view) {
	f.mu.Lock()
	c := f.m[key]
	delete(f.m, key)
	f.mu.Unlock()
	if c != nil {
		c.v = v
		close(c.done)
	}
}
