package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"
)

// MaxBatch is the most requests Graph takes in one JSON batch.
const MaxBatch = 20

// defaultInnerRetry is the wait before retrying an inner answer that failed
// without saying how long to wait (a 5xx, a 429 without Retry-After).
const defaultInnerRetry = time.Second

// GetOperations reads many operations of this tenant and calls each(i, …)
// for refs[i] as its answer arrives (from several goroutines, never twice
// for one i). With batching on, GETs of one API version and one credential
// (a $batch carries one token: the application's, or the signed-in
// account's) are grouped into $batch requests of up to MaxBatch; inner answers that failed with 429,
// 424 or 5xx are sent again once, after the longest Retry-After among them,
// if that still fits in ctx; so is a batch that failed as a whole (424,
// 5xx), never turned into single GETs; a batch Graph refuses (400, an
// unreadable answer) is replaced by single GETs. At most
// MaxConcurrency requests are in flight. It returns when every i has had
// its call.
func (c *Client) GetOperations(ctx context.Context, refs []OperationRef, each func(i int, op *Operation, err error)) {
	var jobs [][]int
	if c.batch {
		type group struct {
			version   string
			delegated bool
		}
		byGroup := map[group][]int{}
		var groups []group
		for i, r := range refs {
			g := group{r.Version(), r.NeedsDelegated()}
			if _, ok := byGroup[g]; !ok {
				groups = append(groups, g)
			}
			byGroup[g] = append(byGroup[g], i)
		}
		for _, g := range groups {
			for idx := byGroup[g]; len(idx) > 0; {
				n := min(MaxBatch, len(idx))
				jobs, idx = append(jobs, idx[:n:n]), idx[n:]
			}
		}
	} else {
		for i := range refs {
			jobs = append(jobs, []int{i})
		}
	}
	// Without batching, the single GETs of one call log their errors as
	// the inner answers of a $batch do: one line for the call, each
	// operation at debug.
	var tally *errorTally
	if !c.batch {
		tally = &errorTally{statuses: map[int]int{}}
		defer tally.log(c, len(refs))
	}
	work := make(chan []int)
	var wg sync.WaitGroup
	for w := min(cap(c.sem), len(jobs)); w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idx := range work {
				if tally != nil {
					i := idx[0]
					op, err := c.getOperation(ctx, refs[i], true)
					tally.add(err)
					each(i, op, err)
					continue
				}
				c.fetch(ctx, refs, idx, each, true)
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
}

// errorTally counts the errors Graph answered the operations of one call
// with, by HTTP status, for one log line.
type errorTally struct {
	mu       sync.Mutex
	statuses map[int]int
	loud     bool // one was not a 404 nor throttling: warn, not info
}

func (t *errorTally) add(err error) {
	var gerr *Error
	if !errors.As(err, &gerr) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.statuses[gerr.StatusCode]++
	t.loud = t.loud || !gerr.NotFound() && !gerr.Throttled()
}

func (t *errorTally) log(c *Client, operations int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.statuses) == 0 {
		return
	}
	lvl := level.Info
	if t.loud {
		lvl = level.Warn
	}
	sum := t.summary()
	c.logRepeated(lvl, "operations "+sum, "msg", "graph answered operations with errors", "operations", operations, "errors", sum)
}

// summary is the statuses as "3×403 17×404", the form a $batch's line has.
func (t *errorTally) summary() string {
	parts := make([]string, 0, len(t.statuses))
	for st, n := range t.statuses {
		parts = append(parts, fmt.Sprintf("%d×%d", n, st))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// fetch reads refs[idx...]: one GET for one, a $batch for more.
func (c *Client) fetch(ctx context.Context, refs []OperationRef, idx []int, each func(int, *Operation, error), mayRetry bool) {
	if len(idx) == 1 {
		op, err := c.GetOperation(ctx, refs[idx[0]])
		each(idx[0], op, err)
		return
	}
	failed := c.batchOnce(ctx, refs, idx, each)
	// Each failed answer waits as long as Graph asked for it; those whose
	// wait fits before the deadline go again together, after the longest
	// of their waits. The others keep their error: the next scrape retries.
	var (
		again []failure
		wait  time.Duration
	)
	for _, f := range failed {
		if mayRetry && c.fits(ctx, f.wait) {
			again = append(again, f)
			wait = max(wait, f.wait)
		} else {
			each(f.i, nil, f.err)
		}
	}
	if len(again) == 0 {
		return
	}
	t := time.NewTimer(wait)
	select {
	case <-t.C:
		idx := make([]int, len(again))
		for k, f := range again {
			idx[k] = f.i
		}
		c.fetch(ctx, refs, idx, each, false)
	case <-ctx.Done():
		t.Stop()
		for _, f := range again {
			each(f.i, nil, f.err)
		}
	}
}

// retryWait is the retry rule of a $batch, for its inner answers and for
// the batch as a whole alike: a 429, a 424 or a 5xx is worth another try,
// after its Retry-After, else after defaultInnerRetry.
func retryWait(gerr *Error) (time.Duration, bool) {
	if s := gerr.StatusCode; s != http.StatusTooManyRequests && s != http.StatusFailedDependency && s < 500 {
		return 0, false
	}
	if gerr.HasRetryAfter {
		return gerr.RetryAfter, true
	}
	return defaultInnerRetry, true
}

// failure is an inner answer worth another try.
type failure struct {
	i    int
	wait time.Duration
	err  error
}

// fits reports whether a retry after d is worth waiting for within this
// call: d is short (no longer than a request may take; a longer wait is
// for the next scrape, through the error) and leaves time before ctx's
// deadline for the request.
func (c *Client) fits(ctx context.Context, d time.Duration) bool {
	if d > c.timeout {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d+100*time.Millisecond
}

type batchItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

// errBatchRefused marks a batch Graph would not take as a whole.
var errBatchRefused = errors.New("batch refused")

// batchOnce sends one $batch and answers what it can. It returns the inner
// answers worth another try (429, 424, 5xx), with the wait each asked for.
func (c *Client) batchOnce(ctx context.Context, refs []OperationRef, idx []int, each func(int, *Operation, error)) (failed []failure) {
	version, delegated := refs[idx[0]].Version(), refs[idx[0]].NeedsDelegated()
	// sent maps each request id to its operation: an answer is read only
	// for an id we sent, spelt as we sent it ("01" is not "1").
	var kept []batchItem
	sent := make(map[string]int, len(idx))
	for _, i := range idx {
		u, err := c.OperationURL(refs[i])
		if err != nil {
			each(i, nil, err)
			continue
		}
		inner := strings.TrimPrefix(u.EscapedPath(), "/"+version)
		if u.RawQuery != "" {
			inner += "?" + u.RawQuery
		}
		id := strconv.Itoa(len(kept) + 1)
		kept = append(kept, batchItem{ID: id, Method: http.MethodGet, URL: inner})
		sent[id] = i
	}
	if len(kept) == 0 {
		return nil
	}
	body, _ := json.Marshal(map[string][]batchItem{"requests": kept})
	bu := &url.URL{Scheme: c.endpoint.Scheme, Host: c.endpoint.Host, Path: "/" + version + "/$batch"}
	a, err := c.send(ctx, http.MethodPost, bu, body, delegated, true)
	switch {
	case err != nil:
		for _, it := range kept {
			each(sent[it.ID], nil, err)
		}
		return nil
	case a.status == http.StatusOK:
		if a.batchErr != nil {
			err = fmt.Errorf("%w: unreadable answer (client-request-id %s)", errBatchRefused, a.crid)
		}
	case a.status == http.StatusFailedDependency || a.status >= 500:
		// Graph's throttling guidance: a $batch that failed as a whole is
		// retried after the longest wait, not turned into 20 GETs (which
		// would multiply the load on a Graph already failing).
		gerr := c.answerError(bu.Path, a.status, a.header, a.body, a.crid)
		w, _ := retryWait(gerr)
		for _, it := range kept {
			failed = append(failed, failure{sent[it.ID], w, gerr})
		}
		return failed
	case a.status == http.StatusBadRequest:
		err = fmt.Errorf("%w: %s", errBatchRefused, c.answerError(bu.Path, a.status, a.header, a.body, a.crid))
	default: // 401, 403, a 429 for the whole batch: the same answer for each
		gerr := c.answerError(bu.Path, a.status, a.header, a.body, a.crid)
		if gerr.Throttled() {
			// A whole $batch throttled: the tenant is, whatever the scope.
			c.holdTenant(gerr, "a 429 for a whole $batch")
		}
		for _, it := range kept {
			each(sent[it.ID], nil, gerr)
		}
		return nil
	}
	if err != nil {
		c.logRepeated(level.Warn, "refused $batch", "msg", "Graph refused a $batch; asking for its operations one by one", "operations", len(kept), "err", err)
		var wg sync.WaitGroup
		for _, it := range kept {
			i := sent[it.ID]
			wg.Add(1)
			go func() {
				defer wg.Done()
				op, err := c.GetOperation(ctx, refs[i])
				each(i, op, err)
			}()
		}
		wg.Wait()
		return nil
	}

	answered := make(map[string]bool, len(kept))
	// Inner errors are logged once for the batch, with their statuses;
	// each at debug.
	tally := &errorTally{statuses: map[int]int{}}
	defer func() {
		if len(tally.statuses) == 0 {
			return
		}
		lvl := level.Info
		if tally.loud {
			lvl = level.Warn
		}
		sum := tally.summary()
		c.logRepeated(lvl, "batch "+sum, "msg", "graph answered operations of a $batch with errors", "operations", len(kept),
			"errors", sum, "client_request_id", a.crid)
	}()
	for _, r := range a.responses {
		// Each answer once: it must never reach an operation twice.
		i, ours := sent[r.ID]
		if !ours || answered[r.ID] {
			continue // not ours: ignore rather than trust
		}
		answered[r.ID] = true
		c.metrics.Fetched.WithLabelValues(c.tenant).Inc()
		if r.Oversized {
			// Read past, not kept: this operation fails, the batch does not.
			each(i, nil, fmt.Errorf("graph's answer for this operation inside a $batch is larger than %d bytes (client-request-id %s)", MaxBodyBytes, a.crid))
			continue
		}
		b := innerBody(r.Body)
		if r.Status == http.StatusOK {
			op, err := c.decode(refs[i], refs[i].URLPath(), b)
			each(i, op, err)
			continue
		}
		h := http.Header{}
		for k, v := range r.Headers {
			h.Set(k, v)
		}
		gerr := c.answerErrorAt(refs[i].URLPath(), r.Status, h, b, a.crid, true)
		tally.add(gerr)
		if w, ok := retryWait(gerr); ok {
			failed = append(failed, failure{i, w, gerr})
			continue
		}
		each(i, nil, gerr)
	}
	for _, it := range kept {
		if !answered[it.ID] {
			each(sent[it.ID], nil, fmt.Errorf("graph's $batch answer has nothing for this operation (client-request-id %s)", a.crid))
		}
	}
	return failed
}

// innerBody is an inner answer's body as bytes: Graph sends JSON as it is
// and anything else as a JSON string, base64-encoded for binary content.
func innerBody(raw json.RawMessage) []byte {
	if len(raw) == 0 || raw[0] != '"' {
		return raw
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return raw
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && json.Valid(b) {
		return b
	}
	return []byte(s)
}
