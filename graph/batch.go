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

// GetOperations reads many operations of this tenant and calls each(i, …)
// for refs[i] as its answer arrives (from several goroutines, never twice
// for one i). With batching on, GETs of one API version and one credential
// (a $batch carries one token: the application's, or the signed-in
// account's) are grouped into $batch requests of up to MaxBatch; a batch
// Graph refuses (400, an unreadable answer) is replaced by single GETs.
// Batched or not, an operation whose answer is worth another try goes
// again once within the call, as the client's RetryPolicy says: a single
// GET as an inner answer, and a batch that failed as a whole (424, 5xx)
// is sent again, never turned into single GETs. At most MaxConcurrency
// requests are in flight. It returns when every i has had its call.
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
	k := &call{ctx: ctx, refs: refs, each: each}
	// Without batching, the single GETs of one call log their errors as
	// the inner answers of a $batch do: one line for the call (the error
	// each operation ended with), each operation at debug.
	if !c.batch {
		tally := &errorTally{statuses: map[int]int{}}
		defer tally.log(c, len(refs))
		k.quiet = true
		k.each = func(i int, op *Operation, err error) {
			tally.add(err)
			each(i, op, err)
		}
	}
	work := make(chan []int)
	var wg sync.WaitGroup
	// One worker per request slot, no more: a worker that got a
	// tenant-wide 429 holds the tenant off before it takes its next job,
	// and a second worker waiting for the slot would send before the hold
	// (TestTenantScoped429HoldsOffTheTenant).
	for w := min(cap(c.sem), len(jobs)); w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idx := range work {
				c.fetch(k, idx, true)
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	k.later.Wait()
}

// call is what the tries of one GetOperations share.
type call struct {
	ctx  context.Context
	refs []OperationRef
	each func(int, *Operation, error)
	// quiet: single GETs log their errors at debug, as one line logs them
	// for the call (without batching); else a lone GET logs its own.
	quiet bool
	// later counts the tries still to come: retries waiting out their
	// wait, single GETs that replace a refused $batch, and $batch
	// answers being decoded apart from their worker.
	later sync.WaitGroup
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

// fetch tries to read refs[idx...] once: one GET for one, a $batch for
// more; and, if mayRetry, sends again once what is worth another try.
// This is the one path of every read of GetOperations, batched or not.
func (c *Client) fetch(k *call, idx []int, mayRetry bool) {
	var failed []failure
	if len(idx) == 1 {
		failed = c.getOnce(k, idx[0])
	} else {
		failed = c.batchOnce(k, idx, mayRetry)
	}
	c.again(k, failed, mayRetry)
}

// failure is an answer worth another try, and the wait it asked for.
type failure struct {
	i    int
	wait time.Duration
	err  error
}

// again applies the policy to the answers of one try that are worth
// another: those whose wait fits the call go again together, after the
// longest of their waits, as Graph's batching guidance says of a batch's
// throttled requests; the others keep their error (the next scrape asks
// again, within the wait). The wait is spent on its own goroutine, not
// holding a worker of the call.
func (c *Client) again(k *call, failed []failure, mayRetry bool) {
	var (
		retry []failure
		wait  time.Duration
	)
	for _, f := range failed {
		if mayRetry && c.retry.fits(k.ctx, f.wait, c.timeout) {
			retry = append(retry, f)
			wait = max(wait, f.wait)
		} else {
			k.each(f.i, nil, f.err)
		}
	}
	if len(retry) == 0 {
		return
	}
	k.later.Add(1)
	go func() {
		defer k.later.Done()
		if c.retry.Sleep(k.ctx, wait) != nil {
			for _, f := range retry {
				k.each(f.i, nil, f.err)
			}
			return
		}
		idx := make([]int, len(retry))
		for n, f := range retry {
			idx[n] = f.i
		}
		c.fetch(k, idx, false)
	}()
}

// getOnce reads refs[i] with one GET and answers it, unless its answer
// is worth another try: then it returns it.
func (c *Client) getOnce(k *call, i int) []failure {
	op, err := c.getOperation(k.ctx, k.refs[i], k.quiet)
	if w, ok := c.retry.Retryable(err); ok {
		return []failure{{i, w, err}}
	}
	k.each(i, op, err)
	return nil
}

type batchItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

// errBatchRefused marks a batch Graph would not take as a whole.
var errBatchRefused = errors.New("batch refused")

// batchOnce sends one $batch of refs[idx...] and answers what it can. It
// returns the answers worth another try (RetryPolicy.Retryable), inner
// ones or the batch's own, with the wait each asked for. A batch Graph
// refuses is replaced by single GETs, retried if mayRetry.
func (c *Client) batchOnce(k *call, idx []int, mayRetry bool) (failed []failure) {
	ctx, refs, each := k.ctx, k.refs, k.each
	version, delegated := refs[idx[0]].Version(), refs[idx[0]].NeedsDelegated()
	// kept[j] has the id j+1 and asks for refs[sent[j]]: an answer is read
	// only for an id we sent, spelt as we sent it ("01" is not "1").
	kept := make([]batchItem, 0, len(idx))
	sent := make([]int, 0, len(idx))
	for _, i := range idx {
		inner, err := c.batchInner(refs[i], version)
		if err != nil {
			each(i, nil, err)
			continue
		}
		id := strconv.Itoa(len(kept) + 1) // strconv does not allocate numbers this small
		kept = append(kept, batchItem{ID: id, Method: http.MethodGet, URL: inner})
		sent = append(sent, i)
	}
	if len(kept) == 0 {
		return nil
	}
	body, _ := json.Marshal(map[string][]batchItem{"requests": kept})
	bu := &url.URL{Scheme: c.endpoint.Scheme, Host: c.endpoint.Host, Path: "/" + version + "/$batch"}
	a, err := c.send(ctx, http.MethodPost, bu, body, delegated, true)
	defer a.done() // an answer that may hold the tenant off keeps its slot until read
	switch {
	case err != nil:
		for _, i := range sent {
			each(i, nil, err)
		}
		return nil
	case a.status == http.StatusOK:
		if a.batchErr != nil {
			err = fmt.Errorf("%w: unreadable answer (client-request-id %s)", errBatchRefused, a.crid)
		}
	case a.status == http.StatusBadRequest:
		err = fmt.Errorf("%w: %s", errBatchRefused, c.answerError(bu.Path, a.status, a.header, a.body, a.crid))
	default: // 401, 403, 424, 429, 5xx for the whole batch: the same answer for each
		gerr := c.answerError(bu.Path, a.status, a.header, a.body, a.crid)
		if gerr.StatusCode == http.StatusTooManyRequests {
			// A whole $batch throttled: the tenant is, whatever the scope.
			c.holdTenant(gerr, "a 429 for a whole $batch")
		}
		// Graph's throttling guidance: a $batch that failed as a whole is
		// sent again after its wait, as the policy says of any answer,
		// not turned into 20 GETs (which would multiply the load on a
		// Graph already failing).
		w, retry := c.retry.Retryable(gerr)
		for _, i := range sent {
			if retry {
				failed = append(failed, failure{i, w, gerr})
			} else {
				k.each(i, nil, gerr)
			}
		}
		return failed
	}
	if err != nil {
		c.logRepeated(level.Warn, "refused $batch", "msg", "Graph refused a $batch; asking for its operations one by one", "operations", len(kept), "err", err)
		// Each GET is a first try of its operation, retried as any other
		// (once, unless this batch was the retry).
		for _, i := range sent {
			k.later.Add(1)
			go func() {
				defer k.later.Done()
				c.fetch(k, []int{i}, mayRetry)
			}()
		}
		return nil
	}
	if allAnswered200(a.responses) {
		select {
		case c.decoding <- struct{}{}:
			// Nothing in the answer can hold the tenant off or ask for
			// a retry: it is read on its own goroutine, and the worker
			// sends its next request at once, so that MaxConcurrency
			// requests stay in flight while answers are decoded. At
			// most MaxConcurrency answers wait so: when decoding falls
			// behind, the workers decode, and fetch no faster.
			k.later.Add(1)
			go func() {
				defer func() { <-c.decoding; k.later.Done() }()
				c.answerBatch(k, kept, sent, a)
			}()
			return nil
		default:
		}
	}
	return c.answerBatch(k, kept, sent, a)
}

// allAnswered200 says every inner answer is a 200.
func allAnswered200(responses []batchResponse) bool {
	for _, r := range responses {
		if r.Status != http.StatusOK {
			return false
		}
	}
	return true
}

// answerBatch answers each operation of a $batch that Graph answered with
// a 200, from its inner answer, and returns the ones worth another try.
func (c *Client) answerBatch(k *call, kept []batchItem, sent []int, a answer) (failed []failure) {
	refs, each := k.refs, k.each
	// Counted before any operation is answered: a scrape waiting for its
	// operations renders once the last is, and must find them counted
	// (TestBatchCountedBeforeAnswered).
	first := make([]int, len(kept)) // the answer kept for each request, +1
	fetched := 0
	for n, r := range a.responses {
		// Each answer once: it must never reach an operation twice. An
		// answer not ours is ignored rather than trusted.
		if j, ours := sentID(r.ID, len(kept)); ours && first[j] == 0 {
			first[j], fetched = n+1, fetched+1
		}
	}
	c.metrics.Fetched.WithLabelValues(c.tenant).Add(float64(fetched))
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
	for j, n := range first {
		i := sent[j]
		if n == 0 {
			each(i, nil, fmt.Errorf("graph's $batch answer has nothing for this operation (client-request-id %s)", a.crid))
			continue
		}
		r := &a.responses[n-1]
		if r.Oversized {
			// Read past, not kept: this operation fails, the batch does not.
			each(i, nil, fmt.Errorf("graph's answer for this operation inside a $batch is larger than %d bytes (client-request-id %s)", MaxBodyBytes, a.crid))
			continue
		}
		b, valid := innerBody(r.Body)
		if r.Status == http.StatusOK {
			op, err := c.decode(refs[i], "", b, valid)
			each(i, op, err)
			continue
		}
		h := http.Header{}
		for k, v := range r.Headers() {
			h.Set(k, v)
		}
		gerr := c.answerErrorAt(refs[i].URLPath(), r.Status, h, b, a.crid, true)
		tally.add(gerr)
		if w, ok := c.retry.Retryable(gerr); ok {
			failed = append(failed, failure{i, w, gerr})
			continue
		}
		each(i, nil, gerr)
	}
	return failed
}

// sentID is the index in a batch of n of the request whose id is id, as
// batchOnce spells ids: "1" to n in decimal, no sign or leading zero.
func sentID(id string, n int) (int, bool) {
	v, ok := smallInt(id)
	if !ok || id[0] == '0' || v > n {
		return 0, false
	}
	return v - 1, true
}

// innerBody is an inner answer's body as bytes: Graph sends JSON as it is
// and anything else as a JSON string, base64-encoded for binary content.
// valid says the bytes are valid JSON (the batch's reader checked raw).
func innerBody(raw json.RawMessage) (b []byte, valid bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return raw, len(raw) > 0
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return raw, false
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && json.Valid(b) {
		return b, true
	}
	return []byte(s), false
}
